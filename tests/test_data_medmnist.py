"""MedMNIST without a network: tiny archives in the real layout, written into a private cache.

A real MedMNIST file is ``NAME.npz`` (or ``NAME_64.npz`` ...) with ``{train,val,test}_images``
uint8 (N, H, W) or (N, H, W, 3) and ``{train,val,test}_labels`` int (N, 1); the fakes below
are exactly that, only a few images long.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torchvision.datasets.utils  # noqa: F401  imported up front: the timing below is of the offline check

from tlcourse.data import DataFileError, ImageDataset, card, load
from tlcourse.data import medmnist
from tlcourse.data.core import DataArgumentError
from tlcourse.errors import OfflineError
from tlcourse.online import require_online

COUNTS = {"train": 6, "val": 2, "test": 3}


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty TLCOURSE_CACHE on a machine that says it is offline."""
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    return tmp_path


def fake_arrays(name: str, side: int = 28, seed: int = 0) -> dict[str, np.ndarray]:
    """The six arrays of a MedMNIST file for ``name``, COUNTS images per split, every class used."""
    rng = np.random.default_rng(seed)
    source = medmnist.SETS[name]
    pixel_shape = (side, side) if source.channels == 1 else (side, side, 3)
    arrays = {}
    for offset, (split, n) in enumerate(COUNTS.items()):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *pixel_shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = ((np.arange(n) + offset) % len(source.classes)).reshape(n, 1)
    return arrays


def write_fake(root, name: str, side: int = 28, **arrays) -> dict[str, np.ndarray]:
    """Write ``name``'s file for resolution ``side`` under ``root/medmnist``; ``arrays`` override or,
    set to None, drop keys."""
    data = {**fake_arrays(name, side), **arrays}
    data = {key: value for key, value in data.items() if value is not None}
    folder = root / "medmnist"
    folder.mkdir(exist_ok=True)
    np.savez(folder / medmnist.file_name(name, side), **data)
    return data


@pytest.mark.parametrize("name", list(medmnist.SETS))
def test_offline_with_an_empty_cache_fails_fast_naming_the_alternative_and_the_file(offline_cache, name):
    start = time.perf_counter()
    with pytest.raises(OfflineError) as err:
        load(name)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "load('solar_cells')" in message and "not medicine" in message and "offline" in message
    assert str(offline_cache / "medmnist" / f"{name}.npz") in message
    assert f"https://zenodo.org/records/10519652/files/{name}.npz?download=1" in message


def test_pneumoniamnist_loads_each_split_from_the_cache(offline_cache):
    data = write_fake(offline_cache, "pneumoniamnist")
    for split, n in COUNTS.items():
        ds = load("PneumoniaMNIST", split=split)
        assert isinstance(ds, ImageDataset) and ds.images.shape == (n, 1, 28, 28)
        assert ds.images.dtype == torch.float32 and ds.labels.dtype == torch.int64
        assert ds.labels.tolist() == data[f"{split}_labels"].ravel().tolist()
        assert torch.equal(ds.images[1, 0], torch.from_numpy(data[f"{split}_images"][1]).float() / 255)
        assert ds.classes == ["normal", "pneumonia"]
        assert ds.card.size == n and not ds.card.offline and ds.card.license == "CC BY 4.0"


def test_dermamnist_keeps_colour_channels_and_joins_all_splits_in_order(offline_cache):
    data = write_fake(offline_cache, "dermamnist")
    train = load("dermamnist")
    assert train.images.shape == (6, 3, 28, 28) and len(train.classes) == 7 and train.classes[4] == "melanoma"
    expected = torch.from_numpy(data["train_images"][2]).permute(2, 0, 1).float() / 255  # (3, H, W)
    assert torch.equal(train.images[2], expected)
    everything = load("dermamnist", split="all")
    labels = np.concatenate([data[f"{split}_labels"] for split in COUNTS]).ravel()
    assert len(everything) == 11 and everything.card.size == 11
    assert everything.labels.tolist() == labels.tolist()
    assert torch.equal(everything.images[6:8], load("dermamnist", split="val").images)


def test_size_resizes_and_a_constant_image_stays_constant(offline_cache):
    grey = np.full((COUNTS["train"], 28, 28), 51, dtype=np.uint8)
    write_fake(offline_cache, "breastmnist", train_images=grey)
    ds = load("breastmnist", size=14)
    assert ds.images.shape == (6, 1, 14, 14) and "1x14x14" in ds.card.input
    assert torch.allclose(ds.images, torch.full_like(ds.images, 51 / 255))


def test_size_reads_the_smallest_published_file_that_needs_no_upscaling(offline_cache):
    write_fake(offline_cache, "bloodmnist", side=28)
    write_fake(offline_cache, "bloodmnist", side=64)
    assert "bloodmnist.npz" in load("bloodmnist").card.input
    at_32 = load("bloodmnist", size=32)  # the 28-pixel file would have to be upscaled: the 64 one is read
    assert at_32.images.shape == (6, 3, 32, 32) and "bloodmnist_64.npz" in at_32.card.input
    assert load("bloodmnist", size=64).images.shape == (6, 3, 64, 64)
    with pytest.raises(OfflineError, match=r"bloodmnist_128\.npz.*cached bloodmnist_64\.npz works offline"):
        load("bloodmnist", size=100)


@pytest.mark.parametrize("arrays, problem", [
    (dict(val_labels=None), r"lacks \['val_labels'\]"),
    (dict(train_images=np.zeros((6, 28, 28), dtype=np.uint8)), r"uint8 \(N, H, W, 3\)"),
    (dict(train_images=np.zeros((6, 28, 28, 3), dtype=np.float32)), "float32"),
    (dict(train_labels=np.zeros((5, 1), dtype=np.int64)), "one label per image"),
    (dict(train_labels=np.full((6, 1), 7)), r"\[0, 6\]"),
])
def test_a_malformed_file_says_what_is_wrong_and_how_to_replace_it(offline_cache, arrays, problem):
    write_fake(offline_cache, "dermamnist", **arrays)
    with pytest.raises(DataFileError, match=problem) as err:
        load("dermamnist", split="all")
    assert str(offline_cache / "medmnist" / "dermamnist.npz") in str(err.value)
    assert "Delete it" in str(err.value) and "dermamnist.npz?download=1" in str(err.value)


def test_a_file_that_is_not_an_npz_archive_is_named(offline_cache):
    (offline_cache / "medmnist").mkdir()
    (offline_cache / "medmnist" / "pathmnist.npz").write_bytes(b"<html>rate limited</html>")
    with pytest.raises(DataFileError, match="NumPy cannot read it"):
        load("pathmnist")


def test_bad_arguments_name_the_valid_values(offline_cache):
    with pytest.raises(DataArgumentError, match="'val'"):
        load("pneumoniamnist", split="validation")
    with pytest.raises(DataArgumentError, match="positive int"):
        load("pneumoniamnist", size=0)


@pytest.fixture
def fake_zenodo(offline_cache, monkeypatch):
    """Online, with torchvision's download_url replaced by one that writes a fake pneumoniamnist file.

    Returns the list of (url, filename, md5) it was called with.
    """
    calls = []

    def download_url(url, root, filename, md5):
        calls.append((url, filename, md5))
        with open(f"{root}/{filename}", "wb") as f:
            np.savez(f, **fake_arrays("pneumoniamnist"))

    monkeypatch.setattr(medmnist, "require_online", lambda *args: None)
    monkeypatch.setattr(torchvision.datasets.utils, "download_url", download_url)
    return calls


def test_online_downloads_once_with_the_md5_then_reads_the_cache(offline_cache, fake_zenodo):
    train = load("pneumoniamnist")
    assert len(train) == 6 and len(fake_zenodo) == 1
    url, _, md5 = fake_zenodo[0]
    assert url == "https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1"
    assert md5 == "28209eda62fecd6e6a2d98b1501bb15f"
    assert sorted(p.name for p in (offline_cache / "medmnist").iterdir()) == ["pneumoniamnist.npz"]
    assert len(load("pneumoniamnist", split="test")) == 3 and len(fake_zenodo) == 1, "the cache is read first"


@pytest.mark.parametrize("failure, raised", [
    (RuntimeError("File not found or corrupted."), DataFileError),  # torchvision: the MD5 did not match
    (ConnectionResetError("connection lost"), ConnectionResetError),
])
def test_a_failed_download_leaves_nothing_that_looks_cached(offline_cache, monkeypatch, failure, raised):
    def broken_download(url, root, filename, md5):
        (offline_cache / "medmnist" / filename).write_bytes(b"PK\x03\x04 half a file")
        raise failure

    monkeypatch.setattr(medmnist, "require_online", lambda *args: None)
    monkeypatch.setattr(torchvision.datasets.utils, "download_url", broken_download)
    with pytest.raises(raised):
        load("dermamnist")
    assert list((offline_cache / "medmnist").iterdir()) == []
    monkeypatch.setattr(medmnist, "require_online", require_online)  # offline again: the next load
    with pytest.raises(OfflineError):  # must not take what the failed download left for a cached file
        load("dermamnist")


def test_cards_state_licence_citation_and_sizes():
    for name, source in medmnist.SETS.items():
        c = card(name)
        assert not c.offline and c.classes == len(source.classes) and c.url == medmnist.ZENODO
        assert "Yang" in c.citation and "Scientific Data 10, 41" in c.citation and "Source data" in c.citation
    assert card("dermamnist").license.startswith("CC BY-NC 4.0")  # HAM10000 is non-commercial
    assert card("pneumoniamnist").license == "CC BY 4.0" and card("pneumoniamnist").size == 4_708
    assert card("dermamnist").size == 7_007 and card("dermamnist").input.startswith("3x28x28")
