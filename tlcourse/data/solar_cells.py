"""Electroluminescence images of solar cells (ELPV): the course's "photos to scans" domain shift.

2,624 grayscale 300x300 cells cut from 44 solar modules, each rated by experts with a
defect probability of 0, 1/3, 2/3 or 1. Decoding the PNGs takes a few seconds, so the
resized pixels are kept in the cache directory after the first load.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..config import cache_dir
from ..train import save_atomic
from .core import DatasetCard, ImageDataset, check_choice, check_size, package_file

PROBABILITY_CLASSES = ["p=0", "p=1/3", "p=2/3", "p=1"]
BINARY_CLASSES = ["functional", "defective"]
CELL_TYPES = (None, "mono", "poly")

CARD = DatasetCard(
    name="solar_cells",
    description="Electroluminescence images of mono- and polycrystalline solar cells, with an "
                "expert defect probability (0, 1/3, 2/3, 1). task='binary': functional (p < 0.5) "
                "vs defective (p >= 0.5); task='probability': the four ratings as classes.",
    source="elpv-dataset wheel: elpv_dataset/data/labels.csv and elpv_dataset/data/images/*.png",
    license="CC BY-NC-SA 4.0 (images and labels; non-commercial use only)",
    size=2_624, classes=2, input="1x128x128 grayscale in [0, 1] (native 300x300)", offline=True,
    citation="Deitsch, Christlein, Berger, Buerhop-Lutz, Maier, Gallwitz & Riess (2019). Automatic "
             "classification of defective photovoltaic module cells in electroluminescence images. "
             "Solar Energy 185, 455-468.",
    url="https://github.com/zae-bayern/elpv-dataset",
)


def read_labels(labels_csv: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Image paths, defect probabilities (float64) and cell types ("mono"/"poly") from labels.csv.

    Each line is ``images/cell0001.png  1.0  mono``, columns separated by runs of spaces.
    """
    rows = [line.split() for line in labels_csv.read_text().splitlines() if line.strip()]
    paths, probs, types = zip(*rows)
    return list(paths), np.array(probs, dtype=np.float64), np.array(types)


def _read_cell(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("L").resize((size, size), Image.BILINEAR))


def _all_pixels(data_dir: Path, paths: list[str], size: int) -> torch.Tensor:
    """All cells as uint8 (N, 1, size, size) in labels.csv order, decoded once and then cached."""
    cached = cache_dir() / f"solar_cells_{len(paths)}x{size}px.pt"
    if cached.exists():
        return torch.load(cached, weights_only=True)
    with ThreadPoolExecutor(max_workers=4) as pool:  # Pillow decodes PNGs outside the GIL
        cells = list(pool.map(lambda p: _read_cell(data_dir / p, size), paths))
    pixels = torch.from_numpy(np.stack(cells)).unsqueeze(1)
    save_atomic(pixels, cached)  # write then rename: never a half-written cache
    return pixels


def load_solar_cells(task: str = "binary", size: int = 128, cell_type: str | None = None) -> ImageDataset:
    """Solar-cell EL images as (N, 1, size, size) in [0, 1], in labels.csv order (cell0001 first).

    ``task="binary"``: 0 = functional (p < 0.5), 1 = defective (p >= 0.5). A cell counts as
    defective when the experts judged a defect more likely than not: a p=1/3 cell is one
    they rated probably fine. This is the usual reading of the ELPV labels; the stricter
    "any doubt" split (p > 0) would move 295 uncertain cells into the defective class.
    Counts: 1,803 functional vs 821 defective.
    ``task="probability"``: the four ratings p = 0, 1/3, 2/3, 1 as classes 0-3.
    ``cell_type``: None for all 2,624 cells, "mono" (1,074) or "poly" (1,550).
    """
    check_choice("task", task, ("binary", "probability"))
    check_choice("cell_type", cell_type, CELL_TYPES)
    size = check_size(size)
    labels_csv = package_file("elpv_dataset", "data/labels.csv", pip_name="elpv-dataset")
    paths, probs, types = read_labels(labels_csv)
    keep = np.ones(len(paths), dtype=bool) if cell_type is None else types == cell_type
    pixels = _all_pixels(labels_csv.parent, paths, size)[torch.from_numpy(keep)]
    if task == "binary":
        labels, classes = (probs[keep] >= 0.5).astype(np.int64), BINARY_CLASSES
    else:
        labels, classes = np.rint(probs[keep] * 3).astype(np.int64), PROBABILITY_CLASSES
    card = replace(CARD, size=int(keep.sum()), classes=len(classes),
                   input=f"1x{size}x{size} grayscale in [0, 1] (native 300x300)")
    return ImageDataset(pixels.float() / 255, torch.from_numpy(labels), classes, card)
