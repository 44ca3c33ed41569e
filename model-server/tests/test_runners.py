"""How a batch runs: buckets and padding, torch.compile and CUDA graphs, and the two-stage
Classifier (prepare on the device, then run). The CUDA-only paths are skipped, saying so,
where there is no CUDA."""

from __future__ import annotations

import numpy as np
import torch
from gpu_only import needs_cuda
from images import jpeg

from model_server.config import Settings, batch_buckets, resolve
from model_server.errors import CorruptImage
from model_server.model import Classifier
from model_server.preprocess import preprocess, preprocess_upload
from model_server.runners import CompiledRunner, CudaGraphRunner, EagerRunner, build_order

LIMIT = 50_000_000


def tiny_model() -> torch.nn.Module:
    """1000 logits from a 224x224 image, in milliseconds on a CPU."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(48, 1000)
    ).eval()


def crops(count: int) -> list[np.ndarray]:
    return [preprocess(jpeg(seed=seed), LIMIT) for seed in range(count)]


def sample(size: int, device: str = "cpu") -> torch.Tensor:
    return torch.rand(size, 3, 224, 224, device=device)


def test_buckets_are_the_powers_of_two_below_the_batch_cap_and_the_cap():
    assert batch_buckets("auto", 64) == (1, 2, 4, 8, 16, 32, 64)
    assert batch_buckets("auto", 48) == (1, 2, 4, 8, 16, 32, 48)
    assert batch_buckets("1,8,200", 64) == (1, 8, 64), "never above the cap, always the cap"


def test_the_largest_bucket_is_built_first_then_batch_1():
    assert build_order((1, 2, 4, 8, 16)) == [16, 1, 8, 4, 2]
    assert build_order((8,)) == [8]


def test_a_batch_is_padded_to_the_smallest_built_bucket_that_holds_it():
    runner = EagerRunner(tiny_model())
    runner.buckets = (1, 4, 8)
    assert [runner.padded_size(n) for n in (1, 2, 4, 5, 8, 9)] == [1, 4, 4, 8, 8, 9]


def test_padding_changes_no_answer():
    classifier = Classifier(tiny_model(), torch.device("cpu"), torch.float32, max_batch_size=8)
    unpadded = classifier.predict(crops(3))
    classifier.runner.buckets = (8,)
    prepared = classifier.prepare(crops(3))
    assert prepared.batch.shape[0] == 8
    for a, b in zip(unpadded, classifier.run(prepared), strict=True):
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)


def test_crops_jpegs_and_errors_in_one_batch_come_back_in_payload_order(monkeypatch):
    classifier = Classifier(tiny_model(), torch.device("cpu"), torch.float32, max_batch_size=4)
    datas = [jpeg(seed=seed) for seed in range(3)]
    alone = [classifier.predict([preprocess(data, LIMIT)])[0] for data in datas]
    payloads = [
        preprocess_upload(datas[0], LIMIT, jpeg_on_device=True),  # decoded in prepare()
        preprocess(datas[1], LIMIT),  # a crop from the decode threads
        preprocess_upload(datas[2], LIMIT, jpeg_on_device=True),
        preprocess_upload(datas[2], LIMIT, jpeg_on_device=True),
    ]
    from model_server import model as model_module

    def last_one_fails(jpegs, device, max_pixels):
        crops_ = [torch.tensor(preprocess(j.data, max_pixels)) for j in jpegs[:-1]]
        return [*crops_, CorruptImage("the image data is corrupt")]

    monkeypatch.setattr(model_module, "decode_jpegs", last_one_fails)
    results = classifier.predict(payloads)
    for expected, got in zip(alone, results[:3], strict=True):
        np.testing.assert_array_equal(expected.indices, got.indices)
    assert isinstance(results[3], CorruptImage)


def test_torch_compile_builds_every_bucket_and_answers_as_the_eager_model():
    model = tiny_model()
    runner = CompiledRunner(model, (1, 2), budget_s=600, cuda=False)  # Inductor, C++ on a CPU
    with torch.inference_mode():
        runner.build(sample)
        assert runner.buckets == (1, 2)
        batch = sample(2)
        (scores, indices), (eager_scores, eager_indices) = runner(batch), EagerRunner(model)(batch)
    torch.testing.assert_close(scores, eager_scores, rtol=1e-4, atol=1e-6)
    assert torch.equal(indices, eager_indices)


def test_building_stops_when_the_budget_is_spent_and_the_rest_runs_eagerly():
    runner = CompiledRunner(tiny_model(), (1, 2, 4), budget_s=0, cuda=False, backend="eager")
    with torch.inference_mode():
        runner.build(sample)
        assert runner.buckets == (4,), "only the first (largest) fits a zero budget"
        assert runner.padded_size(1) == 4
        assert runner(sample(5))[0].shape == (5, 20), "above every bucket: eager, unpadded"


def test_a_failing_build_leaves_that_bucket_eager_and_the_server_serving(monkeypatch):
    runner = CompiledRunner(tiny_model(), (1, 2), budget_s=600, cuda=False, backend="eager")

    def broken(size, batch):
        if size == 2:
            raise RuntimeError("InductorError: something in the compiler")

    monkeypatch.setattr(runner, "_build_one", broken)
    with torch.inference_mode():
        runner.build(sample)
        assert runner.buckets == (1,)
        assert runner(sample(2))[0].shape == (2, 20)


def test_per_device_defaults_small_batches_on_a_cpu_and_the_gpu_path_on_cuda():
    cpu, cuda = resolve(Settings(), cuda=False), resolve(Settings(), cuda=True)
    assert (cpu.max_batch_size, cpu.compile, cpu.pipeline, cpu.jpeg_on_device) == (
        8,
        "off",
        False,
        False,
    )
    assert cpu.batch_buckets == (), "nothing compiled: no padding"
    assert (cuda.max_batch_size, cuda.compile, cuda.pipeline, cuda.jpeg_on_device) == (
        64,
        "compile",
        True,
        True,
    )
    assert cuda.batch_buckets == (1, 2, 4, 8, 16, 32, 64)
    explicit = Settings(max_batch_size=16, model_compile="off", pipeline="off", jpeg_decode="cpu")
    assert resolve(explicit, cuda=True).max_batch_size == 16
    assert not resolve(explicit, cuda=True).pipeline
    assert resolve(explicit, cuda=True).batch_buckets == ()


def test_the_queue_delay_limit_defaults_to_a_share_of_the_deadline():
    assert resolve(Settings(request_timeout_seconds=30), cuda=False).max_queue_delay_s == 0.5
    assert resolve(Settings(request_timeout_seconds=60), cuda=False).max_queue_delay_s == 1.0
    explicit = Settings(request_timeout_seconds=30, max_queue_delay_ms=250)
    assert resolve(explicit, cuda=False).max_queue_delay_s == 0.25


@needs_cuda
def test_cuda_graphs_answer_as_the_eager_model_for_every_bucket():
    model = tiny_model().cuda()
    runner = CudaGraphRunner(model, (1, 2, 4), budget_s=600)
    with torch.inference_mode():
        runner.build(lambda n: sample(n, "cuda"))
        assert runner.buckets == (1, 2, 4)
        for size in (1, 2, 4):
            batch = sample(size, "cuda")
            scores, indices = (t.cpu() for t in runner(batch))
            eager_scores, eager_indices = (t.cpu() for t in EagerRunner(model)(batch))
            torch.testing.assert_close(scores, eager_scores, rtol=1e-4, atol=1e-6)
            assert torch.equal(indices, eager_indices)


@needs_cuda
def test_torch_compile_with_cuda_graphs_answers_as_the_eager_model():
    model = tiny_model().cuda()
    runner = CompiledRunner(model, (1, 4), budget_s=600, cuda=True)
    with torch.inference_mode():
        runner.build(lambda n: sample(n, "cuda"))
        assert runner.buckets == (1, 4)
        for _ in range(3):  # replays reuse the graph's memory: each answer must stay right
            batch = sample(4, "cuda")
            scores = runner(batch)[0].cpu()
            torch.testing.assert_close(
                scores, EagerRunner(model)(batch)[0].cpu(), rtol=1e-3, atol=1e-5
            )


@needs_cuda
def test_on_cuda_the_batch_built_from_pinned_memory_equals_the_cpu_one():
    cpu = Classifier(tiny_model(), torch.device("cpu"), torch.float32, max_batch_size=8)
    gpu = Classifier(tiny_model().cuda(), torch.device("cuda"), torch.float32, max_batch_size=8)
    for count in (1, 8, 3):  # both pinned buffers, in turn, and a reuse
        batch = crops(count)
        torch.testing.assert_close(gpu.to_model_input(batch).cpu(), cpu.to_model_input(batch))


@needs_cuda
def test_on_cuda_a_batch_prepared_while_another_runs_does_not_disturb_either():
    # What PIPELINE does: prepare batch B on the feeder stream before batch A has run.
    model = tiny_model().cuda()
    classifier = Classifier(model, torch.device("cuda"), torch.float32, max_batch_size=8)
    first, second = crops(8), crops(8)[::-1]
    expected = [classifier.predict(first), classifier.predict(second)]
    prepared_first = classifier.prepare(first)
    prepared_second = classifier.prepare(second)
    for want, got in zip(
        expected, [classifier.run(prepared_first), classifier.run(prepared_second)], strict=True
    ):
        for a, b in zip(want, got, strict=True):
            np.testing.assert_array_equal(a.indices, b.indices)
