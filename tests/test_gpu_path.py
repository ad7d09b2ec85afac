"""The `gpu` profile's code path, run on the CPU at tiny sizes, so a typo cannot hide there until
someone has a GPU: bf16 autocast (forced onto the CPU through ``train.BF16_DEVICE_TYPES``),
channels_last batches and weights, data moved to the device once, the gpu profile's settings and
its 224-px backbone input, and the frozen-prefix cache of ``finetune_last_k``.

Each test compares the path with the float32 one on the same inputs: bf16 keeps about three
significant digits, so predictions agree within a loose tolerance, not exactly.
"""
import pytest
import torch
import torch.nn.functional as F

from tlcourse import get_profile, train
from tlcourse.adapt import AdaptSettings
from tlcourse.experiments import Settings, run_one
from tlcourse.models import SmallCNN
from tlcourse.tasks import digits_task, lite0_task
from test_train import _toy  # two 32x32 blobs: bright left half vs bright right half

CPU = torch.device("cpu")
GPU = get_profile("gpu")


@pytest.fixture
def gpu_path(monkeypatch):
    """bf16 autocast on the CPU, as on CUDA; the device forced to the CPU."""
    monkeypatch.setattr(train, "BF16_DEVICE_TYPES", frozenset({"cuda", "cpu"}))
    monkeypatch.setenv("TLCOURSE_DEVICE", "cpu")


def _watch(model, module):
    """Record (device, channels_last?, dtype of the output) of every call of ``module``."""
    seen = []

    def hook(_, args, out):
        x = args[0]
        seen.append((x.device, x.is_contiguous(memory_format=torch.channels_last), out.dtype))
    module.register_forward_hook(hook)
    return seen


def test_bf16_is_taken_on_cuda_only_unless_the_switch_adds_the_cpu(monkeypatch):
    cuda = torch.device("cuda")
    assert train.uses_bf16(cuda) and not train.uses_bf16(cuda, fast_gpu=False)
    assert not train.uses_bf16(CPU) and train._precision(CPU, True) == "float32"
    assert train.uses_channels_last(cuda) and not train.uses_channels_last(cuda, fast_gpu=False)
    monkeypatch.setattr(train, "BF16_DEVICE_TYPES", frozenset({"cuda", "cpu"}))
    assert train.uses_bf16(CPU) and train._precision(CPU, True) == "bf16"
    with train.autocast(CPU):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    with train.autocast(CPU, fast_gpu=False):
        assert not torch.is_autocast_enabled("cpu")


def test_gpu_path_predicts_like_the_float32_path(gpu_path):
    torch.manual_seed(0)
    model, (x, _) = SmallCNN(num_classes=2).eval(), _toy(32)
    seen = _watch(model, model.stem[0])
    reference = train.predict(model, x, batch_size=16, fast_gpu=False)
    assert [s[2] for s in seen] == [torch.float32] * 2
    seen.clear()
    logits = train.predict(model, x, batch_size=16)
    assert seen == [(CPU, True, torch.bfloat16)] * 2, "each batch: on the device, channels_last, bf16"
    assert logits.dtype == torch.float32 and logits.device == CPU
    assert model.stem[0].weight.dtype == torch.float32  # autocast casts per op, the weights stay
    assert model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(logits, reference, atol=0.03 * reference.abs().max().item(), rtol=0.02)


@pytest.mark.slow  # bf16 on a CPU without bf16 instructions is emulated: about 10x slower
def test_gpu_path_trains_like_the_float32_path(gpu_path, monkeypatch):
    train_set, val = _toy(128), _toy(64, seed=1)
    moved = []
    real_to_device = train._to_device
    monkeypatch.setattr(train, "_to_device", lambda x, *a: moved.append(x.shape) or real_to_device(x, *a))
    runs = {}
    for fast_gpu in (False, True):
        torch.manual_seed(0)
        model = SmallCNN(num_classes=2)
        seen = _watch(model, model.stem[0])
        moved.clear()
        history = train.fit(model, train_set, epochs=3, lr=3e-3, batch_size=32, seed=0,
                            fast_gpu=fast_gpu, progress=False)
        assert moved == [train_set[0].shape], "the images go to the device once, not per batch"
        assert all(s[:2] == (CPU, True) for s in seen), "every batch on the device, channels_last"
        assert {s[2] for s in seen} == {torch.bfloat16 if fast_gpu else torch.float32}
        assert all(p.dtype == torch.float32 for p in model.parameters())
        runs[fast_gpu] = model, history, train.evaluate(model, val, fast_gpu=fast_gpu)
    (fp32, h32, s32), (bf16, h16, s16) = runs[False], runs[True]
    assert s16["accuracy"] > 0.9 and s16["accuracy"] == pytest.approx(s32["accuracy"], abs=0.05)
    assert h16.final["train_loss"] == pytest.approx(h32.final["train_loss"], rel=0.25, abs=0.02)
    agree = (train.predict(bf16, val[0]).argmax(1) == train.predict(fp32, val[0], fast_gpu=False).argmax(1))
    assert agree.float().mean() >= 0.95


def test_gpu_path_features_are_cached_apart_from_float32_ones(gpu_path, tmp_path):
    torch.manual_seed(0)
    model, (x, _) = SmallCNN(num_classes=2), _toy(24)
    seen = _watch(model, model.stem[0])
    cache = tmp_path / "features.pt"
    fp32 = train.extract_features(model, x, cache=cache, fast_gpu=False, progress=False)
    bf16 = train.extract_features(model, x, cache=cache, progress=False)
    assert [s[2] for s in seen] == [torch.float32, torch.bfloat16], "bf16 features are not the float32 ones"
    assert F.cosine_similarity(bf16, fp32).min() > 0.999
    again = train.extract_features(model, x, cache=cache, progress=False)
    assert len(seen) == 2 and torch.equal(again, bf16), "the bf16 features are read back from the cache"


def test_gpu_profile_settings():
    assert Settings.for_profile(GPU).steps == GPU.finetune_steps == 300
    assert Settings.for_profile(GPU, steps=2).steps == 2
    adapt = AdaptSettings.for_profile(GPU)
    assert (adapt.source_steps, adapt.dann_steps, adapt.round_steps, adapt.few_shot_steps) == (600, 400, 160, 200)


@pytest.mark.slow  # bf16 on a CPU without bf16 instructions is emulated: about 10x slower
def test_gpu_profile_feeds_lite0_224_px_and_bf16_features_match(gpu_path):
    task = lite0_task("mnist5k", get_profile("gpu", max_pool_per_class=1, max_eval=10))
    model = task.make_model(True).eval()
    seen = _watch(model, model.conv_stem)
    x = task.test.images[:4]
    fp32 = train.extract_features(model, x, transform=task.transform, fast_gpu=False, progress=False)
    bf16 = train.extract_features(model, x, transform=task.transform, progress=False)
    assert task.transform(x).shape == (4, 3, 224, 224)
    assert [s[2] for s in seen] == [torch.float32, torch.bfloat16]
    assert fp32.shape == (4, model.num_features)
    assert F.cosine_similarity(bf16, fp32).min() > 0.99


def test_gpu_path_trains_the_top_on_its_cached_prefix(gpu_path):
    """finetune_last_k with the gpu profile's settings (two steps): the frozen prefix runs once
    in bf16, and every convolution, of the prefix and of the top trained on its output, gets a
    channels_last batch and computes in bf16."""
    task = digits_task(get_profile("gpu", max_pool_per_class=2, max_eval=20))
    seen = []

    def hook(module, args, out):
        if isinstance(module, torch.nn.Conv2d):
            seen.append((args[0].is_contiguous(memory_format=torch.channels_last), out.dtype))
    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        row = run_one(task, "finetune_last_k", 2, 0, Settings.for_profile(GPU, steps=2, batch_size=8))
    finally:
        handle.remove()
    assert 0.0 <= row["accuracy"] <= 1.0 and row["labels"] == 20
    assert seen and set(seen) == {(True, torch.bfloat16)}
