"""Plots a learner would rather look at than read: photos, curves, comparisons, filters."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator


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


def learning_curves(histories: dict, metric: str = "val_accuracy", ax=None):
    """One line per run: ``metric`` per epoch (epochs without it, e.g. not validated, are
    skipped). ``histories`` maps a label to a History or a DataFrame with an ``epoch`` column.
    Returns the Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for label, history in histories.items():
        frame = history.to_frame() if hasattr(history, "to_frame") else history
        if metric not in frame:
            raise ValueError(f"No {metric!r} in the history of {label!r}; it has {list(frame.columns)}"
                             " (val_* columns need validation data passed to fit).")
        frame = frame.dropna(subset=[metric])
        ax.plot(frame["epoch"], frame[metric], marker="o", markersize=3, label=str(label))
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def train_and_validation(history, ax=None, title: str | None = None):
    """Train and validation accuracy of one run, per epoch (a History or its DataFrame): the gap
    between the two lines is what the model memorised rather than learned. Returns the Axes."""
    frame = history.to_frame() if hasattr(history, "to_frame") else history
    if "val_accuracy" not in frame:
        raise ValueError("The history has no validation accuracy: train with fit(..., val=...).")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    validated = frame.dropna(subset=["val_accuracy"])
    ax.plot(frame["epoch"], 100 * frame["train_accuracy"], label="train (the labelled images)")
    ax.plot(validated["epoch"], 100 * validated["val_accuracy"], marker="o", markersize=3,
            label="validation (other pool images)")
    ax.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 102), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def data_efficiency(summary: pd.DataFrame, ax=None, title: str | None = None):
    """Accuracy (mean ± std over seeds) against labels per class, log x, one line per strategy.

    ``summary`` is the output of :func:`tlcourse.experiments.summarize`. Returns the Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    for strategy, part in summary.groupby("strategy", sort=False):
        part = part.sort_values("labels_per_class")
        ax.errorbar(part["labels_per_class"], part["accuracy_mean"] * 100,
                    yerr=part["accuracy_std"] * 100, marker="o", capsize=3, label=strategy)
    ax.set_xscale("log")
    budgets = sorted(int(b) for b in summary["labels_per_class"].unique())
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set_xlabel("labelled examples per class (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def compare_strategies(summary: pd.DataFrame, labels_per_class: int, ax=None):
    """Bars with error bars: each strategy's accuracy at one label budget. Returns the Axes."""
    part = summary[summary["labels_per_class"] == labels_per_class]
    if part.empty:
        raise ValueError(f"No results for {labels_per_class} labels per class; the summary has "
                         f"{sorted(int(b) for b in summary['labels_per_class'].unique())}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(part["strategy"], part["accuracy_mean"] * 100, yerr=part["accuracy_std"] * 100,
           capsize=4, color=plt.cm.tab10.colors[: len(part)])
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{labels_per_class} labelled examples per class (mean ± std over seeds)")
    ax.tick_params(axis="x", rotation=20)
    return ax


def image_grid(images, titles=None, columns: int = 8, cmap: str = "gray", size: float = 1.3):
    """Small images (a tensor N x C x H x W, or N x H x W) in a grid. Returns the Figure."""
    images = images.detach().cpu()
    if images.dim() == 4:
        images = images[:, 0] if images.shape[1] == 1 else images.permute(0, 2, 3, 1)
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            img = images[i]
            img = (img - img.min()) / (img.max() - img.min() + 1e-8)  # filters have any sign
            ax.imshow(img.numpy(), cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def first_layer_filters(conv_weight, columns: int = 8):
    """The first convolution's kernels as images: what the network looks for at the start."""
    weight = conv_weight.detach().cpu()
    if weight.dim() != 4:
        raise ValueError(f"Expected a conv weight (out, in, kh, kw), got shape {tuple(weight.shape)}.")
    return image_grid(weight if weight.shape[1] in (1, 3) else weight[:, :1], columns=columns)


def feature_maps(model, image, block: str, channels: int = 16, columns: int = 8):
    """What one block outputs for one image: its first ``channels`` activation maps.

    ``image`` is one preprocessed input (C, H, W); ``block`` a name from
    ``tlcourse.freeze.named_blocks(model)``. Returns the Figure.
    """
    import torch

    from .freeze import named_blocks

    blocks = named_blocks(model)
    if block not in blocks:
        raise ValueError(f"No block {block!r}; the blocks are {list(blocks)}.")
    captured = []
    hook = blocks[block].register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        with torch.no_grad():
            model.eval()(image.unsqueeze(0).to(next(model.parameters()).device))
    finally:
        hook.remove()
    if not captured:
        raise ValueError(f"Block {block!r} groups several layers and is never called as one; "
                         f"pick one of the others: {list(blocks)}.")
    maps = captured[0][0, :channels].unsqueeze(1)
    return image_grid(maps, columns=columns)


def feature_scatter(features, labels, classes, ax=None, title: str | None = None):
    """Features (N, D) projected on their first two principal components, coloured by class.

    Classes that form separate clouds are easy for a linear head. Returns the Axes.
    """
    from sklearn.decomposition import PCA

    points = PCA(n_components=2, random_state=0).fit_transform(features.detach().cpu().numpy())
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    labels = labels.cpu().numpy()
    for c, name in enumerate(classes):
        mask = labels == c
        ax.scatter(points[mask, 0], points[mask, 1], s=6, alpha=0.6, label=str(name))
    _pca_axes(ax, title)
    ax.legend(fontsize=6, markerscale=2, ncol=2, loc="best")
    return ax


def _pca_axes(ax, title: str | None) -> None:
    """No ticks (principal-component units mean nothing to a reader), axis names, the title."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    if title:
        ax.set_title(title, fontsize=10)


def domain_scatter(source_points, target_points, ax=None, title: str | None = None):
    """Source and target points ``(N, 2)`` (from :func:`tlcourse.adapt.project_2d`) in two colours:
    two separate clouds mean a classifier can tell the domains apart. Returns the Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    for points, name in ((source_points, "source"), (target_points, "target")):
        points = points.detach().cpu().numpy()
        ax.scatter(points[:, 0], points[:, 1], s=5, alpha=0.4, label=name)
    _pca_axes(ax, title)
    ax.legend(fontsize=8, markerscale=3)
    return ax


def confusion_matrix(labels, predictions, classes, ax=None, title: str | None = None):
    """Counts of (true class, predicted class) for labels and predictions ``(N,)`` as a grid:
    the diagonal is right, each off-diagonal cell one kind of mistake. Returns the Axes."""
    import torch

    labels, predictions = torch.as_tensor(labels).cpu(), torch.as_tensor(predictions).cpu()
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and predictions {tuple(predictions.shape)} "
                         "must have one entry per example each.")
    n = len(classes)
    counts = torch.bincount(labels * n + predictions, minlength=n * n).reshape(n, n)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 0.7 * n, 1 + 0.6 * n))
    ax.imshow(counts.numpy(), cmap="Blues")
    for (i, j), count in zip(((i, j) for i in range(n) for j in range(n)), counts.flatten().tolist()):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > counts.max().item() / 2 else "black")
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=30)
    ax.set_yticks(range(n), [str(c) for c in classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def heatmap_grid(images, heatmaps, titles=None, columns: int = 4, size: float = 2.2):
    """Each image ``(N, C, H, W)`` (grey or RGB, in [0, 1]) beside itself with its heatmap
    ``(N, H, W)`` in [0, 1] laid over it (Grad-CAM: where the evidence for the class is).
    Returns the Figure."""
    images, heatmaps = images.detach().cpu(), heatmaps.detach().cpu()
    if len(images) != len(heatmaps) or images.shape[-2:] != heatmaps.shape[-2:]:
        raise ValueError(f"one heatmap per image at the image's size: images {tuple(images.shape)}, "
                         f"heatmaps {tuple(heatmaps.shape)}.")
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(2 * rows, columns, figsize=(size * columns, 2 * size * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (image, heat) in enumerate(zip(images, heatmaps)):
        top, bottom = axes[2 * (i // columns), i % columns], axes[2 * (i // columns) + 1, i % columns]
        picture = image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)
        top.imshow(picture.numpy(), cmap="gray")
        bottom.imshow(picture.numpy(), cmap="gray")
        bottom.imshow(heat.numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        if titles is not None:
            top.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def spectrogram_grid(images, titles=None, columns: int = 5, size: float = 1.7):
    """Spectrogram images ``(N, 1, bands, frames)`` (from :func:`tlcourse.data.spectrogram_images`)
    in a grid: time runs left to right, low frequencies at the bottom, loud is bright.
    Returns the Figure."""
    images = images.detach().cpu()
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"spectrogram_grid takes (N, 1, bands, frames) spectrograms; got {tuple(images.shape)}.")
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i, 0].numpy(), origin="lower", cmap="magma", aspect="auto", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def players(waveforms, sample_rate: int, captions):
    """An audio player per clip ``(N, T)`` with its caption above it, in one HTML table: what a
    learner should hear before reading any number. Returns an ``IPython.display.HTML``."""
    from html import escape

    from IPython.display import HTML, Audio

    waveforms = waveforms.detach().cpu()
    if waveforms.dim() != 2 or len(waveforms) != len(captions):
        raise ValueError(f"players takes clips (N, T) and N captions; got {tuple(waveforms.shape)} and "
                         f"{len(captions)} captions.")
    cells = [f"<td style='padding:4px'><div style='font-size:80%'>{escape(str(caption))}</div>"
             f"{Audio(wave.numpy(), rate=sample_rate, normalize=False)._repr_html_()}</td>"
             for wave, caption in zip(waveforms, captions)]
    rows = ["<tr>" + "".join(cells[i:i + 4]) + "</tr>" for i in range(0, len(cells), 4)]
    return HTML("<table>" + "".join(rows) + "</table>")


def _count(n: float) -> str:
    """12810 -> "13k", 4_007_000 -> "4.0M": parameter counts that fit in a map cell."""
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else f"{n:.0f}"


def decision_heatmap(best: pd.DataFrame, ax=None, title: str | None = None):
    """Notebook 08's map: source similarity (rows) x labels per class (columns), each cell
    coloured by the best transfer strategy's gain over no transfer (points; red: transfer lost)
    and labelled with that strategy, its seconds per run and trainable parameters. ``best`` is
    :func:`tlcourse.evidence.decision_map`'s table. Returns the Axes."""
    rows, columns = list(best["similarity"].cat.categories), list(best["budget"].cat.categories)
    gains = best.pivot_table(index="similarity", columns="budget", values="gain", observed=False, aggfunc="first")
    gains = gains.reindex(index=rows, columns=columns)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.3 * len(columns) + 1.5, 1.4 * len(rows) + 1))
    limit = max(1.0, float(gains.abs().max().max()))
    image = ax.imshow(gains.to_numpy(dtype=float), cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    for _, cell in best.iterrows():
        text = (f"{cell['gain']:+.1f} points\n{cell['strategy']}\n{cell['task']}\n"
                f"{cell['seconds']:.2g} s, {_count(cell['trainable_parameters'])} params")
        ax.text(columns.index(cell["budget"]), rows.index(cell["similarity"]), text, ha="center", va="center",
                fontsize=7)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("labelled examples per class")
    ax.set_ylabel("source similarity")
    ax.figure.colorbar(image, ax=ax, label="gain over no transfer (points)")
    ax.set_title(title or "best transfer strategy per cell (empty: not measured)")
    return ax


def gap_intervals(gaps: pd.DataFrame, ax=None, title: str | None = None):
    """Score gaps with their confidence intervals, one row per contrast and one colour per model.

    ``gaps`` is :func:`tlcourse.bias.audit_sentiment`'s table (columns contrast, model, gap, low,
    high, in points). A dashed line marks no gap; an interval that crosses it is no evidence of
    one. Returns the Axes."""
    contrasts = list(dict.fromkeys(gaps["contrast"]))
    models = list(dict.fromkeys(gaps["model"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.6 * len(contrasts) * len(models) + 1))
    for m, model in enumerate(models):
        part = gaps[gaps["model"] == model].set_index("contrast").loc[contrasts]
        y = [c * (len(models) + 1) + m for c in range(len(contrasts))]
        ax.errorbar(part["gap"], y, xerr=[part["gap"] - part["low"], part["high"] - part["gap"]],
                    fmt="o", capsize=3, label=model)
    ax.set_yticks([c * (len(models) + 1) + (len(models) - 1) / 2 for c in range(len(contrasts))], contrasts)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("mean gap in P(positive), points (95% bootstrap interval)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
