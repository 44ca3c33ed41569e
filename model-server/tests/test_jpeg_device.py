"""JPEG decoding on the model's device (JPEG_DECODE=device): the same crop as Pillow's path.

On a CPU the device decoder is torchvision's libjpeg one, which runs everywhere; the nvJPEG
tests run where CUDA is present and are skipped, saying so, elsewhere.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from gpu_only import needs_cuda
from images import encode, jpeg, picture
from PIL import Image

from model_server import jpeg_device
from model_server.errors import ApiError, CorruptImage
from model_server.jpeg_device import decode_jpegs
from model_server.preprocess import EncodedJpeg, preprocess, preprocess_upload

LIMIT = 50_000_000
CPU = torch.device("cpu")
SIZES = [(640, 480), (480, 640), (233, 1000), (100, 80), (1001, 999), (232, 232)]


def on_device(data: bytes, device: torch.device) -> np.ndarray:
    encoded = preprocess_upload(data, LIMIT, jpeg_on_device=True)
    assert isinstance(encoded, EncodedJpeg), "a plain JPEG should be left for the device"
    (crop,) = decode_jpegs([encoded], device, LIMIT)
    assert isinstance(crop, torch.Tensor), crop
    assert crop.shape == (224, 224, 3) and crop.dtype == torch.uint8
    return crop.cpu().numpy()


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


@pytest.mark.parametrize("size", SIZES)
def test_the_device_path_gives_pillows_crop_within_two_levels(size):
    data = jpeg(*size, seed=size[0])
    diff = difference(on_device(data, CPU), preprocess(data, LIMIT))
    assert diff.max() <= 2 and diff.mean() < 0.05, (diff.max(), diff.mean())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_applies_it(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(picture(360, 240, seed=orientation), "JPEG", quality=95, exif=exif.tobytes())
    diff = difference(on_device(data, CPU), preprocess(data, LIMIT))
    assert diff.max() <= 2, f"orientation {orientation}: max difference {diff.max()}"


@pytest.mark.parametrize("orientation", [0, 9])
def test_an_exif_orientation_outside_1_to_8_is_read_as_1(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(picture(360, 240), "JPEG", exif=exif.tobytes())
    assert preprocess_upload(data, LIMIT, jpeg_on_device=True).orientation == 1


def test_a_jpeg_with_an_unreadable_exif_block_is_classified_as_stored_on_both_paths():
    # With a dpi in the JFIF header, Pillow does not read the EXIF block while opening, so
    # the broken block is first read for the orientation.
    data = encode(picture(360, 240), "JPEG", dpi=(72, 72), exif=b"Exif\0\0not a TIFF header")
    assert preprocess_upload(data, LIMIT, jpeg_on_device=True).orientation == 1
    as_stored = preprocess(encode(Image.open(io.BytesIO(data)), "PNG"), LIMIT)
    assert np.array_equal(preprocess(data, LIMIT), as_stored), "the CPU path must not refuse it"


def test_a_jpeg_padded_after_its_end_marker_is_still_left_for_the_device():
    data = jpeg() + b"\0\0\r\n "
    encoded = preprocess_upload(data, LIMIT, jpeg_on_device=True)
    assert isinstance(encoded, EncodedJpeg) and encoded.data == data


def test_a_greyscale_jpeg_becomes_rgb_like_pillows():
    data = encode(picture(300, 200).convert("L"), "JPEG")
    assert difference(on_device(data, CPU), preprocess(data, LIMIT)).max() <= 2


def test_only_complete_plain_jpegs_are_left_for_the_device():
    assert isinstance(preprocess_upload(jpeg(), LIMIT, jpeg_on_device=False), np.ndarray)
    png = encode(picture(200, 160), "PNG")
    assert isinstance(preprocess_upload(png, LIMIT, jpeg_on_device=True), np.ndarray)
    cmyk = encode(picture(200, 160).convert("CMYK"), "JPEG")
    assert isinstance(preprocess_upload(cmyk, LIMIT, jpeg_on_device=True), np.ndarray)
    with pytest.raises(CorruptImage):  # cut short: refused as on the CPU path, not guessed at
        preprocess_upload(jpeg(400, 300)[:3000], LIMIT, jpeg_on_device=True)


def test_a_batch_the_decoder_rejects_is_retried_one_by_one_and_the_rest_goes_to_pillow(
    monkeypatch,
):
    good, rejected = jpeg(320, 240, seed=1), jpeg(320, 240, seed=2)
    real_decode = jpeg_device.decode_jpeg
    calls = []

    def picky_decoder(data, **options):
        calls.append(len(data) if isinstance(data, list) else 1)
        if isinstance(data, list) or bytes(data.numpy()) == rejected:
            raise RuntimeError("nvjpegDecode failed: unsupported encoding")
        return real_decode(data, **options)

    monkeypatch.setattr(jpeg_device, "decode_jpeg", picky_decoder)
    jpegs = [preprocess_upload(data, LIMIT, jpeg_on_device=True) for data in (good, rejected)]
    crops = decode_jpegs(jpegs, CPU, LIMIT)
    assert calls == [2, 1, 1], "one batch, then each image alone"
    for crop, data in zip(crops, (good, rejected), strict=True):
        assert difference(crop.numpy(), preprocess(data, LIMIT)).max() <= 2


def test_an_image_pillow_rejects_too_comes_back_as_its_error(monkeypatch):
    def failing_decoder(data, **options):
        raise RuntimeError("nvjpegDecode failed")

    monkeypatch.setattr(jpeg_device, "decode_jpeg", failing_decoder)
    broken = EncodedJpeg(b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9", orientation=1)
    (result,) = decode_jpegs([broken], CPU, LIMIT)
    assert isinstance(result, ApiError) and result.status_code == 400, result


@needs_cuda
@pytest.mark.parametrize("size", SIZES)
def test_nvjpeg_gives_pillows_crop_within_tolerance(size):
    data = jpeg(*size, seed=size[0])
    diff = difference(on_device(data, torch.device("cuda")), preprocess(data, LIMIT))
    # nvJPEG's IDCT and chroma upsampling differ from libjpeg-turbo's by a few levels.
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 8, (diff.mean(), diff.max())


@needs_cuda
def test_nvjpeg_decodes_a_batch_of_mixed_sizes_and_orientations_in_order():
    cuda = torch.device("cuda")
    datas = [jpeg(*size, seed=i) for i, size in enumerate(SIZES)]
    jpegs = [preprocess_upload(data, LIMIT, jpeg_on_device=True) for data in datas]
    crops = decode_jpegs(jpegs, cuda, LIMIT)
    for crop, data in zip(crops, datas, strict=True):
        assert crop.device.type == "cuda"
        assert difference(crop.cpu().numpy(), preprocess(data, LIMIT)).mean() < 1.0
