"""Readiness proven without timing: the warm-up blocks until the test releases it, so "/ready
stays 503 until the warm-up has run" is checked at a moment the test chooses, not raced."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient
from images import jpeg

from model_server.app import ServerState, create_app
from model_server.config import Settings
from model_server.model import Classifier

# Bounds that turn a hang into a failure; nothing waits for them to pass.
HANG_S = 120


def test_ready_stays_503_while_the_warm_up_is_held_and_turns_200_after_it(monkeypatch):
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    warm_up = Classifier.warm_up

    def held_warm_up(self, *args, **kwargs):
        entered.set()
        assert release.wait(HANG_S), "the test never released the warm-up"
        result = warm_up(self, *args, **kwargs)
        finished.set()
        return result

    monkeypatch.setattr(Classifier, "warm_up", held_warm_up)
    settings = Settings(model_weights="random", device="cpu", max_batch_size=1, decode_threads=1)
    state = ServerState()
    try:
        with TestClient(create_app(settings, state)) as client:
            assert entered.wait(HANG_S), "the warm-up never started"
            for _ in range(3):  # looked at several times while the warm-up is held
                ready = client.get("/ready")
                assert (ready.status_code, ready.json()) == (503, {"status": "loading"})
                early = client.post("/predict", files={"file": ("a.jpg", jpeg())})
                assert early.status_code == 503 and early.json()["error"] == "not_ready"
                assert client.get("/health").status_code == 200, "liveness holds meanwhile"
            assert not finished.is_set()
            release.set()
            deadline = time.monotonic() + HANG_S
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, "never ready after the warm-up"
                time.sleep(0.01)
            assert finished.is_set(), "/ready said 200 before the warm-up returned"
            answer = client.post("/predict", files={"file": ("a.jpg", jpeg())})
            assert answer.status_code == 200
    finally:
        release.set()  # never leave the model thread blocked
