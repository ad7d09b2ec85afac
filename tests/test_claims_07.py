"""Claims of notebook 07 (limits of transfer, part A), measured with the `cpu` profile's settings
and seeds (0, 1, 2).

Letters-pretrained SmallCNN -> handwritten digits (mnist5k at 32 x 32, the pool and test set of
notebooks 02 and 03), 150 steps per network run, networks at 1 and 50 labels per class. The misleading source: a SmallCNN pretrained on
5,000 rendered letters with shuffled labels (3 epochs; shipped in the package, `tlcourse pretrain --sources`). The cures: one label per class, every
block at lr 1e-2 and each cure one change from it; forgetting scored on 988 rendered letters the
letters network never saw (glyphs seed 1). Margins are percentage points of test accuracy, means
over the three seeds. Three module fixtures make every run once; the tests only read them.
"""
import pandas as pd
import pytest

from tlcourse import get_profile
from tlcourse.experiments import Settings
from tlcourse.limits import compare_cures, cures, letters_test_set, misleading_task
from tlcourse.pretrain import load_pretrained_cnn
from tlcourse.train import evaluate

CPU = get_profile("cpu")
SETTINGS = Settings.for_profile(CPU)
PROBE_BUDGETS = CPU.labels_per_class  # 1, 2, 5, 10, 20, 50
NETWORK_BUDGETS = sorted({CPU.finetune_labels_per_class[0], CPU.finetune_labels_per_class[-1]})  # 1, 50: the notebook's
FEW = NETWORK_BUDGETS[0]  # the cures' budget: one label per class


@pytest.fixture(scope="module")
def negative(cpu_digits, measured) -> dict[str, pd.Series]:
    """Mean accuracy (%) per budget of each arm of the negative-transfer comparison."""
    misleading = misleading_task(CPU, progress=False)

    def mean(task, strategy, budgets):
        table = measured(task, [strategy], budgets, CPU.seeds, SETTINGS)
        return table.groupby("labels_per_class")["accuracy"].mean() * 100

    return {"shuffled probe": mean(misleading, "linear_probe", PROBE_BUDGETS),
            "random probe": mean(cpu_digits, "random_probe", PROBE_BUDGETS),
            "letters probe": mean(cpu_digits, "linear_probe", PROBE_BUDGETS),
            "shuffled finetune": mean(misleading, "finetune_all", NETWORK_BUDGETS),
            "scratch": mean(cpu_digits, "scratch", NETWORK_BUDGETS)}


@pytest.fixture(scope="module")
def cured(cpu_digits) -> pd.DataFrame:
    """Mean digits and letters accuracy (%) per cure, and the letters network's own score."""
    letters = letters_test_set(CPU)
    source, _ = load_pretrained_cnn()
    runs = compare_cures(cpu_digits, cures(SETTINGS), FEW, CPU.seeds, letters, source)
    table = runs.groupby("cure", sort=False)[["digits_accuracy", "letters_accuracy"]].mean() * 100
    table.attrs["letters_before"] = evaluate(source, letters)["accuracy"] * 100
    return table


@pytest.fixture(scope="module")
def curves(cpu_digits) -> list[pd.DataFrame]:
    """The badly fine-tuned run (no early stopping), one per seed: (every epoch, the validated ones)."""
    from tlcourse.limits import overfitting_history

    bad = cures(SETTINGS)["every block, high rate"][1]
    histories = [overfitting_history(cpu_digits, FEW, seed, bad).to_frame() for seed in CPU.seeds]
    return histories, [frame.dropna(subset=["val_accuracy"]) for frame in histories]


# --- 1 · negative transfer -------------------------------------------------------------------------

def test_features_of_the_misleading_source_trail_random_features_from_2_labels_per_class(negative):
    """The seeds cover the probes, not the source's own training: the same recipe trained with two
    threads instead of one (other rounding) trailed by 0.97 points at 10 labels per class, not 2.3.
    So the claim is 3 points at 2 and 5 labels per class, and half a point from 10 on."""
    lift = negative["shuffled probe"] - negative["random probe"]
    assert lift[[2, 5]].max() <= -3, lift  # measured: -10.0, -5.1
    assert lift[[b for b in PROBE_BUDGETS if b >= 2]].max() <= -0.5, lift  # measured: -2.3, -2.5, -2.1 at 10-50 (-0.3 at 1)


def test_fine_tuning_the_misleading_source_is_within_3_points_of_scratch(negative):
    lift = negative["shuffled finetune"] - negative["scratch"]
    assert lift.abs().max() <= 3, lift  # measured: -0.2 at 1 (35.1% vs 35.4%), -1.0 at 50 (95.7% vs 96.7%)


def test_the_true_source_probe_beats_random_features_by_25_points_with_one_label_per_class(negative):
    lift = negative["letters probe"][1] - negative["random probe"][1]
    assert lift >= 25, lift  # measured: +30.7 (62.9% vs 32.2%)


# --- 2 · overfitting and its cures -----------------------------------------------------------------

def test_the_bad_run_memorises_its_labels_and_validation_ends_below_60_percent_without_falling(curves):
    histories, validated = curves
    for frame in histories:  # memorised within a few epochs, on every seed
        assert int(frame.loc[frame["train_accuracy"] == 1.0, "epoch"].min()) <= 5  # measured: epoch 2, 2, 2
    final = sum(v["val_accuracy"].iloc[-1] for v in validated) / len(validated)
    fall = sum(v["val_accuracy"].max() - v["val_accuracy"].iloc[-1] for v in validated) / len(validated)
    assert final < 0.60, final  # measured: 48.3% (46%, 40%, 59%)
    assert fall < 0.03, fall  # measured: 1.3 points (0, 0, 4)


def test_cures_that_keep_weights_near_the_pretrained_ones_beat_the_bad_recipe_by_5_points(cured):
    bad = cured.loc["every block, high rate", "digits_accuracy"]
    for cure in ("lower rate", "last 2 blocks only", "probe (every block frozen)", "L2-SP"):
        assert cured.loc[cure, "digits_accuracy"] - bad >= 5, (cure, cured)  # measured: +7.3, +14.2, +19.1, +16.3 over 43.8% (L2-SP: 60.1%)


def test_l2sp_comes_within_5_points_of_the_probe(cured):
    gap = cured.loc["probe (every block frozen)", "digits_accuracy"] - cured.loc["L2-SP", "digits_accuracy"]
    assert gap <= 5, cured  # measured: 62.9% vs 60.1%


def test_early_stopping_and_shifted_copies_are_within_3_points_of_the_bad_recipe(cured):
    bad = cured.loc["every block, high rate", "digits_accuracy"]
    for cure in ("early stopping", "shifted copies"):
        assert abs(cured.loc[cure, "digits_accuracy"] - bad) <= 3, (cure, cured)  # measured: -0.2, -1.0


# --- 3 · catastrophic forgetting -------------------------------------------------------------------

def test_the_letters_network_reads_the_unseen_letters_before_fine_tuning(cured):
    assert cured.attrs["letters_before"] >= 99  # measured: 100.0%


def test_fine_tuning_every_block_at_the_high_rate_forgets_more_than_80_points(cured):
    before = cured.attrs["letters_before"]
    for cure in ("every block, high rate", "early stopping", "shifted copies"):
        assert before - cured.loc[cure, "letters_accuracy"] >= 80, (cure, cured)  # measured: 89.4, 88.8, 85.8 (10.6% of letters left by the bad recipe)


def test_even_the_lower_rate_forgets_more_than_10_points_and_the_last_2_blocks_more_than_20(cured):
    before = cured.attrs["letters_before"]
    assert before - cured.loc["lower rate", "letters_accuracy"] >= 10, cured  # measured: 18.7
    assert before - cured.loc["last 2 blocks only", "letters_accuracy"] >= 20, cured  # measured: 28.4


def test_the_probe_forgets_nothing_and_l2sp_less_than_2_points(cured):
    before = cured.attrs["letters_before"]
    assert cured.loc["probe (every block frozen)", "letters_accuracy"] == pytest.approx(before, abs=1e-9)
    assert before - cured.loc["L2-SP", "letters_accuracy"] < 2, cured  # measured: 0.7 (99.3%)
