"""Turn uploaded bytes into the 224x224 RGB crop the model expects.

Runs in the decode thread pool, never on the event loop. It uses Pillow and NumPy only, so it
starts no torch intra-op threads of its own (those would fight the model for the CPU cores).
The geometry (resize the short side to 232 with bicubic, centre-crop 224) follows torchvision's
transforms for the Swin-T IMAGENET1K_V1 weights; normalisation happens on the model's device,
batched (see model.py). A test compares the result with torchvision's own transforms.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from .errors import (
    CorruptImage,
    EmptyUpload,
    ExtremeAspectRatio,
    ImageTooLarge,
    NotAnImage,
    UnsupportedImageType,
)

RESIZE_SIZE = 232
CROP_SIZE = 224
DECODED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
MAX_ASPECT_RATIO = 32
_ACCEPTED = "JPEG, PNG, WebP, GIF or BMP"
_JPEG_END = b"\xff\xd9"

# Pillow's process-wide bomb limit is replaced by MAX_IMAGE_PIXELS, checked in decode() on the
# header before any pixel is decoded; two limits would only disagree.
Image.MAX_IMAGE_PIXELS = None

# Image types we recognise but do not decode: answered with 415 instead of "not an image".
_OTHER_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"8BPS", "PSD"),
    (0, b"qoif", "QOI"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (4, b"jP  \r\n\x87\n", "JPEG 2000"),
    (0, b"\xff\x0a", "JPEG XL"),
    (4, b"JXL \r\n\x87\n", "JPEG XL"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftyphevc", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
    (4, b"ftypavis", "AVIF"),
)


@dataclass(frozen=True)
class EncodedJpeg:
    """A JPEG upload whose header passed every check, left for the model's device to decode
    (JPEG_DECODE=device; see jpeg_device.py)."""

    data: bytes
    orientation: int  # EXIF orientation: 1 = as stored, 2-8 = flipped and/or rotated


def preprocess(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode an upload and return its centre crop as a (224, 224, 3) uint8 array."""
    return crop_of(load_rgb(open_checked(data, max_pixels)))


def preprocess_upload(
    data: bytes, max_pixels: int, jpeg_on_device: bool
) -> np.ndarray | EncodedJpeg:
    """As preprocess(); but with `jpeg_on_device` a plain JPEG is only checked here and
    returned still encoded, for a batched decode on the device."""
    image = open_checked(data, max_pixels)
    # A JPEG cut short is refused by Pillow, but a device decoder may fill in the rest: only
    # complete ones go there, so bad uploads get the same answer either way.
    if (
        jpeg_on_device
        and image.format == "JPEG"
        and image.mode in ("RGB", "L")
        and data.rstrip(b"\0\r\n ").endswith(_JPEG_END)
    ):
        return EncodedJpeg(data, _orientation(image))
    return crop_of(load_rgb(image))


def crop_of(image: Image.Image) -> np.ndarray:
    try:
        return resize_and_crop(image)
    except Exception as exc:  # e.g. a degenerate size Pillow refuses to resample
        raise CorruptImage(f"the image cannot be resized: {exc}") from None


def decode(data: bytes, max_pixels: int) -> Image.Image:
    """Decode to an RGB image with EXIF orientation applied; raise an ApiError on bad input."""
    return load_rgb(open_checked(data, max_pixels))


def open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Read the header and refuse what must not be decoded; raise an ApiError on bad input.
    No pixel is decoded yet."""
    if not data:
        raise EmptyUpload("the uploaded file is empty")
    try:
        image = Image.open(io.BytesIO(data), formats=DECODED_FORMATS)
    except UnidentifiedImageError:
        other = _recognise_other_type(data)
        if other:
            raise UnsupportedImageType(
                f"{other} images are not supported; send {_ACCEPTED}"
            ) from None
        raise NotAnImage(f"the upload is not a readable image; send {_ACCEPTED}") from None
    except Exception as exc:  # Pillow raises many types for a broken header
        raise CorruptImage(f"the image header is corrupt: {exc}") from None

    # The decompression-bomb guard: the header's size, before any pixel is decoded.
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
        )
    if width < 1 or height < 1:
        raise CorruptImage(f"the image has no pixels ({width}x{height})")
    # The resize scales the short side up to 232: a 1x10000 image would become 232x2320000
    # (1.6 GB) before the crop. No photo worth classifying is that thin.
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ExtremeAspectRatio(
            f"the image is {width}x{height}; sides may differ by {MAX_ASPECT_RATIO}x at most"
        )
    return image


def load_rgb(image: Image.Image) -> Image.Image:
    """Decode the pixels of an image from open_checked(), EXIF orientation applied, as RGB."""
    try:
        image.load()  # the first frame, for GIF and animated WebP
        return _to_rgb(_upright(image))
    except Exception as exc:  # truncated data, bad chunks...
        raise CorruptImage(f"the image data is truncated or corrupt: {exc}") from None


def _upright(image: Image.Image) -> Image.Image:
    """The image with its EXIF orientation applied. A broken EXIF block leaves it as stored:
    the pixels are fine, and the device decode (_orientation) answers the same."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def resize_and_crop(image: Image.Image) -> np.ndarray:
    """Resize the short side to 232 (bicubic, antialiased) and take the centre 224x224."""
    width, height = image.size
    new_width, new_height = resized_size(width, height, RESIZE_SIZE)
    resized = image.resize((new_width, new_height), Image.Resampling.BICUBIC)
    left = round((new_width - CROP_SIZE) / 2.0)
    top = round((new_height - CROP_SIZE) / 2.0)
    crop = resized.crop((left, top, left + CROP_SIZE, top + CROP_SIZE))
    return np.asarray(crop, dtype=np.uint8)


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Output size when the short side becomes `short_side`; the long side is truncated,
    as torchvision does."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB" and not image.has_transparency_data:
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        # 16-bit and float greyscale: scale to 8 bits rather than clip.
        pixels = np.asarray(image, dtype=np.float32)
        if image.mode != "F":
            pixels = pixels / 257.0
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))  # mode L
    if image.has_transparency_data:
        # Transparent areas become white, not whatever colour the encoder left under them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return background.convert("RGB")
    return image.convert("RGB")  # L, P, CMYK, YCbCr, LAB...


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation ImageOps.exif_transpose would apply (1 when none or invalid)."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # a broken EXIF block: Pillow's exif_transpose would not rotate either
        return 1
    return value if value in range(1, 9) else 1


def _recognise_other_type(data: bytes) -> str | None:
    for offset, signature, name in _OTHER_SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return name
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG"
    return None
