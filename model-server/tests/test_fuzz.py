"""Hundreds of malformed uploads against one real server: each gets a 4xx, the server keeps
serving, and its memory does not keep growing."""

from __future__ import annotations

import random
import struct
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
from images import encode, jpeg, picture
from test_preprocess import png_declaring

pytestmark = pytest.mark.server

ROUNDS = 3  # memory is compared between the end of round 1 and the end of the last round


def malformed_uploads(rng: random.Random) -> list[tuple[str, dict]]:
    """(case, httpx request kwargs) for one round of 100 malformed requests."""
    good_jpeg = jpeg(480, 360, seed=rng.randrange(1000))
    noisy_png = encode(picture(200, 200, seed=rng.randrange(1000)), "PNG")
    cases: list[tuple[str, dict]] = []

    def upload(case: str, data: bytes, content_type: str = "image/jpeg") -> None:
        cases.append((case, {"files": {"file": ("upload", data, content_type)}}))

    for _ in range(25):
        upload(
            "random bytes",
            rng.randbytes(rng.randrange(1, 20_000)),
            rng.choice(["image/jpeg", "image/png", "application/octet-stream"]),
        )
    for _ in range(15):
        upload("truncated jpeg", good_jpeg[: rng.randrange(10, len(good_jpeg) - 200)])
    for _ in range(15):
        upload(
            "truncated png", noisy_png[: rng.randrange(8, int(len(noisy_png) * 0.9))], "image/png"
        )
    for _ in range(5):
        upload("png header only", b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randrange(0, 30)))
    for _ in range(10):
        width, height = rng.choice([(50_000, 50_000), (2**31 - 1, 3), (70_000, 1_000)])
        upload("huge declared png", png_declaring(width, height), "image/png")
    for _ in range(5):  # GIF: logical screen 65535 x 65535
        upload(
            "huge declared gif",
            b"GIF89a" + struct.pack("<HH", 65535, 65535) + bytes(20),
            "image/gif",
        )
    for _ in range(5):  # BMP with a 60000 x 60000 info header
        header = (
            b"BM"
            + struct.pack("<IHHI", 1000, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, 60_000, 60_000, 1, 24, 0, 0, 0, 0, 0, 0)
        )
        upload("huge declared bmp", header + bytes(100), "image/bmp")
    for _ in range(5):
        upload("zero length", b"")
    for _ in range(5):
        upload("text labelled as an image", b"<html>not an image</html>", "image/png")
    for _ in range(5):
        cases.append(("json body", {"json": {"file": "aGVsbG8="}}))
    for _ in range(5):
        cases.append(("form without file", {"data": {"file": "not a file"}}))
    return cases


def test_malformed_uploads_get_4xx_and_neither_kill_nor_bloat_the_server(start_server):
    server = start_server(MAX_BATCH_SIZE="4", MAX_IMAGE_PIXELS="20000000").wait_ready()
    process = psutil.Process(server.proc.pid)
    rng = random.Random(1234)
    statuses: Counter[tuple[str, int]] = Counter()
    rss_after_round: list[int] = []

    with httpx.Client(base_url=server.url, timeout=60) as client:

        def send(case_and_kwargs: tuple[str, dict]) -> tuple[str, int]:
            case, kwargs = case_and_kwargs
            response = client.post("/predict", **kwargs)
            assert response.headers["content-type"] == "application/json", (case, response.text)
            return case, response.status_code

        for _ in range(ROUNDS):
            with ThreadPoolExecutor(4) as pool:
                statuses.update(pool.map(send, malformed_uploads(rng)))
            assert client.get("/health").status_code == 200
            rss_after_round.append(process.memory_info().rss)

        ok = client.post("/predict", files={"file": ("a.jpg", jpeg(), "image/jpeg")})
        assert ok.status_code == 200, "the server must keep serving real images"

    total = sum(statuses.values())
    assert total >= 200
    not_4xx = {key: n for key, n in statuses.items() if not 400 <= key[1] < 500}
    assert not not_4xx, f"malformed uploads answered outside 4xx: {not_4xx}"
    growth_mb = (rss_after_round[-1] - rss_after_round[0]) / 2**20
    assert growth_mb < 40, f"RSS grew {growth_mb:.0f} MiB over {ROUNDS - 1} rounds: {statuses}"
