"""The benchmark's baseline: the same Swin-T served the naive way.

One request at a time per worker thread (FastAPI's thread pool, NAIVE_THREADS threads),
torchvision's transforms and the model called per request, fp32, no batching, no queue
limit. It is what a first version of this server would look like, kept only to measure the
real one against; it is not part of the model_server package.

    MODEL_WEIGHTS=random PORT=8081 python model-server/benchmarks/naive_server.py
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Annotated

import anyio.to_thread
import torch
import uvicorn
from fastapi import FastAPI, File, UploadFile
from PIL import Image

from model_server.model import IMAGENET_WEIGHTS, build_model, resolve_device

DEVICE = resolve_device(os.environ.get("DEVICE", "auto"))
THREADS = int(os.environ.get("NAIVE_THREADS", "4"))
MODEL = build_model(os.environ.get("MODEL_WEIGHTS", "imagenet")).to(DEVICE)
TRANSFORMS = IMAGENET_WEIGHTS.transforms()
CATEGORIES = IMAGENET_WEIGHTS.meta["categories"]


@asynccontextmanager
async def lifespan(_: FastAPI):
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/ready")
def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/predict")
def predict(file: Annotated[UploadFile, File()]) -> dict[str, object]:
    image = Image.open(file.file).convert("RGB")
    batch = TRANSFORMS(image).unsqueeze(0).to(DEVICE)
    with torch.inference_mode():
        scores, indices = MODEL(batch).softmax(dim=1).topk(5)
    top = [
        {"class": CATEGORIES[i], "index": i, "score": s}
        for s, i in zip(scores[0].tolist(), indices[0].tolist(), strict=True)
    ]
    return {**top[0], "top_k": top}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ["PORT"]),
        log_level="warning",
    )
