"""How the model runs one batch: eagerly, compiled with torch.compile, or replayed from CUDA
graphs, the last two for a fixed set of batch sizes (buckets).

A compiled program or a CUDA graph is built for one input shape. So the batch sizes are
bucketed (MAX_BATCH_SIZE and the powers of two below it, or BATCH_BUCKETS), a batch is padded
up to the smallest bucket that holds it, and every bucket is built and run once before
readiness turns 200: no request pays for a compilation. The largest bucket is built first
(it decides the throughput under load), then batch 1 (the latency when idle), then the rest
from large to small, until COMPILE_BUDGET_SECONDS are spent (a build under way finishes; the
first is always built). Sizes without a bucket run eagerly, unpadded.

Every runner returns the top-k scores and indices on the device; the softmax and top-k are
part of the compiled program or graph.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch

from .config import MAX_TOP_K

log = logging.getLogger(__name__)

Head = tuple[torch.Tensor, torch.Tensor]  # scores (float32), indices (int64); MAX_TOP_K each


def classify(model: torch.nn.Module, batch: torch.Tensor) -> Head:
    logits = model(batch)
    return logits.float().softmax(dim=1).topk(MAX_TOP_K, dim=1)


def build_order(buckets: tuple[int, ...]) -> list[int]:
    """Largest first, then 1, then the others from large to small."""
    rest = sorted(buckets, reverse=True)
    order = rest[:1] + [size for size in (1,) if size in rest[1:]]
    return order + [size for size in rest if size not in order]


class EagerRunner:
    """The model as it is: any batch size, no build step."""

    name = "off"

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.buckets: tuple[int, ...] = ()

    def padded_size(self, batch_size: int) -> int:
        """The batch size the model runs for `batch_size` images: the smallest built bucket
        that holds them, or the batch size itself when none does."""
        for bucket in self.buckets:
            if bucket >= batch_size:
                return bucket
        return batch_size

    def build(self, sample: Callable[[int], torch.Tensor]) -> None:
        """Build (compile, capture) and run every bucket once; nothing to do when eager."""

    def __call__(self, batch: torch.Tensor) -> Head:
        return classify(self.model, batch)


class _BucketRunner(EagerRunner):
    """Builds one program per bucket, within a time budget; eager for the other sizes."""

    def __init__(self, model: torch.nn.Module, buckets: tuple[int, ...], budget_s: float) -> None:
        super().__init__(model)
        self.wanted = buckets
        self.budget_s = budget_s

    def build(self, sample: Callable[[int], torch.Tensor]) -> None:
        started = time.monotonic()
        built: list[int] = []
        for size in build_order(self.wanted):
            spent = time.monotonic() - started
            if built and spent > self.budget_s:
                log.warning(
                    "COMPILE_BUDGET_SECONDS=%g spent after %.0fs: batch sizes %s stay eager",
                    self.budget_s,
                    spent,
                    sorted(set(self.wanted) - set(built)),
                )
                break
            bucket_started = time.monotonic()
            try:
                self._build_one(size, sample(size))
            except Exception:
                # A compiler or capture failure costs speed, never the service.
                log.exception(
                    "MODEL_COMPILE=%s failed for batch %d; it runs eagerly", self.name, size
                )
                continue
            built.append(size)
            log.info(
                "MODEL_COMPILE=%s: batch %d built in %.1fs",
                self.name,
                size,
                time.monotonic() - bucket_started,
            )
        self.buckets = tuple(sorted(built))

    def _build_one(self, size: int, batch: torch.Tensor) -> None:
        raise NotImplementedError

    def __call__(self, batch: torch.Tensor) -> Head:
        if batch.shape[0] in self.buckets:
            return self._run_bucket(batch)
        return classify(self.model, batch)

    def _run_bucket(self, batch: torch.Tensor) -> Head:
        raise NotImplementedError


class CompiledRunner(_BucketRunner):
    """torch.compile (Inductor) with static shapes, one specialisation per bucket. On CUDA
    in mode 'reduce-overhead', which also replays each bucket from a CUDA graph."""

    name = "compile"

    def __init__(
        self,
        model: torch.nn.Module,
        buckets: tuple[int, ...],
        budget_s: float,
        *,
        cuda: bool,
        backend: str = "inductor",
    ) -> None:
        super().__init__(model, buckets, budget_s)
        self.cuda = cuda
        # One specialisation per bucket, and a margin: past the limit torch.compile would
        # silently fall back to eager for new shapes.
        torch._dynamo.config.recompile_limit = max(
            torch._dynamo.config.recompile_limit, len(buckets) + 2
        )
        mode = "reduce-overhead" if cuda else None
        self._compiled = torch.compile(
            lambda batch: classify(model, batch), backend=backend, mode=mode, dynamic=False
        )

    def _build_one(self, size: int, batch: torch.Tensor) -> None:
        # CUDA graphs are recorded on a later call than the first; three calls settle it.
        for _ in range(3):
            self._run_bucket(batch)
        if self.cuda:
            torch.cuda.synchronize()

    def _run_bucket(self, batch: torch.Tensor) -> Head:
        if self.cuda:
            # Each batch is a new step: the previous batch's outputs were already copied off.
            torch.compiler.cudagraph_mark_step_begin()
        return self._compiled(batch)


class CudaGraphRunner(_BucketRunner):
    """The eager kernels, captured once per bucket into a CUDA graph and replayed: one launch
    instead of hundreds, which is what a small batch is bound by. Builds in seconds."""

    name = "cudagraphs"

    def __init__(self, model: torch.nn.Module, buckets: tuple[int, ...], budget_s: float) -> None:
        super().__init__(model, buckets, budget_s)
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, Head]] = {}
        # Built largest first into one memory pool, which the smaller graphs reuse; safe
        # because only the model thread replays them, one at a time.
        self._pool = torch.cuda.graph_pool_handle()

    def _build_one(self, size: int, batch: torch.Tensor) -> None:
        static_input = batch.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # cuBLAS/cuDNN choose their kernels outside the capture
            for _ in range(3):
                classify(self.model, static_input)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            static_output = classify(self.model, static_input)
        graph.replay()
        torch.cuda.synchronize()
        self._graphs[size] = (graph, static_input, static_output)

    def _run_bucket(self, batch: torch.Tensor) -> Head:
        graph, static_input, static_output = self._graphs[batch.shape[0]]
        static_input.copy_(batch)
        graph.replay()
        return static_output  # overwritten by the next replay: the caller copies it off now


def make_runner(
    model: torch.nn.Module,
    compile_mode: str,
    buckets: tuple[int, ...],
    budget_s: float,
    cuda: bool,
) -> EagerRunner:
    if compile_mode == "compile":
        return CompiledRunner(model, buckets, budget_s, cuda=cuda)
    if compile_mode == "cudagraphs":
        return CudaGraphRunner(model, buckets, budget_s)
    return EagerRunner(model)
