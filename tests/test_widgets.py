"""The FreezePanel, driven headlessly: set widget values, click Train, check the trained weights."""
import importlib
import sys

import pytest
import torch

import tlcourse.widgets
from tlcourse.config import get_profile, seed_everything
from tlcourse.data import few_shot_subset
from tlcourse.freeze import trainable_summary
from tlcourse.tasks import digits_task


@pytest.fixture(scope="module")
def task():
    return digits_task(get_profile("smoke"))


@pytest.fixture(scope="module")
def data(task):
    """20 training images (2 per class) and 100 validation images: one batch, fast epochs."""
    return few_shot_subset(task.pool, 2), few_shot_subset(task.test, 10)


def _panel(task, data, module=tlcourse.widgets, **kwargs):
    return module.FreezePanel(lambda: task.make_model(True), *data, epochs=1, **kwargs)


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
