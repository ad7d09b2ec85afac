"""Claims of notebook 05 (domain adaptation; the ImageNet model fine-tuned on scans), measured
with the `cpu` profile's settings and seeds (0, 1, 2).

Part 1: the SmallCNN trained on 2,400 digits rendered from fonts, adapted to the 2,000
unlabelled handwritten digits of notebooks 02-03's pool and scored on their 1,000-image test set
(`AdaptSettings.for_profile(cpu)`: 150 source steps, 100 DANN steps, 2 self-training rounds at
threshold 0.9, 50 steps per few-label run). Part 2: EfficientNet-Lite0 at 128 px on the
solar-cell scans (budgets from 200 scans per class, a balanced 328-scan test set, 150 steps per
network run, `k=2`). Margins are percentage points of test accuracy, means over the three seeds;
the proxy A-distance is in its own units (0 to 2).
"""
import pandas as pd
import pytest

from tlcourse import get_profile
from tlcourse.adapt import AdaptSettings, run_adaptation
from tlcourse.experiments import Settings, gain
from tlcourse.tasks import fonts_to_handwriting_task

CPU = get_profile("cpu")


@pytest.fixture(scope="module")
def adaptation():
    task = fonts_to_handwriting_task(CPU)
    # the budgets the claims below state; the notebook also shows 10 labels per class, printed there
    return run_adaptation(task, CPU.seeds, AdaptSettings.for_profile(CPU), labels_per_class=(1, 5), progress=False)


def mean(results: pd.DataFrame, strategy: str, per_class: int = 0) -> float:
    rows = results[(results["strategy"] == strategy) & (results["labels_per_class"] == per_class)]
    assert len(rows) == len(CPU.seeds), (strategy, per_class)
    return rows["accuracy"].mean() * 100


def test_the_domain_gap_costs_over_20_points(adaptation):
    runs = adaptation.runs
    on_fonts = runs["source_accuracy"].dropna().mean() * 100
    assert on_fonts - mean(runs, "source_only") >= 20  # measured: 27.4 (99.7% on fonts vs 72.3%)


def test_adabn_and_dann_help_a_little_at_most_6_points(adaptation):
    runs = adaptation.runs
    for method in ("adabn", "dann"):
        lift = mean(runs, method) - mean(runs, "source_only")
        assert -1 <= lift <= 6, (method, lift)  # measured: adabn +2.3, dann +3.2


def test_self_training_beats_every_other_unsupervised_method_by_5_points(adaptation):
    runs = adaptation.runs
    best_other = max(mean(runs, m) for m in ("source_only", "adabn", "dann"))
    assert mean(runs, "self_training") - best_other >= 5  # measured: +9.8 (85.3% vs 75.5%)


def test_over_90_percent_of_the_first_rounds_pseudo_labels_are_right(adaptation):
    first = adaptation.rounds[adaptation.rounds["round"] == 1]
    assert first["pseudo_label_accuracy"].mean() >= 0.9  # measured: 95.8% of 869 images (means over seeds)


def test_the_domains_stay_separable_after_every_method(adaptation):
    distances = adaptation.distances.groupby("representation")["proxy_a_distance"].mean()
    assert (distances > 1).all(), distances  # measured: 1.30 (adabn) to 1.78 (dann); 2 = separable
    assert distances.idxmin() == "adabn"  # AdaBN lowers it most
    assert distances["dann"] >= distances["source_only"] - 0.1  # DANN does not lower it here: 1.78 vs 1.76


def test_with_5_labels_per_class_the_adapted_network_beats_the_same_labels_from_letters_or_scratch(adaptation):
    runs = adaptation.runs
    adapted = mean(runs, "self_training+labels", 5)
    assert adapted - mean(runs, "finetune_all", 5) >= 3  # measured: +5.4 (91.5% vs 86.1%)
    assert adapted - mean(runs, "scratch", 5) >= 30  # measured: +49.5 (91.5% vs 42.0%)


def test_with_1_label_per_class_the_labels_hurt_the_self_trained_network(adaptation):
    runs = adaptation.runs
    assert mean(runs, "self_training") - mean(runs, "self_training+labels", 1) > 1  # measured: 3.1 (82.2% vs 85.3%)


def test_the_oracle_stays_well_above_the_best_unsupervised_method(adaptation):
    runs = adaptation.runs
    oracle = runs[runs["strategy"] == "oracle"]["accuracy"].mean() * 100
    assert oracle - mean(runs, "self_training") >= 8  # measured: 12.8 (98.1% vs 85.3%)


# --- Part 2: the scans --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scans(cpu_solar, measured):
    """The runs the claims compare: every strategy at 50 labels per class, and the fine-tuned
    network at 10 too (the augmentation claim); the notebook prints the rest of its table."""
    largest, smallest = max(CPU.scan_labels_per_class), min(CPU.scan_labels_per_class)
    settings = Settings.for_profile(CPU)
    return pd.concat([measured(cpu_solar, ["linear_probe", "adabn_probe", "finetune_last_k", "small_scratch"],
                               [largest], CPU.seeds, settings),
                      measured(cpu_solar, ["finetune_last_k"], [smallest], CPU.seeds, settings)])


def test_with_50_labels_per_class_imagenet_features_beat_scratch_by_3_points(scans):
    assert gain(scans, "linear_probe", "small_scratch").loc[50] >= 3  # measured: +6.0 (74.5% vs 68.5%)
    assert gain(scans, "finetune_last_k", "small_scratch").loc[50] >= 3  # measured: +7.8 (76.3% vs 68.5%)


def test_fine_tuning_the_last_block_adds_less_than_5_points_over_the_probe(scans):
    assert -1 <= gain(scans, "finetune_last_k", "linear_probe").loc[50] < 5  # measured: +1.8 (76.3% vs 74.5%)


def test_adabn_hurts_the_probe_on_scans_by_more_than_3_points(scans):
    assert gain(scans, "linear_probe", "adabn_probe").loc[50] > 3  # measured: 6.0 (74.5% vs 68.5%)


def test_dihedral_augmentation_gains_no_more_than_2_points(cpu_solar, scans, measured):
    augmented = measured(cpu_solar, ["finetune_last_k"], [min(CPU.scan_labels_per_class)], CPU.seeds,
                         Settings.for_profile(CPU, augment="dihedral"))
    both = pd.concat([scans, augmented.assign(strategy="augmented")])
    assert gain(both, "augmented", "finetune_last_k").loc[10] <= 2  # measured: -0.8 (66.3% vs 67.1%)
