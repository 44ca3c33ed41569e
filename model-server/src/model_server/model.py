"""Swin-T: weight loading, device placement and batched prediction.

Only the model worker thread calls `Classifier.run`; it owns the device. `Classifier.prepare`
runs on the batch feeder thread (PIPELINE) or on the model thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.models import Swin_T_Weights, swin_t

from .config import Settings, Tuning
from .jpeg_device import decode_jpegs
from .preprocess import CROP_SIZE, EncodedJpeg
from .runners import EagerRunner, make_runner

log = logging.getLogger(__name__)

IMAGENET_WEIGHTS = Swin_T_Weights.IMAGENET1K_V1
MODEL_NAME = "swin_t"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class WeightsError(Exception):
    """The weights named by MODEL_WEIGHTS cannot be loaded; the message says what to do."""


@dataclass(frozen=True)
class Prediction:
    """The MAX_TOP_K best classes of one image, best first."""

    indices: np.ndarray  # int64, shape (MAX_TOP_K,)
    scores: np.ndarray  # float32 softmax probabilities, shape (MAX_TOP_K,)


@dataclass
class ModelInput:
    """One batch, ready for the model: normalised on the device, padded to a bucket."""

    batch: torch.Tensor  # (padded size, 3, 224, 224), channels_last, the model's dtype
    rows: list[int]  # rows[r] = the index of the payload in row r
    errors: dict[int, Exception]  # payloads that cannot run, by index
    count: int  # payloads in the batch
    ready: torch.cuda.Event | None = None  # set once the batch is on the device (CUDA)


Payload = np.ndarray | EncodedJpeg


class Classifier:
    """Runs batches in two steps: `prepare` (on the feeder thread with PIPELINE, else on the
    model thread) builds the input on the device; `run` (model thread) classifies it."""

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device,
        dtype: torch.dtype,
        *,
        runner: EagerRunner | None = None,
        max_batch_size: int = 1,
        max_image_pixels: int = 40_000_000,
    ) -> None:
        self.model = model
        self.device = device
        self.dtype = dtype
        self.runner = runner or EagerRunner(model)
        self.max_image_pixels = max_image_pixels
        self.categories: list[str] = list(IMAGENET_WEIGHTS.meta["categories"])
        transforms = IMAGENET_WEIGHTS.transforms()
        # Scaled by 255 so that uint8 pixels are normalised in one step.
        self._mean = torch.tensor(transforms.mean, device=device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(transforms.std, device=device).view(1, 3, 1, 1) * 255.0
        self._cuda = device.type == "cuda"
        if self._cuda:
            # Batches are assembled on their own stream, so that with PIPELINE the copy and
            # decode of the next batch overlap the model's work on the current one; the host
            # side goes through two pinned buffers in turn (one filling, one being copied).
            self._stream = torch.cuda.Stream(device)
            size = max(max_batch_size, 1)
            self._staging = [
                torch.empty((size, CROP_SIZE, CROP_SIZE, 3), dtype=torch.uint8).pin_memory()
                for _ in range(2)
            ]
            self._staging_free: list[torch.cuda.Event | None] = [None, None]
            self._next_staging = 0

    def predict(self, payloads: list[Payload]) -> list[Prediction | Exception]:
        """Classify a batch of (224, 224, 3) uint8 crops or device-decodable JPEGs; one
        Prediction (or the error for that image) per payload, in order."""
        return self.run(self.prepare(payloads))

    def prepare(self, payloads: list[Payload]) -> ModelInput:
        count = len(payloads)
        crop_rows = [i for i, p in enumerate(payloads) if isinstance(p, np.ndarray)]
        jpeg_rows = [i for i, p in enumerate(payloads) if isinstance(p, EncodedJpeg)]
        stream = torch.cuda.stream(self._stream) if self._cuda else contextlib.nullcontext()
        with stream, torch.inference_mode():
            padded = self.runner.padded_size(count)
            # NHWC, so that the NCHW view the model gets is channels_last in memory.
            pixels = torch.empty(
                (padded, CROP_SIZE, CROP_SIZE, 3), dtype=torch.uint8, device=self.device
            )
            crops = [payloads[i] for i in crop_rows]
            if crops:
                self._upload(crops, pixels[: len(crops)])
            rows = list(crop_rows)
            errors: dict[int, Exception] = {}
            if jpeg_rows:
                jpegs = [payloads[i] for i in jpeg_rows]
                decoded = decode_jpegs(jpegs, self.device, self.max_image_pixels)  # type: ignore[arg-type]
                for index, crop in zip(jpeg_rows, decoded, strict=True):
                    if isinstance(crop, torch.Tensor):
                        pixels[len(rows)] = crop
                        rows.append(index)
                    else:
                        errors[index] = crop
            batch = self._normalise(pixels)
            ready = None
            if self._cuda:
                ready = torch.cuda.Event()
                ready.record(self._stream)
        return ModelInput(batch, rows, errors, count, ready)

    def _upload(self, crops: list[np.ndarray], into: torch.Tensor) -> None:
        """Host crops -> `into` on the device: stacked straight into a pinned buffer, then one
        asynchronous copy (on a CPU device, stacked straight into `into`)."""
        if not self._cuda:
            np.stack(crops, out=into.numpy())
            return
        slot = self._next_staging
        self._next_staging = 1 - slot
        previous_copy = self._staging_free[slot]
        if previous_copy is not None:
            previous_copy.synchronize()  # the copy that last read this buffer is done
        if len(crops) > len(self._staging[slot]):  # a caller past max_batch_size (benchmarks)
            self._staging[slot] = torch.empty(
                (len(crops), CROP_SIZE, CROP_SIZE, 3), dtype=torch.uint8
            ).pin_memory()
        host = self._staging[slot][: len(crops)]
        np.stack(crops, out=host.numpy())
        into.copy_(host, non_blocking=True)
        done = torch.cuda.Event()
        done.record(self._stream)
        self._staging_free[slot] = done

    def _normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        batch = pixels.permute(0, 3, 1, 2).float()  # NHWC memory: a channels_last NCHW view
        return ((batch - self._mean) / self._std).to(self.dtype)

    def to_model_input(self, crops: list[np.ndarray]) -> torch.Tensor:
        """uint8 NHWC crops -> the normalised NCHW (channels_last) batch on the device."""
        prepared = self.prepare(crops)
        if prepared.ready is not None:
            prepared.ready.synchronize()
        return prepared.batch[: len(crops)]

    @torch.inference_mode()
    def run(self, prepared: ModelInput) -> list[Prediction | Exception]:
        if self._cuda:
            stream = torch.cuda.current_stream(self.device)
            if prepared.ready is not None:
                stream.wait_event(prepared.ready)
            # Made on the feeder's stream, used on this one: keep the allocator from handing
            # its memory out again before this stream is done with it.
            prepared.batch.record_stream(stream)
        results: list[Prediction | Exception | None] = [None] * prepared.count
        if prepared.rows:
            scores, indices = self.runner(prepared.batch)
            scores_host, indices_host = scores.cpu().numpy(), indices.cpu().numpy()
            for row, index in enumerate(prepared.rows):
                results[index] = Prediction(indices=indices_host[row], scores=scores_host[row])
        for index, error in prepared.errors.items():
            results[index] = error
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def warm_up(self, sizes: list[int]) -> dict[int, float]:
        """Build (compile, capture) the runner's buckets, then run each of `sizes` once more
        and return how long each took: the first measurements of the batch time."""

        def sample(size: int) -> torch.Tensor:
            return self.to_model_input([np.zeros((CROP_SIZE, CROP_SIZE, 3), np.uint8)] * size)

        self.runner.build(sample)
        timings = {}
        for size in sizes:
            crops = [np.zeros((CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)] * size
            self.predict(crops)  # the first run of a shape sets up kernels and memory
            started = time.perf_counter()
            self.predict(crops)
            timings[size] = time.perf_counter() - started
        return timings


def cuda_selected(setting: str) -> bool:
    """Whether DEVICE selects CUDA here (without failing: load_classifier says what is wrong
    when DEVICE=cuda finds none)."""
    return setting != "cpu" and torch.cuda.is_available()


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise WeightsError("DEVICE=cuda, but torch sees no CUDA device; use DEVICE=auto or cpu")
    return torch.device(setting)


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    if setting == "auto":
        # fp16 runs on every CUDA GPU we target (T4 has no bf16); CPUs are fastest in fp32.
        return torch.float16 if device.type == "cuda" else torch.float32
    return _DTYPES[setting]


def load_state_dict(source: str) -> dict[str, torch.Tensor]:
    """Weights for MODEL_WEIGHTS=imagenet or a path; never falls back to random."""
    if source == "imagenet":
        try:
            return IMAGENET_WEIGHTS.get_state_dict(progress=False, check_hash=True)
        except Exception as exc:
            cache = os.path.join(torch.hub.get_dir(), "checkpoints")
            raise WeightsError(
                f"MODEL_WEIGHTS=imagenet: torchvision's {IMAGENET_WEIGHTS} weights are not in "
                f"{cache} and could not be downloaded ({exc}). Run "
                "'python -m model_server fetch-weights' where the internet is reachable (the "
                "Docker image does this at build time), set MODEL_WEIGHTS to the path of a "
                "state_dict file, or set MODEL_WEIGHTS=random for tests and offline smoke runs."
            ) from exc
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"MODEL_WEIGHTS={source}: cannot read a state_dict: {exc}") from exc
    if not isinstance(state, dict):
        raise WeightsError(
            f"MODEL_WEIGHTS={source}: the file holds {type(state).__name__}, not a state_dict"
        )
    return state


def build_model(weights: str) -> torch.nn.Module:
    if weights == "random":
        log.warning("MODEL_WEIGHTS=random: serving random weights; predictions are meaningless")
        torch.manual_seed(0)  # the same random model in every process, for reproducible tests
        return swin_t(weights=None).eval()
    model = swin_t(weights=None)
    try:
        model.load_state_dict(load_state_dict(weights), strict=True)
    except RuntimeError as exc:  # missing/unexpected keys or shape mismatch
        raise WeightsError(f"MODEL_WEIGHTS={weights}: not Swin-T weights: {exc}") from exc
    return model.eval()


def load_classifier(settings: Settings, tuning: Tuning) -> Classifier:
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.model_dtype, device)
    model = build_model(settings.model_weights)
    model = model.to(device=device, dtype=dtype, memory_format=torch.channels_last)
    runner = make_runner(
        model,
        tuning.compile,
        tuning.batch_buckets,
        settings.compile_budget_seconds,
        cuda=device.type == "cuda",
    )
    log.info(
        "loaded %s weights=%s on %s as %s; MODEL_COMPILE=%s",
        MODEL_NAME,
        weights_label(settings.model_weights),
        device,
        dtype,
        tuning.compile,
    )
    return Classifier(
        model,
        device,
        dtype,
        runner=runner,
        max_batch_size=tuning.max_batch_size,
        max_image_pixels=settings.max_image_pixels,
    )


def weights_label(source: str) -> str:
    """The `weights` label of model_info: imagenet, random, or the file name of a state_dict."""
    return source if source in ("imagenet", "random") else os.path.basename(source)


def fetch_imagenet_weights() -> str:
    """Download the IMAGENET1K_V1 weights into the torch hub cache (TORCH_HOME); return the path."""
    swin_t().load_state_dict(load_state_dict("imagenet"), strict=True)
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(IMAGENET_WEIGHTS.url))
