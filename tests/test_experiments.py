"""Strategy comparisons: the table's shape, what each strategy trains, determinism, summaries."""
import dataclasses

import pandas as pd
import pytest
import torch

from tlcourse import get_profile
from tlcourse.experiments import (STRATEGIES, Settings, compare, describe, gain, load_results, run_one,
                                  save_results, summarize, train_network)
from tlcourse.freeze import named_blocks
from tlcourse.tasks import backbone_input, digits_task

FAST = Settings(steps=4, batch_size=16)


@pytest.fixture(scope="module")
def task():
    return digits_task(get_profile("smoke"))


def test_task_split_is_disjoint_and_balanced(task):
    assert len(task.test) == 200 and task.test.labels.bincount().tolist() == [20] * 10
    pool_set = {tuple(x.flatten()[::37].tolist()) for x in task.test.images[:50]}
    assert not any(tuple(x.flatten()[::37].tolist()) in pool_set for x in task.pool.images)


def test_pretrained_model_reuses_the_letters_backbone(task):
    torch.manual_seed(0)
    pre, scratch = task.make_model(True), task.make_model(False)
    pre_stem, scratch_stem = named_blocks(pre)["stem"][0].weight, named_blocks(scratch)["stem"][0].weight
    assert not torch.equal(pre_stem, scratch_stem)
    assert pre.head.out_features == 10


def test_compare_returns_one_row_per_run(task):
    results = compare(task, ["scratch", "linear_probe"], (1, 2), (0, 1), FAST, progress=False)
    assert len(results) == 2 * 2 * 2
    assert set(results.columns) >= {"strategy", "labels_per_class", "labels", "seed", "accuracy",
                                    "seconds", "trainable_parameters"}
    assert results["accuracy"].between(0, 1).all()
    assert sorted(results["labels"].unique()) == [10, 20]  # the total over the 10 classes


def test_trainable_parameters_follow_the_strategy(task):
    rows = {s: run_one(task, s, 1, 0, FAST) for s in STRATEGIES}
    blocks = named_blocks(task.make_model(True))
    size = {n: sum(p.numel() for p in b.parameters()) for n, b in blocks.items()}
    assert rows["linear_probe"]["trainable_parameters"] == 256 * 10 + 10
    assert rows["random_probe"]["trainable_parameters"] == 256 * 10 + 10
    assert rows["finetune_last_k"]["trainable_parameters"] == size["block3"] + size["head"]
    assert rows["finetune_all"]["trainable_parameters"] == sum(size.values())
    assert rows["scratch"]["trainable_parameters"] == sum(size.values())
    # FAST's 4 steps over 5 blocks: one step per phase, so the stem never joins
    assert rows["gradual_unfreeze"]["trainable_parameters"] == sum(size.values()) - size["stem"]
    full = run_one(task, "gradual_unfreeze", 1, 0, dataclasses.replace(FAST, steps=10))
    assert full["trainable_parameters"] == sum(size.values())


def test_runs_repeat_exactly_for_a_seed(task):
    a = run_one(task, "finetune_all", 2, 3, FAST)
    b = run_one(task, "finetune_all", 2, 3, FAST)
    assert a["accuracy"] == b["accuracy"]


def test_unknown_strategy_names_the_real_ones(task):
    with pytest.raises(ValueError, match="linear_probe"):
        run_one(task, "freeze_half", 1, 0, FAST)


def test_scratch_runs_use_their_own_steps_and_batch(task, monkeypatch):
    import tlcourse.experiments as experiments

    calls = []
    monkeypatch.setattr(experiments, "fit_for_steps", lambda model, train, steps, batch, *a, **k:
                        calls.append((steps, batch)))
    settings = Settings(steps=4, batch_size=16, scratch_steps=7, scratch_batch_size=8)
    run_one(task, "scratch", 1, 0, settings)
    run_one(task, "finetune_all", 1, 0, settings)
    run_one(task, "scratch", 1, 0, FAST)  # unset: the same as the fine-tuning runs
    assert calls == [(7, 8), (4, 16), (4, 16)]


def test_extra_strategies_of_a_task_run_through_the_same_runner(task):
    def majority(t, indices, settings):
        guess = t.pool.labels[indices].mode().values
        return (t.test.labels == guess).float().mean().item(), 0

    task = with_strategies(task, majority=majority)
    row = run_one(task, "majority", 1, 0, FAST)
    assert row["strategy"] == "majority" and row["accuracy"] == pytest.approx(0.1)
    assert row["labels"] == 10 and row["trainable_parameters"] == 0


def with_strategies(task, **extra):
    """A copy of ``task`` with its own feature cache and the given extra strategies."""
    return dataclasses.replace(task, extra_strategies=extra)


def test_random_backbone_features_leave_the_callers_random_stream_alone(task):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with_strategies(task).features(pretrained=False)  # a fresh task: features computed now
    assert torch.equal(torch.rand(3), expected)


def _table():
    return pd.DataFrame({"task": "t", "strategy": ["scratch"] * 2 + ["linear_probe"] * 2,
                         "labels_per_class": 1, "seed": [0, 1, 0, 1],
                         "accuracy": [0.4, 0.6, 0.7, 0.9], "seconds": 1.0,
                         "trainable_parameters": [100, 100, 10, 10]})


def test_summarize_and_gain_compute_mean_std_and_points():
    summary = summarize(_table()).set_index("strategy")
    assert summary.loc["scratch", "accuracy_mean"] == pytest.approx(0.5)
    assert summary.loc["linear_probe", "accuracy_std"] == pytest.approx(0.1414, abs=1e-4)
    assert summary.loc["scratch", "runs"] == 2
    assert gain(_table(), "linear_probe").loc[1] == pytest.approx(30.0)


def test_results_round_trip_and_missing_file(tmp_path):
    path = save_results(_table(), tmp_path / "runs" / "r.csv")
    pd.testing.assert_frame_equal(load_results(path), _table())
    with pytest.raises(FileNotFoundError, match="save_results"):
        load_results(tmp_path / "nothing.csv")


def test_settings_follow_the_profile():
    assert Settings.for_profile(get_profile("cpu")).steps == get_profile("cpu").finetune_steps
    assert Settings.for_profile(get_profile("smoke"), steps=3).steps == 3


def test_backbone_input_makes_normalised_colour_images():
    x = torch.rand(2, 1, 28, 28)
    y = backbone_input(64)(x)
    assert y.shape == (2, 3, 64, 64)
    assert y.min() >= -1 and y.max() <= 1 and torch.equal(y[:, 0], y[:, 2])


def test_describe_says_who_is_ahead_by_how_much():
    text = describe(_table(), "linear_probe")
    assert text.strip() == ("1 labels/class: linear_probe beats scratch by 30.0 points "
                            "(80.0% ± 14.1 vs 50.0% ± 14.1)")


def test_dihedral_augmentation_trains_on_eight_copies_of_each_label(task, monkeypatch):
    import tlcourse.experiments as experiments
    seen = []
    original = experiments.fit_for_steps

    def spy(model, train, *args, **kwargs):
        seen.append(len(train[1]))
        return original(model, train, *args, **kwargs)

    monkeypatch.setattr(experiments, "fit_for_steps", spy)
    for strategy in ("finetune_all", "finetune_last_k"):  # the full model, and the top on the cached prefix
        run_one(task, strategy, 1, 0, Settings(steps=1, batch_size=8, augment="dihedral"))
    assert seen == [8 * 10, 8 * 10]
    with pytest.raises(ValueError, match="choose None or one of"):
        run_one(task, "finetune_all", 1, 0, Settings(steps=1, augment="mixup"))


@pytest.mark.parametrize("strategy", ["scratch", "finetune_last_k", "gradual_unfreeze"])
def test_train_network_returns_the_model_the_runner_scored(task, strategy):
    model = train_network(task, strategy, 1, 0, FAST)
    assert not model.training
    accuracy = (model(task.test.images).argmax(1) == task.test.labels).float().mean().item()
    assert accuracy == pytest.approx(run_one(task, strategy, 1, 0, FAST)["accuracy"], abs=1e-6)


def test_train_network_refuses_probes(task):
    with pytest.raises(ValueError, match="probes have no network"):
        train_network(task, "linear_probe", 1, 0, FAST)


@pytest.fixture(scope="module")
def scans():
    from tlcourse.tasks import scans_task

    return scans_task(get_profile("smoke"))


@pytest.mark.slow
def test_scans_task_adds_the_adabn_probe_and_a_small_scratch_network(scans):
    from tlcourse.models import SmallCNN

    probe = run_one(scans, "adabn_probe", 2, 0, FAST)
    assert probe["trainable_parameters"] == 1280 * 2 + 2 and 0 <= probe["accuracy"] <= 1
    adapted = scans._adabn_features["pool"]
    assert adapted.shape == scans.features(True)[0].shape  # same images, same backbone weights...
    assert not torch.allclose(adapted, scans.features(True)[0])  # ...with the scans' BatchNorm statistics
    scratch = [run_one(scans, "small_scratch", 2, 0, FAST) for _ in range(2)]
    assert scratch[0]["accuracy"] == scratch[1]["accuracy"]  # seeded by the runner
    assert scratch[0]["trainable_parameters"] == sum(p.numel() for p in SmallCNN(2, in_channels=1).parameters())


def test_validation_task_scores_on_held_out_pool_examples_and_never_reads_the_test_set(task, monkeypatch):
    from tlcourse.experiments import validation_task

    val = validation_task(task, 5)
    assert val.test.labels.bincount().tolist() == [5] * 10
    assert len(val.pool) + len(val.test) == len(task.pool)
    assert not set(val.kept.tolist()) & set(val.validation.tolist())
    assert torch.equal(val.test.images, task.pool.images[val.validation])
    pool_x, val_x = val.features(True)  # the original pool's features, sliced
    assert torch.equal(val_x, task.features(True)[0][val.validation])
    monkeypatch.setattr(type(task), "test_data", lambda self: pytest.fail("the test set was read"))
    results = compare(val, ["scratch", "linear_probe", "finetune_last_k"], [1], [0], FAST, progress=False)
    assert set(results["task"]) == {f"{task.name} (validation)"}
    probe = run_one(val, "linear_probe", 1, 0, FAST)
    assert probe == {**probe, "accuracy": results.query("strategy == 'linear_probe'")["accuracy"].item()}
    # the runs' labels come from the rest of the pool, never from the validation examples
    drawn = val.train_data(torch.arange(len(val.pool)))
    assert torch.equal(drawn.images, task.pool.images[val.kept])
    with pytest.raises(ValueError, match="at least 1"):
        validation_task(task, 0)


def test_affine_augmentation_trains_on_new_versions_of_the_batch_at_every_step(task, monkeypatch):
    import tlcourse.experiments as experiments

    calls = []
    real = experiments.ON_THE_FLY["affine"]

    def counting():
        augment = real()
        return lambda batch: calls.append(len(batch)) or augment(batch)

    monkeypatch.setitem(experiments.ON_THE_FLY, "affine", counting)
    plain = run_one(task, "finetune_last_k", 1, 0, FAST)
    augmented = run_one(task, "finetune_last_k", 1, 0, dataclasses.replace(FAST, augment="affine"))
    assert calls and sum(calls) >= FAST.steps * 10  # at least the steps' batches of 10 labelled digits
    assert augmented["accuracy"] != plain["accuracy"]
    with pytest.raises(ValueError, match="choose None or one of"):
        run_one(task, "scratch", 1, 0, dataclasses.replace(FAST, augment="mixup"))
