"""Data sets that must be downloaded once: torchvision image sets and Hugging Face text sets.

Every loader first looks in the cache directory (``cache_dir()/"torchvision"`` and
``cache_dir()/"hf"/<name>``) and only then asks for the network. Offline, it fails at
once with an OfflineError that names the offline data set to use instead.

Image sets are large, so they come back as a :class:`LazyImageDataset`: labels and
classes in memory, images decoded and resized when indexed.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset

from ..config import cache_dir
from ..errors import require
from ..online import require_online
from .core import DatasetCard, ImageDataset, TextDataset, as_index, check_choice, check_size
from .splits import stratified_split


class LazyImageDataset(Dataset):
    """A torchvision data set seen through a list of positions; images load when indexed.

    ``labels`` int64 (N,), ``classes`` and ``card`` are in memory; ``ds[i]`` is
    ``(image float32 (3, size, size) in [0, 1], label)``. ``subset`` is cheap.
    """

    def __init__(self, base, labels, classes, card: DatasetCard, indices=None):
        self.base = base  # a torchvision data set whose transform yields (3, size, size) tensors
        self.indices = torch.arange(len(base)) if indices is None else as_index(indices)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.classes = list(classes)
        self.card = card

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        image, _ = self.base[int(self.indices[i])]
        return image, self.labels[i]

    def subset(self, indices) -> LazyImageDataset:
        """The examples at ``indices`` (positions or a boolean mask); no image is decoded."""
        idx = as_index(indices)
        return LazyImageDataset(self.base, self.labels[idx], self.classes, self.card, self.indices[idx])

    def materialize(self) -> ImageDataset:
        """Decode every image into an in-memory ImageDataset; meant for small subsets."""
        images = torch.stack([self[i][0] for i in range(len(self))])
        return ImageDataset(images, self.labels, self.classes, self.card)

    def __repr__(self) -> str:
        return f"LazyImageDataset({self.card.name!r}: {len(self)} images, {len(self.classes)} classes)"


@dataclass(frozen=True)
class TorchvisionSource:
    """How to open one torchvision data set: ``open(root, split, transform, download) -> (data, labels)``."""

    open: Callable
    splits: tuple[str, ...]
    default_size: int  # the side images are resized and centre-cropped to
    url: str  # probed before downloading
    alternative: str  # the offline data set to suggest
    card: DatasetCard


def _open_cifar10(root, split, transform, download):
    from torchvision.datasets import CIFAR10

    data = CIFAR10(root, train=split == "train", transform=transform, download=download)
    return data, data.targets


def _open_flowers102(root, split, transform, download):
    from torchvision.datasets import Flowers102

    data = Flowers102(root, split=split, transform=transform, download=download)
    return data, data._labels  # torchvision 0.29 keeps the labels only here; reading them avoids decoding


def _open_oxford_pets(root, split, transform, download):
    from torchvision.datasets import OxfordIIITPet

    data = OxfordIIITPet(root, split="trainval" if split == "train" else "test",
                         transform=transform, download=download)
    return data, data._labels  # as for Flowers102: the labels without decoding every image


def _open_eurosat(root, split, transform, download):
    from torchvision.datasets import EuroSAT

    data = EuroSAT(root, transform=transform, download=download)
    return data, data.targets  # EuroSAT has no official split: load_torchvision makes one


def _card(name: str, description: str, license: str, size: int, classes: int, citation: str,
          url: str, input: str) -> DatasetCard:
    return DatasetCard(name=name, description=description, source=f"downloaded on first use; see {url}",
                       license=license, size=size, classes=classes, input=input, offline=False,
                       citation=citation, url=url)


TORCHVISION = {
    "cifar10": TorchvisionSource(
        _open_cifar10, ("train", "test"), 32, "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "load('glyphs') (rendered characters) or load('mnist5k') (real digits)",
        _card("cifar10", "60,000 tiny colour photos of 10 object classes (50,000 train, 10,000 test).",
              "no explicit license; the authors ask that the tech report be cited", 50_000, 10,
              "Krizhevsky (2009). Learning Multiple Layers of Features from Tiny Images. Tech. report, "
              "University of Toronto.", "https://www.cs.toronto.edu/~kriz/cifar.html",
              "3x32x32 RGB in [0, 1]")),
    "flowers102": TorchvisionSource(
        _open_flowers102, ("train", "val", "test"), 224, "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
        "load('faces') or load('solar_cells')",
        _card("flowers102", "8,189 photos of 102 flower species: 10 per class in train and in val, "
              "6,149 in test; a classic few-shot transfer target.",
              "no explicit license; published by the Visual Geometry Group, Oxford, for research", 1_020, 102,
              "Nilsback & Zisserman (2008). Automated flower classification over a large number of "
              "classes. ICVGIP.",
              "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/", "3x224x224 RGB in [0, 1]")),
    "oxford_pets": TorchvisionSource(
        _open_oxford_pets, ("train", "test"), 224, "https://www.robots.ox.ac.uk/~vgg/data/pets/",
        "load('faces') or load('solar_cells')",
        _card("oxford_pets", "7,349 photos of 37 cat and dog breeds (train = the official trainval "
              "split, 3,680; test 3,669).", "CC BY-SA 4.0", 3_680, 37,
              "Parkhi, Vedaldi, Zisserman & Jawahar (2012). Cats and dogs. CVPR.",
              "https://www.robots.ox.ac.uk/~vgg/data/pets/", "3x224x224 RGB in [0, 1]")),
    "eurosat": TorchvisionSource(
        _open_eurosat, ("train", "test"), 64, "https://huggingface.co/datasets/torchgeo/eurosat",
        "load('solar_cells') (another imaging domain far from photos)",
        _card("eurosat", "27,000 Sentinel-2 satellite patches (RGB) of 10 land-use classes; train/test "
              "is tlcourse's stratified 80/20 split with seed 0.", "MIT", 21_600, 10,
              "Helber, Bischke, Dengel & Borth (2019). EuroSAT: A novel dataset and deep learning benchmark "
              "for land use and land cover classification. IEEE JSTARS.",
              "https://github.com/phelber/eurosat", "3x64x64 RGB in [0, 1]")),
}


def _transform(size: int):
    """PIL image -> float32 (3, size, size) in [0, 1]: shorter side to ``size``, then centre crop."""
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(size, antialias=True), transforms.CenterCrop(size),
                               transforms.ToTensor()])


def _open_cached_or_download(name: str, source: TorchvisionSource, split: str, transform):
    """Open the copy under ``cache_dir()/"torchvision"``; download it only if it is absent."""
    root = cache_dir() / "torchvision"
    try:
        return source.open(root, split, transform, download=False)
    except RuntimeError:  # torchvision's "Dataset not found or corrupted"
        pass
    require_online(f"The {name} data set", source.url, source.alternative)
    return source.open(root, split, transform, download=True)


def load_torchvision(name: str, split: str = "train", size: int | None = None) -> LazyImageDataset:
    """One torchvision image set as a LazyImageDataset of (3, size, size) images in [0, 1].

    ``size`` defaults to the set's usual side (CIFAR-10 32, EuroSAT 64, photos 224).
    """
    source = TORCHVISION[name]
    check_choice("split", split, source.splits)
    size = check_size(source.default_size if size is None else size)
    data, labels = _open_cached_or_download(name, source, split, _transform(size))
    ds = LazyImageDataset(data, labels, data.classes, source.card)
    if name == "eurosat":  # no official split: carve a fixed, stratified one
        ds = stratified_split(ds, test_fraction=0.2, seed=0)[split == "test"]
    ds.card = replace(source.card, size=len(ds), input=f"3x{size}x{size} RGB in [0, 1]")
    return ds


@dataclass(frozen=True)
class HFSource:
    """A Hugging Face binary sentiment data set: its hub path, text column and labelled splits."""

    path: str
    text_column: str
    splits: tuple[str, ...]
    card: DatasetCard


HF = {
    "sst2": HFSource("stanfordnlp/sst2", "sentence", ("train", "validation"), _card(
        "sst2", "Stanford Sentiment Treebank, binary: 67,349 movie-review phrases for training and 872 "
        "sentences for validation (the test labels are hidden by GLUE).",
        "not stated by the authors (the Hugging Face card says 'unknown')", 67_349, 2,
        "Socher et al. (2013). Recursive deep models for semantic compositionality over a sentiment "
        "treebank. EMNLP.", "https://huggingface.co/datasets/stanfordnlp/sst2", "text (one sentence)")),
    "imdb": HFSource("stanfordnlp/imdb", "text", ("train", "test"), _card(
        "imdb", "50,000 IMDB movie reviews, 25,000 train and 25,000 test, half positive.",
        "not stated by the authors; distributed for research", 25_000, 2,
        "Maas et al. (2011). Learning word vectors for sentiment analysis. ACL.",
        "https://huggingface.co/datasets/stanfordnlp/imdb", "text (one review, often several paragraphs)")),
}


def _hf_dataset_dict(name: str, source: HFSource):
    """The DatasetDict saved under ``cache_dir()/"hf"/name``, else from the HF cache or the Hub."""
    datasets = require("datasets", why="It loads the Hugging Face text data sets (sst2, imdb).")
    saved = cache_dir() / "hf" / name
    if (saved / "dataset_dict.json").exists():
        return datasets.load_from_disk(str(saved))
    if datasets.config.HF_HUB_OFFLINE:  # then load_dataset reads the HF cache and never the network
        try:
            return datasets.load_dataset(source.path)
        except (OSError, ValueError):  # not in the HF cache either
            pass
    require_online(f"The {name} data set", "https://huggingface.co", "load('tweets') (real tweets)")
    data = datasets.load_dataset(source.path)
    _save_to_disk_atomic(data, saved)  # next time: no Hub, no network
    return data


def _save_to_disk_atomic(data, saved: Path) -> None:
    """``data.save_to_disk(saved)`` via a temporary folder beside it, renamed when complete: a crash
    mid-save leaves no folder that a later run would take for a whole copy."""
    partial = saved.with_name(f".{saved.name}.{os.getpid()}.tmp")
    try:
        data.save_to_disk(str(partial))
        shutil.rmtree(saved, ignore_errors=True)  # a half copy written before saves were atomic
        os.replace(partial, saved)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def load_hf_text(name: str, split: str = "train") -> TextDataset:
    """A Hugging Face sentiment set as a TextDataset with classes ``["negative", "positive"]``.

    Only labelled splits are offered: SST-2's test labels are hidden by GLUE, IMDB's
    "unsupervised" split has none.
    """
    source = HF[name]
    check_choice("split", split, source.splits)
    table = _hf_dataset_dict(name, source)[split]
    labels = torch.tensor(list(table["label"]))
    card = replace(source.card, size=len(labels))
    return TextDataset(list(table[source.text_column]), labels, ["negative", "positive"], card)
