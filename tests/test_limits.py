"""Notebook 07's tools: L2-SP in the training loop, shifted copies, the misleading source, early
stopping on a validation split of the pool, and forgetting read through the source's head."""
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from tlcourse import get_profile
from tlcourse.data import few_shot_indices
from tlcourse.data.core import ImageDataset
from tlcourse.experiments import Settings, run_one, train_network
from tlcourse.limits import (PATIENCE, forgetting, letters_test_set, limits_task, misleading_cnn,
                             misleading_task, overfitting_history, shuffled_labels, validation_indices,
                             with_source_head)
from tlcourse.models import SmallCNN
from tlcourse.pretrain import load_pretrained_cnn
from tlcourse.train import fit, l2sp_penalty, shifted_copies

SMOKE = get_profile("smoke", finetune_steps=6, max_eval=52, misleading_samples=260, pretrain_epochs=1)
FAST = Settings.for_profile(SMOKE, batch_size=16)


def _data(n=24, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 32, 32, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def _pretrained_start(seed=0) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(num_classes=10)


def _backbone(model):
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.") and "running" not in k
            and "num_batches" not in k}


def test_l2sp_penalty_is_half_alpha_times_the_squared_distance_from_the_start():
    model = _pretrained_start()
    penalty = l2sp_penalty(model, alpha=0.5)
    assert penalty(model).item() == 0
    with torch.no_grad():
        model.stem[0].weight.add_(0.1)
        model.head.weight.add_(5.0)  # the new head is free: not in the penalty
    expected = 0.5 / 2 * (0.1 ** 2) * model.stem[0].weight.numel()
    assert penalty(model).item() == pytest.approx(expected, rel=1e-4)


def test_l2sp_with_alpha_zero_is_plain_fine_tuning():
    x, y = _data()
    plain, pulled = _pretrained_start(), _pretrained_start()
    fit(plain, (x, y), epochs=2, lr=1e-2, batch_size=8, seed=3, progress=False)
    fit(pulled, (x, y), epochs=2, lr=1e-2, batch_size=8, seed=3, progress=False,
        penalty=l2sp_penalty(pulled, alpha=0.0))
    for (name, a), b in zip(plain.state_dict().items(), pulled.state_dict().values()):
        assert torch.equal(a, b), name


def test_l2sp_with_a_huge_alpha_keeps_the_pretrained_weights_while_the_head_learns():
    x, y = _data()
    model = _pretrained_start()
    start, head = _backbone(model), model.head.weight.clone()
    free = _pretrained_start()
    fit(free, (x, y), epochs=3, lr=1e-2, batch_size=8, seed=0, progress=False)
    fit(model, (x, y), epochs=3, lr=1e-2, batch_size=8, seed=0, progress=False,
        penalty=l2sp_penalty(model, alpha=1e6))
    moved = max((model.state_dict()[k] - v).abs().max().item() for k, v in start.items())
    moved_free = max((free.state_dict()[k] - v).abs().max().item() for k, v in start.items())
    assert moved < 0.1 * moved_free, (moved, moved_free)
    assert not torch.equal(model.head.weight, head)


def test_l2sp_setting_reaches_the_strategies_and_zero_changes_nothing():
    task = limits_task(SMOKE)
    plain = run_one(task, "finetune_all", 1, 0, FAST)["accuracy"]
    assert run_one(task, "finetune_all", 1, 0, replace(FAST, l2sp=0.0))["accuracy"] == plain
    held = train_network(task, "finetune_all", 1, 0, replace(FAST, l2sp=1e6, lr_finetune=1e-2))
    free = train_network(task, "finetune_all", 1, 0, replace(FAST, lr_finetune=1e-2))
    start = _backbone(task.make_model(True))

    def distance(model):  # squared distance of the pretrained weights from where they started
        return sum((model.state_dict()[k] - v).pow(2).sum().item() for k, v in start.items())

    assert distance(held) < 0.5 * distance(free), (distance(held), distance(free))


def test_shifted_copies_move_each_image_two_pixels_each_way():
    images = torch.zeros(2, 1, 8, 8)
    images[:, 0, 4, 4] = 1
    copies = shifted_copies(images)
    assert copies.shape == (10, 1, 8, 8)
    where = [tuple(torch.nonzero(copies[j * 2, 0])[0].tolist()) for j in range(5)]
    assert where == [(4, 4), (4, 6), (4, 2), (6, 4), (2, 4)]  # same, right, left, down, up
    assert torch.equal(copies[:2], images)
    with pytest.raises(ValueError, match="batch of images"):
        shifted_copies(torch.zeros(8, 8))


def test_shifts_augmentation_trains_on_five_copies():
    task = limits_task(SMOKE)
    row = run_one(task, "finetune_all", 1, 0, replace(FAST, augment="shifts"))
    assert 0 <= row["accuracy"] <= 1


def test_shuffled_labels_keep_the_images_and_the_class_counts_but_not_the_pairs():
    images, labels = _data(200)
    data = ImageDataset(images, labels % 4, list("abcd"))
    shuffled = shuffled_labels(data, seed=0)
    assert torch.equal(shuffled.images, data.images)
    assert torch.equal(shuffled.labels.bincount(), data.labels.bincount())
    assert (shuffled.labels == data.labels).float().mean() < 0.5
    assert torch.equal(shuffled_labels(data, seed=0).labels, shuffled.labels)


def test_misleading_source_is_cached_and_has_learned_nothing_true(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    model, meta = misleading_cnn(SMOKE, progress=False)
    assert meta["samples"] == SMOKE.misleading_samples and meta["source_accuracy"] < 0.3
    assert len(list((tmp_path / "limits").glob("*.pt"))) == 1
    again, _ = misleading_cnn(SMOKE, progress=False)  # read back, weights_only
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    task = misleading_task(SMOKE, progress=False)
    assert task.name == "shuffled letters->digits" and len(task.test) == len(limits_task(SMOKE).test)
    start = task.make_model(True)
    assert torch.equal(start.block3[0].weight, model.block3[0].weight) and start.head.out_features == 10


def test_validation_split_comes_from_the_pool_apart_from_the_budget():
    task = limits_task(SMOKE)
    indices = few_shot_indices(task.pool, 2, seed=1)
    val = validation_indices(task, indices, seed=1)
    assert len(val) == 10 * task.num_classes and not torch.isin(val, indices).any()
    with pytest.raises(ValueError, match="few_shot_indices"):
        validation_indices(task, few_shot_indices(task.pool, 2, seed=2), seed=1)


def test_overfitting_history_has_train_and_validation_curves():
    frame = overfitting_history(limits_task(SMOKE), 1, 0, FAST).to_frame()
    assert {"train_accuracy", "val_accuracy", "train_loss", "val_loss"} <= set(frame.columns)
    assert frame["val_accuracy"].notna().sum() >= 2


def test_early_stopping_is_a_strategy_scored_on_the_test_set():
    task = limits_task(SMOKE)
    row = run_one(task, "early_stopping", 1, 0, replace(FAST, steps=3 * PATIENCE))
    assert 0 <= row["accuracy"] <= 1 and row["trainable_parameters"] > 300_000


def test_with_source_head_reads_the_backbone_through_the_old_head():
    source, _ = load_pretrained_cnn()
    digits_model = SmallCNN(num_classes=10)
    joined = with_source_head(digits_model, source)
    assert torch.equal(joined.head.weight, source.head.weight)
    assert torch.equal(joined.block2[0].weight, digits_model.block2[0].weight)
    unchanged = with_source_head(source, source)
    x = torch.rand(4, 1, 32, 32)
    assert torch.allclose(unchanged(x), source(x))


def test_a_probe_keeps_the_letters_and_fine_tuning_everything_does_not():
    task, letters = limits_task(SMOKE), letters_test_set(SMOKE)
    source, _ = load_pretrained_cnn()
    before = (source(letters.images).argmax(1) == letters.labels).float().mean().item()
    probe = forgetting(task, "linear_probe", 1, 0, FAST, letters)
    assert probe["letters_accuracy"] == pytest.approx(before, abs=1e-6) and before > 0.9
    full = forgetting(task, "finetune_all", 1, 0, replace(FAST, lr_finetune=1e-2), letters)
    assert full["letters_accuracy"] < before - 0.1, full
