"""Claims of notebook 01 (pretraining), each measured here with fixed seeds.

Settings: the shipped checkpoint is `tlcourse pretrain --profile cpu` (20,000 rendered letters,
seed 0, 10% of each letter held out with seed 0, 3 epochs, lr 3e-3). "Fresh" letters are the
`cpu` profile's max_eval (1,000) glyphs drawn with seed 1. The digits probe uses the `cpu`
profile: its smallest label budget (1 per class), seeds (0, 1, 2), and `digits_task`'s split of
MNIST (a pool of 200 digits per class to draw labels from, a 1,000-digit test set). Everything
runs on the CPU.
"""
import string

import pytest
import torch

from tlcourse import get_profile
from tlcourse.data import load, stratified_split
from tlcourse.experiments import Settings, gain
from tlcourse.models import SmallCNN, pretrained
from tlcourse.photos import sample_photo
from tlcourse.predict import top_k
from tlcourse.pretrain import load_pretrained_cnn, save_checkpoint
from tlcourse.train import evaluate, predict

CPU = get_profile("cpu")
DOMESTIC_CATS = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def shipped():
    return load_pretrained_cnn()


@pytest.fixture(scope="module")
def fresh_letters():
    return load("glyphs", n=CPU.max_eval, chars="letters", size=32, seed=1)


@pytest.fixture(scope="module")
def probes(cpu_digits, measured):
    """The notebook's section 4 with the cpu profile: pretrained vs random frozen features."""
    budget = CPU.labels_per_class[0]
    assert budget == 1, "the notebook's claim is stated for one label per class"
    return measured(cpu_digits, ["linear_probe", "random_probe"], [budget], CPU.seeds, Settings.for_profile(CPU))


def test_shipped_checkpoint_is_the_cpu_profile_pretraining(shipped):
    _, meta = shipped
    assert meta["classes"] == list(string.ascii_uppercase) and meta["seed"] == 0
    assert meta["lr"] == 3e-3
    made_with = meta["profile"]  # a name, or the whole profile in older checkpoints
    assert (made_with["name"] if isinstance(made_with, dict) else made_with) == "cpu"


def test_shipped_checkpoint_reads_99_percent_of_its_held_out_letters(shipped):
    model, meta = shipped
    glyphs = load("glyphs", n=CPU.pretrain_samples, chars="letters", size=32, seed=0)
    _, held_out = stratified_split(glyphs, test_fraction=0.1, seed=0)  # as pretrain_small_cnn does
    accuracy = evaluate(model, held_out, device="cpu")["accuracy"]
    assert accuracy >= 0.99  # measured: 99.85% (2,002 letters)
    assert accuracy == pytest.approx(meta["source_accuracy"], abs=1e-6)


def test_shipped_checkpoint_reads_99_percent_of_fresh_letters(shipped, fresh_letters):
    assert evaluate(shipped[0], fresh_letters, device="cpu")["accuracy"] >= 0.99  # measured: 100.00%


def test_a_reloaded_checkpoint_predicts_exactly_the_same(shipped, fresh_letters, tmp_path):
    model, meta = shipped
    reloaded, _ = load_pretrained_cnn(save_checkpoint(model, meta, tmp_path / "copy.pt"))
    x = fresh_letters.images
    assert torch.equal(predict(model, x, device="cpu"), predict(reloaded, x, device="cpu"))


def test_pretraining_moved_the_first_layer_least_and_each_deeper_block_more(shipped):
    torch.manual_seed(0)  # the shipped model's starting point (see test_pretrain.py)
    before, after = SmallCNN(num_classes=26).state_dict(), shipped[0].state_dict()
    change = {name: ((after[name] - w).norm() / w.norm()).item() for name, w in before.items() if w.dim() > 1}
    assert list(change) == ["stem.0.weight", "block1.0.weight", "block2.0.weight",
                            "block3.0.weight", "head.weight"]
    values = list(change.values())
    assert values[0] < 1 / 3, change  # measured: 0.19
    assert all(a < b for a, b in zip(values, values[1:])), change  # 0.19, 0.89, 1.37, 1.84, 2.02
    assert change["block3.0.weight"] > 1, change


def test_pretrained_features_beat_random_ones_by_15_points_with_one_label_per_class(probes):
    assert gain(probes, "linear_probe", "random_probe").loc[1] >= 15  # measured: +30.7 (62.9% vs 32.2%)


def test_random_features_are_still_far_above_chance(probes):
    random = probes[probes["strategy"] == "random_probe"]["accuracy"].mean()
    assert random >= 0.2  # measured: 32.2%; chance is 10%


def test_lite0_names_three_kinds_of_cat_for_chelsea():
    lite0 = pretrained("efficientnet_lite0").eval()
    top = top_k(lite0, sample_photo("chelsea"), k=5)
    assert set(top["class"][:3]) <= DOMESTIC_CATS, top  # measured: tiger cat, Egyptian cat, tabby
