"""Plots draw what they are given and explain bad input."""
import matplotlib

matplotlib.use("Agg")
import pandas as pd
import pytest
import torch

from tlcourse import plots
from tlcourse.models import SmallCNN
from tlcourse.train import History


def _summary():
    return pd.DataFrame({"task": "t", "strategy": ["scratch", "scratch", "probe", "probe"],
                         "labels_per_class": [1, 5, 1, 5], "accuracy_mean": [0.3, 0.7, 0.6, 0.8],
                         "accuracy_std": [0.01, 0.02, 0.05, 0.01], "runs": 3, "seconds": 1.0,
                         "trainable_parameters": 10})


def test_data_efficiency_draws_one_line_per_strategy_on_log_x():
    ax = plots.data_efficiency(_summary())
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["scratch", "probe"]
    assert len(ax.containers) == 2  # error bars


def test_compare_strategies_bars_and_missing_budget():
    ax = plots.compare_strategies(_summary(), 5)
    assert [round(p.get_height()) for p in ax.patches] == [70, 80]
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        plots.compare_strategies(_summary(), 50)


def test_learning_curves_need_the_metric():
    history = History([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}])
    ax = plots.learning_curves({"run": history}, metric="train_loss")
    assert list(ax.lines[0].get_ydata()) == [1.0, 0.5]
    with pytest.raises(ValueError, match="validation"):
        plots.learning_curves({"run": history})


def test_filters_and_feature_maps():
    model = SmallCNN()
    fig = plots.first_layer_filters(model.stem[0].weight)
    assert sum(ax.has_data() for ax in fig.axes) == 32
    fig = plots.feature_maps(model, torch.rand(1, 32, 32), "block1", channels=8)
    assert sum(ax.has_data() for ax in fig.axes) == 8
    with pytest.raises(ValueError, match="block1"):
        plots.feature_maps(model, torch.rand(1, 32, 32), "layer9")
    with pytest.raises(ValueError, match="conv weight"):
        plots.first_layer_filters(model.head.weight)


def test_feature_scatter_colours_each_class():
    features = torch.cat([torch.randn(20, 8), torch.randn(20, 8) + 5])
    labels = torch.tensor([0] * 20 + [1] * 20)
    ax = plots.feature_scatter(features, labels, ["a", "b"])
    assert len(ax.collections) == 2
    assert [len(c.get_offsets()) for c in ax.collections] == [20, 20]


def test_confusion_matrix_counts_each_true_and_predicted_pair():
    ax = plots.confusion_matrix(torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 1, 1, 0]), ["ok", "bad"])
    assert ax.images[0].get_array().tolist() == [[1, 1], [1, 2]]  # rows: true class, columns: predicted
    assert [t.get_text() for t in ax.texts] == ["1", "1", "1", "2"]
    with pytest.raises(ValueError, match="one entry per example"):
        plots.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]), ["ok", "bad"])


def test_heatmap_grid_lays_each_heatmap_over_its_image():
    images, heat = torch.rand(3, 1, 8, 8), torch.rand(3, 8, 8)
    fig = plots.heatmap_grid(images, heat, titles=["a", "b", "c"], columns=2)
    overlays = [ax for ax in fig.axes if len(ax.images) == 2]
    assert len(overlays) == 3 and [ax.get_title() for ax in fig.axes if ax.get_title()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="one heatmap per image"):
        plots.heatmap_grid(images, torch.rand(2, 8, 8))
