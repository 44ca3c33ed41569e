"""Server configuration, read from environment variables.

Every setting is documented in the table in model-server/README.md; keep the two in step.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, ValidationError, field_validator
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

    max_batch_size: int = Field(32, ge=1, le=1024)
    max_batch_wait_ms: float = Field(5.0, ge=0, le=1000)
    max_queue_size: int = Field(256, ge=1)
    decode_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    request_timeout_seconds: float = Field(30.0, gt=0)

    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(40_000_000, ge=224 * 224)

    shutdown_delay_seconds: float = Field(5.0, ge=0)
    shutdown_grace_seconds: float = Field(30.0, gt=0)

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


class ConfigError(Exception):
    """A setting has an invalid value; the message names the environment variable."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            variable = str(error["loc"][0]).upper() if error["loc"] else "?"
            lines.append(f"  {variable}={error.get('input')!r}: {error['msg']}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
