"""In-process checks of the error paths that bad input cannot reach (bugs, model failures)."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient
from images import jpeg

from model_server import app as app_module
from model_server.app import ServerState, create_app
from model_server.batcher import Forecast
from model_server.config import Settings
from model_server.errors import InferenceFailed


class FailingBatcher:
    def forecast(self, in_hand):
        return Forecast(wait_s=0.0, batches_ahead=0)

    def enqueue(self, payload, deadline):
        answer = asyncio.get_running_loop().create_future()
        answer.set_exception(InferenceFailed("inference failed: CUDA error: out of memory"))
        return answer


class FakeClassifier:
    categories = ["cat"] * 1000


def client_with(state: ServerState) -> TestClient:
    return TestClient(
        create_app(Settings(model_weights="random"), state), raise_server_exceptions=False
    )


def test_a_failing_batch_is_a_json_500_with_its_reason():
    client = client_with(ServerState(classifier=FakeClassifier(), batcher=FailingBatcher()))
    response = client.post("/predict", files={"file": ("a.jpg", jpeg())})
    assert response.status_code == 500
    assert response.json() == {
        "error": "inference_failed",
        "detail": "inference failed: CUDA error: out of memory",
    }


def test_an_unexpected_bug_is_a_json_500_not_a_text_page(monkeypatch):
    def broken(data, max_pixels, jpeg_on_device):
        raise RuntimeError("a bug")

    monkeypatch.setattr(app_module, "preprocess_upload", broken)
    client = client_with(ServerState(classifier=FakeClassifier(), batcher=FailingBatcher()))
    response = client.post("/predict", files={"file": ("a.jpg", jpeg())})
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "detail": "internal server error"}
