"""Decoding and preprocessing, compared with torchvision's own transforms for the weights."""

from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest
import torch
from images import encode, jpeg, picture
from PIL import Image

from model_server.errors import (
    ApiError,
    CorruptImage,
    EmptyUpload,
    ExtremeAspectRatio,
    ImageTooLarge,
    NotAnImage,
    UnsupportedImageType,
)
from model_server.model import IMAGENET_WEIGHTS, Classifier
from model_server.preprocess import (
    DECODED_FORMATS,
    MAX_ASPECT_RATIO,
    crop_of,
    decode,
    load_rgb,
    preprocess,
)

LIMIT = 50_000_000


@pytest.fixture(scope="module")
def normaliser() -> Classifier:
    """The server's own host->device step, around a model that is not used here."""
    return Classifier(torch.nn.Identity(), torch.device("cpu"), torch.float32)


@pytest.mark.parametrize(
    "size", [(640, 480), (480, 640), (233, 1000), (100, 80), (1001, 999), (232, 232), (224, 300)]
)
def test_model_input_matches_torchvision_transforms_for_the_weights(size, normaliser):
    image = picture(*size, seed=size[0])
    ours = normaliser.to_model_input([preprocess(encode(image, "PNG"), LIMIT)])
    reference = IMAGENET_WEIGHTS.transforms()(image).unsqueeze(0)
    assert ours.shape == reference.shape == (1, 3, 224, 224)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)


def test_a_batch_is_normalised_item_by_item(normaliser):
    crops = [preprocess(jpeg(seed=s), LIMIT) for s in range(3)]
    batch = normaliser.to_model_input(crops)
    for i, crop in enumerate(crops):
        torch.testing.assert_close(batch[i : i + 1], normaliser.to_model_input([crop]))


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("JPEG", {"quality": 95}),
        ("PNG", {}),
        ("WEBP", {"lossless": True}),
        ("BMP", {}),
        ("GIF", {}),
    ],
)
def test_every_accepted_format_decodes_to_rgb(fmt, options):
    image = decode(encode(picture(300, 200), fmt, **options), LIMIT)
    assert image.mode == "RGB"
    assert image.size == (300, 200)


def test_gif_uses_the_first_frame():
    red, blue = Image.new("RGB", (64, 64), (255, 0, 0)), Image.new("RGB", (64, 64), (0, 0, 255))
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    assert decode(data, LIMIT).getpixel((32, 32)) == (255, 0, 0)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "I;16", "1", "LA"])
def test_other_colour_modes_become_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    source = picture(120, 90).convert("L" if mode == "I;16" else mode)
    if mode == "I;16":
        source = Image.fromarray(np.asarray(source, dtype=np.uint16) * 257)
    image = decode(encode(source, fmt), LIMIT)
    assert image.mode == "RGB"
    assert image.size == (120, 90)


def test_16_bit_greyscale_is_scaled_not_clipped():
    source = Image.fromarray(np.full((32, 32), 32896, dtype=np.uint16))  # 128 * 257
    assert decode(encode(source, "PNG"), LIMIT).getpixel((0, 0)) == (128, 128, 128)


def test_32_bit_greyscale_is_scaled_like_16_bit():
    levels = np.array([[0, 257 * 100, 65535, 65535 * 2, -5]], dtype=np.int32)
    image = load_rgb(Image.fromarray(levels))  # mode I
    assert image.mode == "RGB"
    assert np.asarray(image)[0].tolist() == [[v] * 3 for v in (0, 100, 255, 255, 0)]


def test_float_greyscale_is_clipped_to_8_bits_not_scaled():
    levels = np.array([[-10.0, 0.0, 200.0, 255.0, 300.0]], dtype=np.float32)
    image = load_rgb(Image.fromarray(levels))  # mode F
    assert image.mode == "RGB"
    assert np.asarray(image)[0].tolist() == [[v] * 3 for v in (0, 0, 200, 255, 255)]


def test_transparent_pixels_become_white():
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    rgba.paste((10, 200, 10, 255), (0, 0, 20, 40))
    image = decode(encode(rgba, "PNG"), LIMIT)
    assert image.getpixel((30, 20)) == (255, 255, 255)
    assert image.getpixel((5, 20)) == (10, 200, 10)


def test_a_transparent_colour_key_in_an_rgb_png_becomes_white():
    # An RGB PNG marks one colour transparent (tRNS) instead of carrying an alpha channel.
    rgb = Image.new("RGB", (40, 40), (10, 200, 10))
    rgb.paste((1, 2, 3), (20, 0, 40, 40))
    image = decode(encode(rgb, "PNG", transparency=(1, 2, 3)), LIMIT)
    assert image.getpixel((30, 20)) == (255, 255, 255)
    assert image.getpixel((5, 20)) == (10, 200, 10)


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    data = encode(picture(200, 100), "JPEG", exif=exif)
    assert decode(data, LIMIT).size == (100, 200)


def test_an_empty_upload_is_rejected():
    with pytest.raises(EmptyUpload):
        decode(b"", LIMIT)


@pytest.mark.parametrize("data", [b"hello world", b"%PDF-1.7\n...", bytes(range(256)) * 4])
def test_bytes_that_are_no_image_are_rejected_as_not_an_image(data):
    with pytest.raises(NotAnImage):
        decode(data, LIMIT)


@pytest.mark.parametrize(
    ("fmt", "name"), [("TIFF", "TIFF"), ("PSD", "PSD"), ("SVG", "SVG"), ("HEIC", "HEIC")]
)
def test_known_image_types_we_do_not_decode_get_415(fmt, name):
    data = {
        "TIFF": lambda: encode(picture(32, 32), "TIFF"),
        "PSD": lambda: b"8BPS\x00\x01" + bytes(40),
        "SVG": lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        "HEIC": lambda: b"\x00\x00\x00\x18ftypheic" + bytes(40),
    }[fmt]()
    with pytest.raises(UnsupportedImageType, match=name) as rejected:
        decode(data, LIMIT)
    assert rejected.value.status_code == 415


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>',
        b'\n\n  <svg xmlns="http://www.w3.org/2000/svg"/>',
        b'<SVG XMLNS="http://www.w3.org/2000/svg"/>',
    ],
    ids=["bare", "after-blank-lines", "upper-case"],
)
def test_svg_without_an_xml_declaration_gets_415(data):
    with pytest.raises(UnsupportedImageType, match="SVG"):
        decode(data, LIMIT)


def test_an_xml_document_that_is_not_svg_is_not_an_image():
    with pytest.raises(NotAnImage):
        decode(b'<?xml version="1.0"?>\n<note><to>you</to></note>', LIMIT)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_truncated_images_are_rejected_as_corrupt(fmt):
    data = encode(picture(200, 150), fmt)
    with pytest.raises((CorruptImage, NotAnImage)):
        decode(data[: len(data) // 2], LIMIT)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_declaring(width: int, height: int) -> bytes:
    """A small, valid-looking PNG whose header declares width x height."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(bytes(1024)))
        + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(10_000, 10_000), (100_000, 100_000), (2**31 - 1, 2)])
def test_a_decompression_bomb_is_refused_from_its_header(size):
    with pytest.raises(ImageTooLarge):
        decode(png_declaring(*size), max_pixels=4_000_000)


def test_an_image_exactly_at_the_pixel_limit_is_accepted():
    image = decode(encode(picture(250, 200), "PNG"), max_pixels=250 * 200)
    assert image.size == (250, 200)


@pytest.mark.parametrize("size", [(1, 1500), (10_000, 1), (33 * 50, 50)])
def test_a_thin_image_is_refused_before_the_resize_blows_it_up(size):
    # 1x10000 would resize to 232x2320000 (1.6 GB) before the crop.
    with pytest.raises(ExtremeAspectRatio) as refused:
        decode(encode(Image.new("L", size), "PNG"), LIMIT)
    assert refused.value.status_code == 400


def test_an_image_at_the_aspect_ratio_limit_is_accepted():
    assert preprocess(encode(picture(32 * 20, 20), "PNG"), LIMIT).shape == (224, 224, 3)


def bmp_with_compression(method: int) -> bytes:
    data = bytearray(encode(picture(32, 32), "BMP"))
    data[30:34] = struct.pack("<I", method)  # BITMAPINFOHEADER's compression field
    return bytes(data)


# Every format the server decodes, named in the detail in this order (in any letter case).
NAMES_ACCEPTED = "(?i:" + ".*".join(DECODED_FORMATS) + ")"


@pytest.mark.parametrize(
    ("refuse", "error", "detail"),
    [
        pytest.param(
            lambda: decode(b"", LIMIT), EmptyUpload, "the uploaded file is empty", id="empty"
        ),
        pytest.param(
            lambda: decode(b"hello world", LIMIT),
            NotAnImage,
            f"the upload is not a readable image; send {NAMES_ACCEPTED}",
            id="not-an-image",
        ),
        pytest.param(
            lambda: decode(b'<svg xmlns="http://www.w3.org/2000/svg"/>', LIMIT),
            UnsupportedImageType,
            f"SVG images are not supported; send {NAMES_ACCEPTED}",
            id="svg",
        ),
        pytest.param(
            lambda: decode(bmp_with_compression(99), LIMIT),
            CorruptImage,
            "the image header is corrupt: .+",
            id="corrupt-header",
        ),
        pytest.param(
            lambda: decode(encode(picture(200, 150), "PNG")[:3000], LIMIT),
            CorruptImage,
            "the image data is truncated or corrupt: .+",
            id="truncated",
        ),
        pytest.param(
            lambda: decode(png_declaring(10_000, 10_000), max_pixels=4_000_000),
            ImageTooLarge,
            "the image is 10000x10000 = 100000000 pixels; the limit is 4000000",
            id="bomb",
        ),
        pytest.param(
            lambda: decode(encode(Image.new("L", (1, 1500)), "PNG"), LIMIT),
            ExtremeAspectRatio,
            f"the image is 1x1500; sides may differ by {MAX_ASPECT_RATIO}x at most",
            id="thin",
        ),
        pytest.param(
            lambda: crop_of(Image.new("RGB", (0, 10))),
            CorruptImage,
            "the image cannot be resized: .+",
            id="cannot-resize",
        ),
    ],
)
def test_each_refusal_says_what_was_wrong_with_the_upload(refuse, error, detail):
    with pytest.raises(ApiError) as refused:
        refuse()
    assert type(refused.value) is error
    assert re.fullmatch(detail, refused.value.detail), refused.value.detail
