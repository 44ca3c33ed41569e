"""Real images, made in the test: a textured picture in any format and mode Pillow writes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def picture(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """An RGB picture with gradients, a shape and noise, different for every seed."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0, 255, 3)
    pixels = np.stack(
        [
            base[0] * xs / width + 60 * np.sin(ys / (7 + seed % 5)),
            base[1] * ys / height + 40 * np.cos(xs / (5 + seed % 7)),
            base[2] * (1 - xs / width) + rng.normal(0, 20, (height, width)),
        ],
        axis=-1,
    )
    cy, cx, r = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width, height / 4
    pixels[(ys - cy) ** 2 + (xs - cx) ** 2 < r**2] = rng.uniform(0, 255, 3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    return encode(picture(width, height, seed), "JPEG", quality=90)
