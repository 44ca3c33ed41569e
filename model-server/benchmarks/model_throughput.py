"""Swin-T alone, no HTTP: images per second by batch size and dtype on one device.

The ceiling the server can approach; compare it with `compare.py`'s numbers to see how much
the HTTP and decode side costs.

    python model-server/benchmarks/model_throughput.py --batch-sizes 1,4,8,32 --dtypes float32
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from model_server.model import Classifier, build_model, resolve_device, resolve_dtype


def images_per_second(classifier: Classifier, batch_size: int, seconds: float) -> float:
    crops = [np.zeros((224, 224, 3), dtype=np.uint8)] * batch_size
    classifier.predict(crops)  # warm-up for this shape
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        classifier.predict(crops)  # includes the host->device copy and the top-k readback
        done += batch_size
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-sizes", default="1,4,8,16,32")
    parser.add_argument("--dtypes", default="auto", help="comma list: auto,float32,bfloat16...")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    device = resolve_device(args.device)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows = []
    for dtype_name in args.dtypes.split(","):
        dtype = resolve_dtype(dtype_name, device)
        model = build_model("random").to(
            device=device, dtype=dtype, memory_format=torch.channels_last
        )
        classifier = Classifier(model, device, dtype, max_batch_size=max(batch_sizes))
        for batch_size in batch_sizes:
            rate = images_per_second(classifier, batch_size, args.seconds)
            rows.append(
                {
                    "device": device.type,
                    "dtype": str(dtype).removeprefix("torch."),
                    "batch_size": batch_size,
                    "images_per_s": round(rate, 1),
                }
            )
            print(
                f"{device.type} {rows[-1]['dtype']:9s} batch {batch_size:4d} {rate:9.1f} img/s",
                flush=True,
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"threads": torch.get_num_threads(), "runs": rows}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
