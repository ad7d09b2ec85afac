"""The training loop, evaluation, feature caching and the linear probe (against scikit-learn)."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from torch import nn

from tlcourse import train
from tlcourse.models import SmallCNN


def _toy(n=256, seed=0):
    """Two blobs of 32x32 images: bright left half vs bright right half, plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, 32, 32, generator=g) * 0.5
    x[y == 0, :, :, :16] += 0.5
    x[y == 1, :, :, 16:] += 0.5
    return x, y


def _trained(seed):
    torch.manual_seed(seed)
    model = SmallCNN(num_classes=2)
    history = train.fit(model, _toy(), _toy(128, seed=1), epochs=3, lr=3e-3, batch_size=32,
                        seed=seed, progress=False)
    return model, history


def test_fit_learns_and_records_history():
    model, history = _trained(0)
    frame = history.to_frame()
    assert list(frame["epoch"]) == [1, 2, 3]
    assert frame["train_loss"].iloc[-1] < frame["train_loss"].iloc[0]
    assert history.final["val_accuracy"] > 0.9
    assert (frame["images_per_second"] > 0).all()


def test_fit_is_deterministic_on_cpu_for_a_seed():
    a, _ = _trained(0)
    b, _ = _trained(0)
    c, _ = _trained(1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_early_stopping_restores_the_best_epoch():
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2)
    x, y = _toy(64)
    val = (x, 1 - y)  # labels flipped: validation gets worse as training fits the data
    history = train.fit(model, (x, y), val, epochs=30, lr=1e-2, batch_size=16, patience=2,
                        progress=False)
    assert len(history.rows) < 30
    assert train.evaluate(model, val)["accuracy"] == pytest.approx(history.best_val_accuracy)


def test_val_every_scores_the_validation_set_every_few_epochs_and_after_the_last():
    torch.manual_seed(0)
    x, y = _toy(16)
    history = train.fit(SmallCNN(num_classes=2), (x, y), (x, y), epochs=7, batch_size=16,
                        val_every=3, progress=False)
    assert [r["epoch"] for r in history.rows if "val_accuracy" in r] == [3, 6, 7]
    assert history.final["val_accuracy"] == history.rows[-1]["val_accuracy"]


def test_evaluate_matches_a_hand_count():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(2))
    x = torch.tensor([[[2.0, 0.0]], [[0.0, 3.0]], [[1.0, 0.0]], [[1.0, 5.0]]])
    y = torch.tensor([0, 1, 1, 1])
    assert train.evaluate(model, (x, y), device="cpu")["accuracy"] == pytest.approx(0.75)


def test_fast_gpu_false_reaches_validation_too(monkeypatch):
    """fit(fast_gpu=False) must validate in float32 as well: no bf16 autocast anywhere."""
    asked = []
    real = train.autocast

    def spy(device, fast_gpu=True):
        asked.append(fast_gpu)
        return real(device, fast_gpu)
    monkeypatch.setattr(train, "autocast", spy)
    torch.manual_seed(0)
    train.fit(SmallCNN(num_classes=2), _toy(64), _toy(32, seed=1), epochs=1, batch_size=32,
              fast_gpu=False, progress=False)
    assert asked and not any(asked)
    asked.clear()
    train.evaluate(SmallCNN(num_classes=2), _toy(32), fast_gpu=False)
    assert asked and not any(asked)


def test_bad_data_gets_a_clear_error():
    with pytest.raises(ValueError, match="labels"):
        train.as_tensors((torch.zeros(3, 1, 8, 8), torch.zeros(2)))
    with pytest.raises(TypeError, match="ImageDataset"):
        train.as_tensors(torch.zeros(3))


def test_extract_features_removes_the_head_and_caches(tmp_path):
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2).eval()
    x, _ = _toy(40)
    cache = tmp_path / "feats.pt"
    feats = train.extract_features(model, x, batch_size=16, cache=cache, progress=False)
    assert feats.shape == (40, model.num_features)
    with torch.no_grad():
        assert torch.allclose(feats, model.features(x), atol=1e-5)
    assert isinstance(model.head, nn.Linear), "the head must be put back"
    saved = torch.load(cache, weights_only=True)  # what exercise 02 checks: a plain tensor
    assert isinstance(saved, torch.Tensor) and torch.equal(saved, feats)


def _counting(model):
    """``model`` with a counter of forward calls (``model.calls``)."""
    model.calls = 0

    def count(*_):
        model.calls += 1
    model.register_forward_pre_hook(count)
    return model


def test_feature_cache_is_read_when_nothing_changed(tmp_path):
    torch.manual_seed(0)
    model, (x, _) = _counting(SmallCNN(num_classes=2)), _toy(40)
    first = train.extract_features(model, x, cache=tmp_path / "f.pt", progress=False)
    calls = model.calls
    with torch.no_grad():
        model.head.weight.add_(1.0)  # the head is not part of the features
    again = train.extract_features(model, x, cache=tmp_path / "f.pt", progress=False)
    assert model.calls == calls and torch.equal(again, first)


def test_feature_cache_is_recomputed_when_model_or_data_change(tmp_path):
    torch.manual_seed(0)
    model, (x, _) = SmallCNN(num_classes=2), _toy(40)
    cache = tmp_path / "f.pt"
    train.extract_features(model, x, cache=cache, progress=False)
    with torch.no_grad():
        model.block3[0].weight.mul_(-1)
    feats = train.extract_features(model, x, cache=cache, progress=False)
    with torch.no_grad():
        assert torch.allclose(feats, model.features(x), atol=1e-5)
    feats = train.extract_features(model, x[:10], cache=cache, progress=False)
    assert feats.shape == (10, model.num_features)
    assert torch.equal(torch.load(cache, weights_only=True), feats)


def _double(x):
    return 2 * x


def test_feature_cache_is_keyed_by_the_transform(tmp_path):
    torch.manual_seed(0)
    model, (x, _) = SmallCNN(num_classes=2), _toy(40)
    cache = tmp_path / "f.pt"
    plain = train.extract_features(model, x, cache=cache, progress=False)
    doubled = train.extract_features(model, x, transform=_double, cache=cache, progress=False)
    assert not torch.allclose(plain, doubled)
    with pytest.raises(ValueError, match="cache_key"):
        train.extract_features(model, x, transform=lambda b: 3 * b, cache=cache, progress=False)
    tripled = train.extract_features(model, x, transform=lambda b: 3 * b, cache=cache,
                                     cache_key="times 3", progress=False)
    assert not torch.allclose(tripled, doubled)
    quad = train.extract_features(model, x, transform=lambda b: 4 * b, cache=cache,
                                  cache_key="times 4", progress=False)
    with torch.no_grad():
        assert torch.allclose(quad, model.features(4 * x), atol=1e-5)


def test_a_file_overwritten_by_hand_is_not_trusted(tmp_path):
    torch.manual_seed(0)
    model, (x, _) = SmallCNN(num_classes=2), _toy(40)
    cache = tmp_path / "f.pt"
    feats = train.extract_features(model, x, cache=cache, progress=False)
    torch.save(torch.zeros_like(feats), cache)
    assert torch.equal(train.extract_features(model, x, cache=cache, progress=False), feats)


def test_save_atomic_never_leaves_half_a_file(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "t.pt"
    train.save_atomic(torch.arange(3), path)
    assert torch.equal(torch.load(path, weights_only=True), torch.arange(3))

    def crash(obj, f):
        f.write(b"half a tensor")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        train.save_atomic(torch.arange(5), path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True), torch.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["t.pt"], "no temporary file is left behind"


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    x = torch.tensor(data.data[:600], dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0, unbiased=False).clamp_min(1e-6)  # well conditioned: fast solvers
    return x, torch.tensor(data.target[:600])


@pytest.mark.parametrize("C", [0.01, 1.0])
def test_linear_probe_matches_scikit_learn(digits, C):
    x, y = digits
    ours = train.fit_linear_probe(x, y, C=C, standardize=False)
    ref = LogisticRegression(C=C, max_iter=2000, tol=1e-8).fit(x.double().numpy(), y.numpy())
    with torch.no_grad():
        ours_prob = torch.softmax(ours(x), 1).numpy()
    ref_prob = ref.predict_proba(x.numpy())
    assert np.abs(ours_prob - ref_prob).max() < 1e-4
    assert (ours_prob.argmax(1) == ref_prob.argmax(1)).all()


def test_linear_probe_shape_errors(digits):
    x, y = digits
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        train.fit_linear_probe(x[:10], y[:9])


def test_cpu_images_go_channels_last_and_predict_the_same():
    cpu = torch.device("cpu")
    assert train.uses_channels_last(cpu) and train.uses_channels_last(cpu, fast_gpu=False)
    assert not train.uses_channels_last(torch.device("cuda"), fast_gpu=False)
    torch.manual_seed(0)
    model, x = SmallCNN(num_classes=10).eval(), torch.rand(8, 1, 32, 32)
    with torch.no_grad():
        reference = model(x)  # plain NCHW
    logits = train.predict(model, x, device="cpu")
    assert model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(logits, reference, atol=1e-5, rtol=1e-4)


def test_a_model_predicted_with_before_training_can_still_train():
    """predict() prepares the model (device, memory layout) outside inference mode: weights
    re-laid-out inside it could never take a gradient step again."""
    model = SmallCNN(num_classes=10)
    train.predict(model, torch.rand(4, 1, 32, 32))
    history = train.fit(model, (torch.rand(8, 1, 32, 32), torch.randint(0, 10, (8,))), epochs=1, progress=False)
    assert history.rows[0]["train_loss"] > 0


def test_dihedral_copies_are_the_eight_orientations_of_each_image():
    images = torch.rand(3, 2, 5, 5)
    copies = train.dihedral_copies(images)
    assert copies.shape == (24, 2, 5, 5)
    for i in range(3):
        mine = copies[i::3]  # copy j of image i is row j * 3 + i
        assert torch.equal(mine[0], images[i]) and torch.equal(mine[2], images[i].flip(1, 2))
        assert len({tuple(c.flatten().tolist()) for c in mine}) == 8
        assert all(torch.equal(c.flatten().sort().values,
                               images[i].flatten().sort().values) for c in mine)  # same pixels, moved
    with pytest.raises(ValueError, match="square images"):
        train.dihedral_copies(torch.rand(2, 1, 4, 5))


def test_unfreeze_schedule_starts_with_the_head_and_adds_one_block_down_per_phase():
    blocks = ["stem", "block1", "head"]
    assert train.unfreeze_schedule(blocks, 7) == [(["head"], 3), (["block1", "head"], 2),
                                                   (["stem", "block1", "head"], 2)]
    assert train.unfreeze_schedule(blocks, 2) == [(["head"], 1), (["block1", "head"], 1)]


def _changed_blocks(model, fresh):
    before = fresh.state_dict()
    return sorted({k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, before[k])})


def test_gradual_unfreezing_trains_blocks_from_the_top_down():
    x, y = _toy(32)
    torch.manual_seed(0)
    fresh = SmallCNN(num_classes=2)  # stem, block1, block2, block3, head
    model = SmallCNN(num_classes=2)
    model.load_state_dict(fresh.state_dict())
    histories = train.fit_gradual_unfreeze(model, (x, y), 3, 32, 1e-2, seed=0)  # 3 phases of one step
    assert [len(h.rows) for h in histories] == [1, 1, 1]
    assert _changed_blocks(model, fresh) == ["block2", "block3", "head"]  # stem and block1 never joined
    train.fit_gradual_unfreeze(model, (x, y), 5, 32, 1e-2, seed=0)
    assert _changed_blocks(model, fresh) == ["block1", "block2", "block3", "head", "stem"]
    assert all(p.requires_grad for p in model.parameters())


def test_random_affine_changes_each_image_with_its_own_draw_and_repeats_for_a_seed():
    from tlcourse.train import random_affine

    images = torch.zeros(8, 1, 32, 32)
    images[:, :, 8:24, 14:18] = 1.0  # the same bar in every image
    augment = random_affine(degrees=20, translate=0.1)
    torch.manual_seed(0)
    first = augment(images)
    assert first.shape == images.shape
    assert not torch.equal(first, images)
    assert len({tuple(x.flatten().tolist()) for x in first}) == 8  # eight different draws
    torch.manual_seed(0)
    assert torch.equal(augment(images), first)


def test_fit_augments_training_batches_only():
    from tlcourse.train import fit

    seen = []

    def augment(batch):
        seen.append(len(batch))
        return batch + 0.0

    x, y = torch.randn(40, 1, 8, 8), torch.arange(40) % 2
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    fit(model, (x, y), (x[:10], y[:10]), epochs=2, batch_size=16, augment=augment, progress=False)
    assert sum(seen) == 2 * 40  # every training image, every epoch; the validation set never
