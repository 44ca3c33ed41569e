"""Server configuration, read from environment variables.

Every setting is documented in the table in model-server/README.md; keep the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_TOP_K = 20


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    host: str = "0.0.0.0"
    port: int = Field(8080, ge=1, le=65535)
    # 0: /metrics on PORT. Otherwise /metrics only on this port, so that a NetworkPolicy can
    # open the API to clients and the metrics to Prometheus alone.
    metrics_port: int = Field(0, ge=0, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = False

    # 'imagenet' (torchvision IMAGENET1K_V1), a path to a state_dict file, or 'random'.
    model_weights: str = "imagenet"
    device: Literal["auto", "cuda", "cpu"] = "auto"
    model_dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"

    # 'auto': DEFAULT_BATCH_SIZE for the device (see resolve()).
    max_batch_size: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] = "auto"
    max_batch_wait_ms: float = Field(5.0, ge=0, le=1000)
    max_queue_size: int = Field(256, ge=1)
    # 'auto': QUEUE_DELAY_SHARE of the request deadline.
    max_queue_delay_ms: Annotated[float, Field(gt=0)] | Literal["auto"] = "auto"
    decode_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    request_timeout_seconds: float = Field(30.0, gt=0)

    # The GPU path; each 'auto' is on where it helps (CUDA) and off on a CPU.
    model_compile: Literal["auto", "off", "compile", "cudagraphs"] = "auto"
    compile_budget_seconds: float = Field(180.0, ge=0)
    batch_buckets: str = "auto"
    pipeline: Literal["auto", "on", "off"] = "auto"
    jpeg_decode: Literal["auto", "cpu", "device"] = "auto"

    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(40_000_000, ge=224 * 224)

    shutdown_delay_seconds: float = Field(5.0, ge=0)
    shutdown_grace_seconds: float = Field(30.0, gt=0)

    @field_validator("batch_buckets")
    @classmethod
    def _buckets_are_batch_sizes(cls, value: str) -> str:
        if value == "auto":
            return value
        try:
            sizes = [int(part) for part in value.split(",")]
        except ValueError:
            sizes = []
        if not sizes or min(sizes) < 1:
            raise ValueError(f"{value!r} is neither 'auto' nor a comma list of batch sizes")
        return value

    @model_validator(mode="after")
    def _cudagraphs_need_cuda_device(self) -> Settings:
        if self.model_compile == "cudagraphs" and self.device == "cpu":
            raise ValueError("MODEL_COMPILE=cudagraphs needs a CUDA device, not DEVICE=cpu")
        return self

    @field_validator("model_weights")
    @classmethod
    def _weights_source_exists(cls, value: str) -> str:
        if value in ("imagenet", "random"):
            return value
        if not os.path.isfile(value):
            raise ValueError(
                f"{value!r} is neither 'imagenet', 'random' nor an existing state_dict file"
            )
        return value


# A CPU needs seconds for a big batch, and every request queued behind it waits that long;
# a GPU runs 64 images in a few milliseconds and needs big batches to be busy.
DEFAULT_BATCH_SIZE = {"cpu": 8, "cuda": 64}
# MAX_QUEUE_DELAY_MS=auto: this share of REQUEST_TIMEOUT_SECONDS (500 ms of 30 s). A request
# admitted at the limit has spent under 2 % of its deadline waiting, so an estimate that is
# far off still answers in time; and since a request that joins the next batch is always
# admitted, the queue still holds a batch beyond the running one, which is all the model
# needs to stay busy: a longer queue adds waiting, not throughput.
QUEUE_DELAY_SHARE = 1 / 60


@dataclass(frozen=True)
class Tuning:
    """The settings whose value depends on the device, resolved."""

    device: Literal["cpu", "cuda"]
    max_batch_size: int
    max_queue_delay_s: float
    compile: Literal["off", "compile", "cudagraphs"]
    batch_buckets: tuple[int, ...]  # sizes compiled and warmed up; () = none (eager)
    pipeline: bool
    jpeg_on_device: bool


def resolve(settings: Settings, cuda: bool) -> Tuning:
    """Fill in every 'auto' for a CUDA device (`cuda`) or a CPU."""
    device: Literal["cpu", "cuda"] = "cuda" if cuda else "cpu"
    batch = settings.max_batch_size
    max_batch_size = DEFAULT_BATCH_SIZE[device] if batch == "auto" else batch
    delay_ms = settings.max_queue_delay_ms
    if delay_ms == "auto":
        max_queue_delay_s = settings.request_timeout_seconds * QUEUE_DELAY_SHARE
    else:
        max_queue_delay_s = delay_ms / 1000.0
    compile_mode = settings.model_compile
    if compile_mode == "auto":
        compile_mode = "compile" if cuda else "off"
    buckets: tuple[int, ...] = ()
    if compile_mode != "off":
        buckets = batch_buckets(settings.batch_buckets, max_batch_size)
    return Tuning(
        device=device,
        max_batch_size=max_batch_size,
        max_queue_delay_s=max_queue_delay_s,
        compile=compile_mode,
        batch_buckets=buckets,
        pipeline=settings.pipeline == "on" or (settings.pipeline == "auto" and cuda),
        jpeg_on_device=settings.jpeg_decode == "device"
        or (settings.jpeg_decode == "auto" and cuda),
    )


def batch_buckets(setting: str, max_batch_size: int) -> tuple[int, ...]:
    """The batch sizes a compiled model is built for: 'auto' = the powers of two below
    max_batch_size, and max_batch_size itself. A batch runs padded to the next bucket."""
    if setting == "auto":
        sizes = {1 << power for power in range(max_batch_size.bit_length())}
    else:
        sizes = {int(part) for part in setting.split(",")}
    return tuple(sorted({size for size in sizes if size < max_batch_size} | {max_batch_size}))


class ConfigError(Exception):
    """A setting has an invalid value; the message names the environment variable."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems: dict[str, list[str]] = {}
        for error in exc.errors():
            if error["loc"]:
                variable = str(error["loc"][0]).upper()
                where = f"{variable}={error.get('input')!r}"
            else:  # a rule across settings; its message names them
                where = "settings"
            problems.setdefault(where, []).append(error["msg"].removeprefix("Value error, "))
        lines = [f"  {where}: {' or '.join(messages)}" for where, messages in problems.items()]
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
