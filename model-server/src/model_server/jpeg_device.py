"""JPEG decoding on the model's device, batched (JPEG_DECODE=device; the default on CUDA).

Pillow decodes about 325 photos per second per CPU core; nvJPEG on a GPU, batched, about
10,000. So on CUDA the decode threads only check the header (preprocess_upload) and the
batch is decoded here, with torchvision's decode_jpeg, on the feeder thread. The geometry is
the same as preprocess.py's (EXIF orientation, bicubic antialiased resize of the short side
to 232, centre crop 224); a test holds the two within a small tolerance. On a CPU device the
same code runs with torchvision's CPU decoder, which is how the tests exercise it without a
GPU.

An image the device decoder rejects (nvJPEG refuses some encodings, such as arithmetic
coding or 12-bit samples) is decoded by Pillow instead, and one that Pillow rejects too gets
the error Pillow's path would give.
"""

from __future__ import annotations

import torch
from torchvision.io import ImageReadMode, decode_jpeg
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from .errors import ApiError
from .preprocess import CROP_SIZE, RESIZE_SIZE, EncodedJpeg, preprocess


def decode_jpegs(
    jpegs: list[EncodedJpeg], device: torch.device, max_pixels: int
) -> list[torch.Tensor | ApiError]:
    """Each JPEG as its (224, 224, 3) uint8 crop on `device`, or the ApiError it earns."""
    decoded = _decode_all(
        [torch.frombuffer(bytearray(j.data), dtype=torch.uint8) for j in jpegs], device
    )
    crops: list[torch.Tensor | ApiError | None] = [None] * len(jpegs)
    # Photos from one source often share a size: those are resized as one batch.
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, (jpeg, image) in enumerate(zip(jpegs, decoded, strict=True)):
        if image is None:
            crops[index] = _with_pillow(jpeg, device, max_pixels)
            continue
        image = orient(image, jpeg.orientation)
        decoded[index] = image
        groups.setdefault(tuple(image.shape), []).append(index)
    for indices in groups.values():
        batch = torch.stack([decoded[i] for i in indices])  # type: ignore[misc]
        for index, crop in zip(indices, resize_and_crop(batch), strict=True):
            crops[index] = crop.permute(1, 2, 0)
    return crops  # type: ignore[return-value]


def _decode_all(encoded: list[torch.Tensor], device: torch.device) -> list[torch.Tensor | None]:
    """Decode as one batch; if the batch fails, one by one, with None for each failure."""
    try:
        return list(decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:
        pass
    images: list[torch.Tensor | None] = []
    for data in encoded:
        try:
            images.append(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
        except RuntimeError:
            images.append(None)
    return images


def _with_pillow(
    jpeg: EncodedJpeg, device: torch.device, max_pixels: int
) -> torch.Tensor | ApiError:
    try:
        crop = preprocess(jpeg.data, max_pixels)
    except ApiError as exc:
        return exc
    return torch.tensor(crop, device=device)  # Pillow's array is read-only: copied


def orient(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """Apply an EXIF orientation to a (C, H, W) image, as PIL's ImageOps.exif_transpose."""
    rows, cols = -2, -1
    if orientation == 2:
        return image.flip(cols)  # mirrored left-right
    if orientation == 3:
        return image.flip(rows, cols)  # rotated 180
    if orientation == 4:
        return image.flip(rows)  # mirrored top-bottom
    if orientation == 5:
        return image.transpose(rows, cols)  # mirrored along the main diagonal
    if orientation == 6:
        return torch.rot90(image, k=-1, dims=(rows, cols))  # stored rotated 90 counter-clockwise
    if orientation == 7:
        return image.transpose(rows, cols).flip(rows, cols)  # mirrored along the other diagonal
    if orientation == 8:
        return torch.rot90(image, k=1, dims=(rows, cols))  # stored rotated 90 clockwise
    return image


def resize_and_crop(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, 3, 224, 224) uint8: short side to 232 (bicubic,
    antialiased, as Pillow), then the centre 224x224."""
    resized = F.resize(
        images, [RESIZE_SIZE], interpolation=InterpolationMode.BICUBIC, antialias=True
    )
    return F.center_crop(resized, [CROP_SIZE, CROP_SIZE])
