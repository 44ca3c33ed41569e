"""The mark for tests of the CUDA-only paths (CUDA graphs, pinned memory and the copy stream,
nvJPEG, the whole server on a GPU). CI and laptops have no GPU: there the tests are skipped
with a reason that says how to run them."""

from __future__ import annotations

import pytest
import torch

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs CUDA (torch.cuda.is_available() is False); run on a GPU machine, "
    "see docs/benchmarks.md",
)
