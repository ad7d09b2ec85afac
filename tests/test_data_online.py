"""Online data sets without a network: the offline message, and loading from a local cache.

The caches are real files in the formats torchvision and Hugging Face ``datasets`` write
(pickled CIFAR-10 batches, an EuroSAT image folder, a ``save_to_disk`` SST-2), only tiny.
"""
from __future__ import annotations

import hashlib
import pickle
import time

import numpy as np
import pytest
import torch
import torchvision.datasets  # noqa: F401  imported up front: the timing below is of the offline check
from PIL import Image

from tlcourse.data import LazyImageDataset, TextDataset, card, few_shot_subset, list_datasets, load
from tlcourse.data.core import DataArgumentError
from tlcourse.errors import OfflineError

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty TLCOURSE_CACHE on a machine that says it is offline."""
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    return tmp_path


@pytest.mark.parametrize("name, alternative", [
    ("cifar10", "load('glyphs')"), ("flowers102", "load('faces')"), ("oxford_pets", "load('faces')"),
    ("eurosat", "load('solar_cells')"), ("sst2", "load('tweets')"), ("imdb", "load('tweets')"),
])
def test_offline_fails_fast_naming_the_alternative(offline_cache, name, alternative):
    start = time.perf_counter()
    with pytest.raises(OfflineError) as err:
        load(name)
    assert time.perf_counter() - start < 5
    assert alternative in str(err.value) and "offline" in str(err.value)


def test_hf_offline_mode_with_an_empty_hf_cache_still_names_the_alternative(offline_cache, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_HOME", str(offline_cache / "hf_home"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(OfflineError, match=r"load\('tweets'\)"):
        load("sst2")


def write_fake_cifar10(root, monkeypatch, per_batch=3):
    """CIFAR-10 in torchvision's on-disk format (cifar-10-batches-py), per_batch images a batch.

    torchvision checks each file's md5 against the real archive's; we point those checks at
    our files' md5s, so its own integrity check still runs.
    """
    from torchvision.datasets import CIFAR10

    folder = root / "torchvision" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = {}
    for i, name in enumerate(names):
        data = rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = [(i * per_batch + j) % 10 for j in range(per_batch)]
        batches[name] = (data, labels)
        (folder / name).write_bytes(pickle.dumps({"data": data, "labels": labels}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": CIFAR_CLASSES}))
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5[n]] for n in names[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5["batches.meta"]})
    return batches


def test_cifar10_loads_from_the_local_cache_offline(offline_cache, monkeypatch):
    batches = write_fake_cifar10(offline_cache, monkeypatch)
    train = load("cifar10")
    assert isinstance(train, LazyImageDataset) and len(train) == 15 and train.card.size == 15
    assert train.classes == CIFAR_CLASSES and not train.card.offline
    image, label = train[4]
    expected = torch.from_numpy(batches["data_batch_2"][0][1].reshape(3, 32, 32)).float() / 255
    assert image.dtype == torch.float32 and torch.allclose(image, expected)
    assert label == batches["data_batch_2"][1][1]
    test = load("cifar10", split="test", size=16)
    assert len(test) == 3 and test[0][0].shape == (3, 16, 16)


def test_lazy_dataset_subsets_and_materializes(offline_cache, monkeypatch):
    write_fake_cifar10(offline_cache, monkeypatch, per_batch=4)  # 20 images, 2 of each class
    train = load("cifar10")
    shots = few_shot_subset(train, 2, seed=0)
    assert isinstance(shots, LazyImageDataset) and torch.bincount(shots.labels).tolist() == [2] * 10
    dense = shots.subset([0, 1, 2]).materialize()
    assert dense.images.shape == (3, 3, 32, 32) and torch.equal(dense.labels, shots.labels[:3])
    assert torch.equal(dense.images[1], shots[1][0])
    assert train.subset(train.labels == 3).labels.tolist() == [3, 3]


def test_eurosat_loads_from_an_image_folder_with_a_fixed_split(offline_cache):
    classes = ["AnnualCrop", "Forest", "River"]
    for k, name in enumerate(classes):
        folder = offline_cache / "torchvision" / "eurosat" / "2750" / name
        folder.mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (64, 64), (40 * k, 10 * i, 0)).save(folder / f"{name}_{i}.jpg")
    train, test = load("eurosat"), load("eurosat", split="test")
    assert (len(train), len(test)) == (12, 3) and train.classes == classes
    assert torch.bincount(test.labels).tolist() == [1, 1, 1]
    assert train[0][0].shape == (3, 64, 64) and load("eurosat", size=32)[0][0].shape == (3, 32, 32)


def test_oxford_pets_loads_from_the_local_cache_offline(offline_cache):
    base = offline_cache / "torchvision" / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations").mkdir()
    rows = [("Abyssinian_1", 1, 1), ("Abyssinian_2", 1, 1), ("beagle_1", 2, 2), ("beagle_2", 2, 2)]
    for image_id, _, _ in rows:
        Image.new("RGB", (300, 200), (200, 100, 50)).save(base / "images" / f"{image_id}.jpg")
    lines = "".join(f"{image_id} {label} {species} 1\n" for image_id, label, species in rows)
    (base / "annotations" / "trainval.txt").write_text(lines)
    pets = load("oxford_pets", size=64)
    assert pets.classes == ["Abyssinian", "Beagle"] and pets.labels.tolist() == [0, 0, 1, 1]
    image, label = pets[2]
    assert image.shape == (3, 64, 64) and label == 1  # shorter side resized, then centre-cropped


def test_flowers102_loads_from_the_local_cache_offline(offline_cache, monkeypatch):
    from scipy.io import savemat
    from torchvision.datasets import Flowers102

    base = offline_cache / "torchvision" / "flowers-102"
    (base / "jpg").mkdir(parents=True)
    for i in range(1, 7):
        Image.new("RGB", (80, 60), (30 * i, 0, 0)).save(base / "jpg" / f"image_{i:05d}.jpg")
    savemat(base / "imagelabels.mat", {"labels": np.array([[1, 1, 2, 2, 3, 3]])})
    savemat(base / "setid.mat", {"trnid": np.array([[1, 3, 5]]), "valid": np.array([[2, 4]]),
                                 "tstid": np.array([[6]])})
    md5 = {name: hashlib.md5((base / name).read_bytes()).hexdigest()
           for name in ("imagelabels.mat", "setid.mat")}
    monkeypatch.setattr(Flowers102, "_file_dict", {**Flowers102._file_dict,
                                                   "label": ("imagelabels.mat", md5["imagelabels.mat"]),
                                                   "setid": ("setid.mat", md5["setid.mat"])})
    train = load("flowers102", size=32)
    assert train.labels.tolist() == [0, 1, 2] and len(train.classes) == 102
    assert train[1][0].shape == (3, 32, 32) and len(load("flowers102", split="val", size=32)) == 2


def write_fake_sst2(root):
    import datasets

    def part(sentences, labels):
        return datasets.Dataset.from_dict({"idx": list(range(len(labels))), "sentence": sentences,
                                           "label": labels})

    data = datasets.DatasetDict({
        "train": part(["a gripping film", "dull and slow", "a joy", "tedious"], [1, 0, 1, 0]),
        "validation": part(["lovely", "awful"], [1, 0]),
        "test": part(["unknown"], [-1]),
    })
    data.save_to_disk(str(root / "hf" / "sst2"))


def test_sst2_loads_from_a_saved_copy_offline(offline_cache):
    write_fake_sst2(offline_cache)
    train = load("sst2")
    assert isinstance(train, TextDataset) and train.texts[0] == "a gripping film"
    assert train.labels.tolist() == [1, 0, 1, 0] and train.classes == ["negative", "positive"]
    assert train.card.size == 4 and train.card.name == "sst2"
    assert load("sst2", split="validation").texts == ["lovely", "awful"]
    with pytest.raises(DataArgumentError, match="validation"):
        load("sst2", split="test")  # GLUE hides the test labels


def test_online_cards_are_available_offline(offline_cache):
    for name in list_datasets(offline=False):
        c = card(name)
        assert not c.offline and c.url and c.citation and c.size > 0


def test_an_interrupted_hub_save_leaves_no_half_copy(offline_cache, monkeypatch):
    """A crash while saving a downloaded set must not leave a folder that later loads as complete."""
    import datasets
    from pathlib import Path

    from tlcourse.data import online

    write_fake_sst2(offline_cache / "hub")
    data = datasets.load_from_disk(str(offline_cache / "hub" / "hf" / "sst2"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(online, "require_online", lambda *args: None)
    monkeypatch.setattr(datasets, "load_dataset", lambda path: data)

    def crash(self, path, **kwargs):
        Path(path).mkdir(parents=True)
        (Path(path) / "dataset_dict.json").write_text('{"splits": ["train", "validation", "test"]}')
        raise OSError("disk full")
    real_save = datasets.DatasetDict.save_to_disk
    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", crash)
    with pytest.raises(OSError, match="disk full"):
        load("sst2")
    assert not (offline_cache / "hf" / "sst2" / "dataset_dict.json").exists()
    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", real_save)
    assert load("sst2").texts[0] == "a gripping film"
    assert (offline_cache / "hf" / "sst2" / "dataset_dict.json").exists()
    assert sorted(p.name for p in (offline_cache / "hf").iterdir()) == ["sst2"], "no temporary folder left"
