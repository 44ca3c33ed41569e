"""Swin-T: weight loading, device placement and batched prediction.

Only the model worker thread calls `Classifier.predict`; it owns the device.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.models import Swin_T_Weights, swin_t

from .config import MAX_TOP_K, Settings

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


class Classifier:
    def __init__(self, model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
        self.model = model
        self.device = device
        self.dtype = dtype
        self.categories: list[str] = list(IMAGENET_WEIGHTS.meta["categories"])
        transforms = IMAGENET_WEIGHTS.transforms()
        # Scaled by 255 so that uint8 pixels are normalised in one step.
        self._mean = torch.tensor(transforms.mean, device=device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(transforms.std, device=device).view(1, 3, 1, 1) * 255.0

    @torch.inference_mode()
    def predict(self, crops: list[np.ndarray]) -> list[Prediction]:
        """Classify a batch of (224, 224, 3) uint8 crops; one Prediction per crop, in order."""
        scores, indices = self._forward(self.to_model_input(crops))
        return [Prediction(indices=i, scores=s) for i, s in zip(indices, scores, strict=True)]

    def to_model_input(self, crops: list[np.ndarray]) -> torch.Tensor:
        """uint8 NHWC on the host -> normalised NCHW (channels_last) on the device.

        The upload to the device is done in uint8 (4x less to copy than float) and the
        normalisation is one batched operation there.
        """
        batch = torch.from_numpy(np.stack(crops))
        if self.device.type == "cuda":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        # NHWC permuted to NCHW is already channels_last in memory.
        batch = batch.permute(0, 3, 1, 2).float()
        return ((batch - self._mean) / self._std).to(self.dtype)

    def _forward(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        logits = self.model(batch)
        scores, indices = logits.float().softmax(dim=1).topk(MAX_TOP_K, dim=1)
        return scores.cpu().numpy(), indices.cpu().numpy()

    def warm_up(self, batch_size: int) -> None:
        self.predict([np.zeros((224, 224, 3), dtype=np.uint8)] * batch_size)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


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


def load_classifier(settings: Settings) -> Classifier:
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.model_dtype, device)
    model = build_model(settings.model_weights)
    model = model.to(device=device, dtype=dtype, memory_format=torch.channels_last)
    log.info(
        "loaded %s weights=%s on %s as %s",
        MODEL_NAME,
        weights_label(settings.model_weights),
        device,
        dtype,
    )
    return Classifier(model, device, dtype)


def weights_label(source: str) -> str:
    """The `weights` label of model_info: imagenet, random, or the file name of a state_dict."""
    return source if source in ("imagenet", "random") else os.path.basename(source)


def fetch_imagenet_weights() -> str:
    """Download the IMAGENET1K_V1 weights into the torch hub cache (TORCH_HOME); return the path."""
    swin_t().load_state_dict(load_state_dict("imagenet"), strict=True)
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(IMAGENET_WEIGHTS.url))
