"""The FreezePanel, driven headlessly: set widget values, click Train, check the trained weights."""
import importlib
import re
import sys
from pathlib import Path

import pytest
import torch

import tlcourse.widgets
from tlcourse.config import get_profile, seed_everything
from tlcourse.data import train_and_validation
from tlcourse.freeze import trainable_summary
from tlcourse.tasks import digits_task


@pytest.fixture(scope="module")
def task():
    return digits_task(get_profile("smoke"))


@pytest.fixture(scope="module")
def data(task):
    """20 training images (2 per class) and 100 validation images of the pool: one batch."""
    return train_and_validation(task.pool, 2, 10)


def _panel(task, data, module=tlcourse.widgets, **kwargs):
    return module.FreezePanel(lambda: task.make_model(True), *data, steps=1, **kwargs)


def _fresh(task, seed=0):
    seed_everything(seed)  # as the panel does, so the new head starts from the same weights
    return task.make_model(True)


def _size(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def _changed(trained, fresh, prefix):
    """Names of state entries (parameters and BatchNorm buffers) under ``prefix`` that differ."""
    before = fresh.state_dict()
    return [k for k, v in trained.state_dict().items()
            if k.startswith(prefix) and not torch.equal(v, before[k])]


def test_toggles_drive_the_count_label_and_the_next_model(task, data):
    panel = _panel(task, data)
    model = _fresh(task)
    assert panel.blocks == ["stem", "block1", "block2", "block3", "head"]
    assert panel.count_label.value.startswith(f"trainable: {_size(model.head):,} of {_size(model):,}")
    panel.toggles["block3"].value = True
    assert f"trainable: {_size(model.block3, model.head):,} of" in panel.count_label.value
    assert panel.count_label.value.endswith("in blocks: block3, head")
    panel.train_button.click()
    summary = trainable_summary(panel.model).set_index("block")
    assert list(summary.index[~summary["frozen"]]) == ["block3", "head"]


def test_head_only_training_leaves_the_backbone_bit_identical(task, data):
    panel = _panel(task, data)
    panel.train_button.click()
    fresh = _fresh(task)
    backbone = [k for k in fresh.state_dict() if not k.startswith("head.")]
    assert [k for k in backbone if not torch.equal(panel.model.state_dict()[k], fresh.state_dict()[k])] == []
    assert sorted(_changed(panel.model, fresh, "head.")) == ["head.bias", "head.weight"]
    assert panel.last_error is None and len(panel.results) == 1


def test_unfreezing_block3_trains_it_and_each_run_is_recorded(task, data):
    panel = _panel(task, data)
    panel.train_button.click()
    first = panel.model
    panel.toggles["block3"].value = True
    panel.train_button.click()
    fresh = _fresh(task)
    assert _changed(panel.model, fresh, "block3.0.weight") == ["block3.0.weight"]
    assert _changed(panel.model, fresh, "block2.") == []
    results = panel.results
    assert list(results["run"]) == [1, 2]
    assert list(results["trainable_blocks"]) == ["head", "block3, head"]
    assert list(results["trainable_params"]) == [_size(fresh.head), _size(fresh.block3, fresh.head)]
    assert results["best_val_accuracy"].between(0, 1).all() and (results["seconds"] > 0).all()
    # The same settings again: same seed, same head start, so the same weights on CPU.
    panel.train(trainable=["head"])
    assert torch.equal(panel.model.head.weight, first.head.weight)
    assert len(panel.results) == 3 and len(panel.histories) == 3


@pytest.mark.parametrize("policy, stats_move", [("train_all", True), ("frozen_eval", False)])
def test_batchnorm_statistics_of_frozen_blocks_move_only_under_train_all(task, data, policy, stats_move):
    panel = _panel(task, data)
    panel.bn_dropdown.value = policy
    panel.train_button.click()
    fresh = _fresh(task)
    assert _changed(panel.model, fresh, "stem.0.weight") == []  # frozen weights stay frozen
    assert bool(_changed(panel.model, fresh, "stem.1.running_mean")) == stats_move
    assert panel.results["bn_policy"].tolist() == [policy]


def test_scratch_baseline_is_trained_once_and_plotted_under_every_run(task, data):
    panel = _panel(task, data, make_scratch_model=lambda: task.make_model(False))
    panel.train_button.click()
    scratch = panel.histories["scratch"]
    panel.train(lr=3e-3)
    assert panel.histories["scratch"] is scratch
    assert list(panel.histories) == ["scratch", "run 1: head, lr 1e-03", "run 2: head, lr 3e-03"]
    ax = panel.plot()
    assert [line.get_label() for line in ax.lines] == list(panel.histories)
    assert len(panel.results) == 2  # the baseline is a curve to beat, not a run


def test_all_frozen_click_shows_a_message_not_a_traceback(task, data):
    panel = _panel(task, data)
    panel.toggles["head"].value = False
    assert "every block is frozen" in panel.count_label.value
    panel.train_button.click()
    assert "Every block is frozen" in panel.last_error
    shown = "".join(o.get("text", "") for o in panel.output.outputs)
    assert shown.startswith("Could not train: Every block is frozen")
    assert len(panel.results) == 0 and panel.model is None
    assert not panel.train_button.disabled
    with pytest.raises(ValueError, match="Every block is frozen"):
        panel.train(trainable=[])


def test_unknown_block_names_raise_freezes_error_listing_the_real_blocks(task, data):
    panel = _panel(task, data)
    with pytest.raises(ValueError, match=r"no block\(s\) \['block9'\].*'stem', 'block1'"):
        panel.train(trainable=["block9", "head"])
    assert len(panel.results) == 0


@pytest.fixture
def without_ipywidgets(monkeypatch):
    """The widgets module as imported where ipywidgets is not installed."""
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    yield importlib.reload(tlcourse.widgets)
    monkeypatch.undo()
    importlib.reload(tlcourse.widgets)


def test_without_ipywidgets_the_panel_still_trains(task, data, without_ipywidgets, capsys):
    assert without_ipywidgets.widgets is None
    panel = _panel(task, data, module=without_ipywidgets)
    assert panel.widget is None and not hasattr(panel, "toggles")
    row = panel.train(trainable=["block3", "head"], decay=0.5)
    assert row["trainable_blocks"] == "block3, head" and len(panel.results) == 1
    assert panel.plot().lines
    panel._ipython_display_()
    assert "pip install ipywidgets" in capsys.readouterr().out


def _rows(images):
    return {tuple(x.flatten().tolist()) for x in images}


def test_from_task_validates_on_pool_examples_never_on_the_test_set(task):
    panel = tlcourse.widgets.FreezePanel.from_task(task, 2, 3, steps=1)
    train_x, train_y = panel.train_data.images, panel.train_data.labels
    val_x, val_y = panel.val_data.images, panel.val_data.labels
    assert train_y.bincount().tolist() == [2] * 10 and val_y.bincount().tolist() == [3] * 10
    assert _rows(val_x) <= _rows(task.pool.images) and _rows(train_x) <= _rows(task.pool.images)
    assert not _rows(val_x) & _rows(task.test.images) and not _rows(val_x) & _rows(train_x)
    assert panel.train()["best_val_accuracy"] is not None and "scratch" in panel.histories


def panel_calls(source: str) -> list[str]:
    """Every ``FreezePanel...(...)`` call in ``source``, up to its matching parenthesis."""
    calls = []
    for match in re.finditer(r"FreezePanel[.\w]*\(", source):
        depth, end = 0, match.end() - 1
        for end in range(match.end() - 1, len(source)):
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            if depth == 0:
                break
        calls.append(source[match.start():end + 1])
    return calls


@pytest.mark.parametrize("notebook", ["03_fine_tuning", "04_nlp_transfer"])
def test_notebook_panels_draw_their_validation_set_from_the_pool(notebook):
    source = (Path(__file__).resolve().parents[1] / "notebooks" / f"{notebook}.py").read_text()
    calls = panel_calls(source)
    assert calls, f"{notebook} builds no FreezePanel"
    for call in calls:
        assert call.startswith("FreezePanel.from_task("), f"build the panel with from_task: {call}"
        assert "test" not in call, f"the panel must not see the test set: {call}"


def test_a_run_takes_the_same_steps_whatever_the_label_budget(task):
    few, many = train_and_validation(task.pool, 2, 1), train_and_validation(task.pool, 8, 1)
    rows = [tlcourse.widgets.FreezePanel(lambda: task.make_model(True), *data, steps=8,
                                         batch_size=16).train() for data in (few, many)]
    assert [(r["steps"], r["epochs"]) for r in rows] == [(8, 4), (10, 2)]  # 20 images: 2 batches of 16, 80: 5
    default = tlcourse.widgets.FreezePanel(lambda: task.make_model(True), *few)
    assert default.settings()["steps"] == get_profile("smoke").finetune_steps


def test_table_formats_times_rates_and_accuracies_for_reading(task, data):
    panel = _panel(task, data)
    panel._rows.append(panel.results.iloc[:0].to_dict() | {
        "run": 1, "trainable_blocks": "head", "lr": 1e-3, "decay": 1.0, "bn_policy": "frozen_eval",
        "steps": 15, "epochs": 15, "trainable_params": 2570, "final_val_accuracy": 0.5,
        "best_val_accuracy": 0.6133, "seconds": 0.054896, "images_per_second": 1821.810347})
    row = panel.table().iloc[0]
    assert (row["seconds"], row["images_per_second"], row["best_val_accuracy"]) == ("0.0549 s", "1,822", "61.3%")
    assert (row["lr"], row["trainable_params"]) == ("1e-03", "2,570")
    assert list(panel.table(["run", "seconds"]).columns) == ["run", "seconds"]


def test_a_long_run_of_short_epochs_validates_at_most_curve_points_times(task, data):
    panel = tlcourse.widgets.FreezePanel(lambda: task.make_model(True), *data, steps=61)
    row = panel.train()  # 20 images in one batch: 61 epochs, validated every 3rd and after the last
    validated = panel.histories["run 1: head, lr 1e-03"].to_frame()["val_accuracy"].dropna()
    assert row["epochs"] == 61 and len(validated) == 21 <= tlcourse.widgets.CURVE_POINTS
    assert len(panel.plot().lines[0].get_xdata()) == 21


def test_a_default_run_of_every_block_is_finetune_alls_run_on_the_same_labels(task):
    from tlcourse.experiments import Settings, train_network

    panel = tlcourse.widgets.FreezePanel.from_task(task, 5, 10, scratch=False)  # 50 images: 2 batches
    panel.train(trainable=panel.blocks)
    model = train_network(task, "finetune_all", 5, 0, Settings.for_profile(get_profile()))
    mine, theirs = panel.model.state_dict(), model.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
