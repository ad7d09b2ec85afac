"""Claims of notebook 06 (speech), measured with the `cpu` profile's settings and seeds (0, 1, 2).

The spoken digits as 32 x 32 log-mel images: budgets drawn from 1,000 digits by 66 training
voices, scored on 1,000 digits by 21 voices never heard in training. Sources: a SmallCNN
pretrained on 4,000 other spoken words (3 epochs), the shipped letters SmallCNN, ImageNet
EfficientNet-Lite0 at 128 px. 150 steps per network run, `k=2` for Lite0. Margins are
percentage points of test accuracy, means over the three seeds.
"""
from dataclasses import replace

import pandas as pd
import pytest

from tlcourse import get_profile
from tlcourse.experiments import Settings
from tlcourse.tasks import speech_tasks

CPU = get_profile("cpu")
SETTINGS = Settings.for_profile(CPU)
PROBE_BUDGETS = CPU.labels_per_class  # 1, 2, 5, 10, 20, 50
NETWORK_BUDGETS = CPU.finetune_labels_per_class  # 1, 5, 50


@pytest.fixture(scope="module")
def speech():
    return speech_tasks(CPU, progress=False)


@pytest.fixture(scope="module")
def runs(speech, measured):
    """``runs(source, strategy, budgets, settings)``: the mean accuracy (%) per budget."""
    def mean(source: str, strategy: str, budgets, settings: Settings = SETTINGS) -> pd.Series:
        table = measured(getattr(speech, source), [strategy], budgets, CPU.seeds, settings)
        return table.groupby("labels_per_class")["accuracy"].mean() * 100

    return mean


def test_with_one_clip_per_digit_the_near_probe_beats_scratch_and_every_far_source_by_30_points(runs):
    near = runs("words", "linear_probe", [1])[1]
    others = {"scratch": runs("words", "scratch", [1])[1],
              "letters probe": runs("letters", "linear_probe", [1])[1],
              "imagenet probe": runs("imagenet", "linear_probe", [1])[1],
              "imagenet finetune_last_k": runs("imagenet", "finetune_last_k", [1])[1]}
    assert near - max(others.values()) >= 30, (near, others)  # measured: 88.7% vs 36.3% at best (scratch 23.1%)


def test_with_one_clip_per_digit_fine_tuning_the_words_cnn_loses_20_points_to_its_probe(runs):
    assert runs("words", "linear_probe", [1])[1] - runs("words", "finetune_all", [1])[1] >= 20  # measured: 88.7 vs 46.6


def test_fine_tuning_the_words_cnn_beats_scratch_by_5_points_up_to_5_clips_and_is_level_at_50(runs):
    lift = runs("words", "finetune_all", NETWORK_BUDGETS) - runs("words", "scratch", NETWORK_BUDGETS)
    assert lift[1] >= 5 and lift[5] >= 5, lift  # measured: +23.5, +14.9
    assert abs(lift[50]) <= 2, lift  # measured: +0.3 (99.1% vs 98.8%)


def test_letters_features_are_no_better_than_a_random_networks_for_spectrograms(runs):
    lift = runs("letters", "linear_probe", PROBE_BUDGETS) - runs("words", "random_probe", PROBE_BUDGETS)
    assert lift.max() <= 4, lift  # measured: -0.8 to +2.9 points


def test_imagenet_features_beat_random_ones_by_4_points_up_to_10_clips_and_the_lead_fades_by_50(runs):
    lift = runs("imagenet", "linear_probe", PROBE_BUDGETS) - runs("words", "random_probe", PROBE_BUDGETS)
    assert lift[[1, 2, 5, 10]].min() >= 4, lift  # measured: +7.9, +8.3, +11.0, +8.1
    assert lift[50] <= 3, lift  # measured: +0.9


def test_fine_tuned_lite0_beats_scratch_with_one_clip_per_digit_and_trails_it_from_5(runs):
    lift = runs("imagenet", "finetune_last_k", NETWORK_BUDGETS) - runs("words", "scratch", NETWORK_BUDGETS)
    assert lift[1] >= 5, lift  # measured: +13.2
    assert lift[5] < 0 and lift[50] < 0, lift  # measured: -8.6, -6.0


def test_by_50_clips_per_digit_scratch_is_within_a_point_of_the_near_probe_and_ahead_of_every_far_source(runs):
    scratch = runs("words", "scratch", [50])[50]
    assert scratch >= runs("words", "linear_probe", [50])[50] - 1  # measured: 98.8% vs 98.5%
    far = [runs("letters", "linear_probe", [50])[50], runs("imagenet", "linear_probe", [50])[50],
           runs("imagenet", "finetune_last_k", [50])[50]]
    assert scratch - max(far) >= 3, far  # measured: 98.8% vs 92.8% at best


def test_specaugment_costs_scratch_and_fine_tuning_at_least_2_points_with_5_clips_per_digit(runs):
    masked = replace(SETTINGS, augment="specaugment")
    for source, strategy in (("words", "scratch"), ("words", "finetune_all")):
        cost = runs(source, strategy, [5])[5] - runs(source, strategy, [5], masked)[5]
        assert cost >= 2, (strategy, cost)  # measured: scratch 74.4 -> 69.3, finetune_all 89.3 -> 83.6
