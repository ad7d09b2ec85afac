"""Plots a learner would rather look at than read: photos, curves, comparisons, filters."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd


def photo_grid(photos: dict, labels: pd.DataFrame | None = None, columns: int = 3):
    """Photos in a grid; with ``labels`` (from ``label_photos``) each title is the top-1 class.

    Returns the matplotlib Figure.
    """
    rows = math.ceil(len(photos) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, image) in zip(axes.flat, photos.items()):
        ax.imshow(image)
        title = name
        if labels is not None:
            best = labels[(labels["photo"] == name) & (labels["rank"] == 1)].iloc[0]
            title = f"{name}: {best['class']} ({best['probability']:.0%})"
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
