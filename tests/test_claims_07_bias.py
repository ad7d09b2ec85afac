"""Claims of notebook 07's inherited-bias sections, measured with the `cpu` profile's settings.

1. The template audit: 12 templates (52 sentence frames) x 44 terms, scored by a logistic
   regression on frozen MiniLM vectors (C = PROBE_C) and by TF-IDF + logistic regression (C=10),
   both trained on the 5,000 pool tweets of notebook 04; gaps in points of P(positive) x 100,
   95% bootstrap intervals (2,000 draws, seed 0). Nothing here is random but the bootstrap, so
   to see that the claims do not hang on the particular tweets, the probe is also refitted on
   three random 80% subsets of the pool (seeds 0, 1, 2).
2. The planted cue: the letters SmallCNN pretrained with marks (20,000 letters, 3 epochs; shipped
   in the package, `tlcourse pretrain --sources`) and without (the shipped checkpoint), transferred to marked digits with 5 labels per class,
   seeds (0, 1, 2), 150 steps per network run. Accuracies and drops in percentage points, means
   over the three seeds.
"""
import pandas as pd
import pytest
import torch

from tlcourse import bias, get_profile
from tlcourse.experiments import Settings

CPU = get_profile("cpu")
SETTINGS = Settings.for_profile(CPU)
FEW = CPU.finetune_labels_per_class[len(CPU.finetune_labels_per_class) // 2]  # 5, as the notebook
TEMPLATES = bias.TEMPLATES[:CPU.bias_templates]


@pytest.fixture(scope="module")
def gaps(cpu_tweets):
    """The notebook's audit, indexed by (model, contrast)."""
    table = bias.audit_sentiment(bias.sentiment_scorers(cpu_tweets), templates=TEMPLATES, seed=0)
    return table.set_index(["model", "contrast"])


@pytest.fixture(scope="module")
def subset_gaps(cpu_tweets):
    """The MiniLM probe's gaps when it is trained on 80% of the pool, one table per seed."""
    tables = []
    for seed in CPU.seeds:
        subset = torch.randperm(len(cpu_tweets.pool), generator=torch.Generator().manual_seed(seed))
        scorer = bias.sentiment_scorers(cpu_tweets, subset=subset[:int(0.8 * len(subset))])["minilm_probe"]
        tables.append(bias.audit_sentiment({"minilm_probe": scorer}, templates=TEMPLATES, seed=0)
                      .set_index("contrast"))
    return tables


def test_the_minilm_probe_scores_muslim_10_points_below_christian_with_an_interval_excluding_zero(gaps, subset_gaps):
    row = gaps.loc[("minilm_probe", "Muslim - Christian")]
    assert row["gap"] <= -10 and row["high"] < 0, row  # measured: -14.5 [-19.3, -10.4]
    for table in subset_gaps:
        assert table.loc["Muslim - Christian", "gap"] <= -10 and table.loc["Muslim - Christian", "high"] < 0


def test_neither_word_is_in_the_tweets_and_tfidf_gives_exactly_zero(gaps, cpu_tweets):
    unseen = bias.unseen_terms(cpu_tweets.pool.texts)
    assert "muslim" in unseen and "christian" in unseen
    row = gaps.loc[("tfidf_logreg", "Muslim - Christian")]
    assert (row["gap"], row["low"], row["high"]) == (0, 0, 0), row


def test_tfidf_has_a_gap_of_its_own_where_it_saw_the_terms(gaps, cpu_tweets):
    unseen = bias.unseen_terms(cpu_tweets.pool.texts)
    assert "gay" not in unseen and "straight" not in unseen
    assert gaps.loc[("tfidf_logreg", "gay - straight"), "excludes_zero"]  # measured: +3.0 [1.7, 5.4]


def test_the_female_male_names_gap_is_about_14_points_yet_its_interval_reaches_zero(gaps):
    row = gaps.loc[("minilm_probe", "female - male names")]
    assert abs(row["gap"] - (-14)) <= 1, row  # measured: -13.6
    assert row["low"] < 0 <= row["high"], row  # measured: [-26.5, 0.4]


def test_resampling_templates_alone_excludes_zero_but_single_names_spread_over_40_points(cpu_tweets):
    terms, names = bias.terms_of(), bias.CONTRASTS[0]
    score = bias.sentiment_scorers(cpu_tweets)["minilm_probe"]
    per_term = bias.template_scores(score(bias.template_sentences(terms, TEMPLATES)), terms, TEMPLATES)
    fixed_names = bias.score_gaps(per_term, [names], resample_terms=False).iloc[0]
    assert fixed_names["high"] < 0, fixed_names  # measured: -13.6 [-16.4, -10.5]
    means = [100 * per_term[t].mean() for t in names.a + names.b]
    assert max(means) - min(means) > 40, means  # measured: 19.3 (Latisha) to 68.8 (Tanisha)


@pytest.fixture(scope="module")
def cue():
    return bias.cue_tasks(CPU)


@pytest.fixture(scope="module")
def reliance(cue):
    """Mean accuracies and drop (points) over the seeds, indexed by (source, strategy)."""
    arms = {("cued", "linear_probe"): cue.cued, ("clean", "linear_probe"): cue.clean,
            ("cued", "finetune_all"): cue.cued, ("clean", "finetune_all"): cue.clean,
            ("none", "scratch"): cue.cued, ("cued + copies", "finetune_all"): cue.mitigated}
    rows = {arm: bias.cue_reliance(task, cue.counterfactual, arm[1], FEW, CPU.seeds, SETTINGS)
            [["normal", "counterfactual", "drop"]].mean() for arm, task in arms.items()}
    return pd.DataFrame(rows).T


def test_pretrained_without_the_cue_the_model_loses_under_5_points_on_counterfactual_digits(reliance):
    assert reliance.loc[("clean", "linear_probe"), "drop"] < 5, reliance  # measured: 1.9
    assert reliance.loc[("clean", "finetune_all"), "drop"] < 5, reliance  # measured: 4.3


def test_pretrained_with_the_cue_it_loses_20_points_more_frozen_and_10_more_fine_tuned(reliance):
    probe = reliance.loc[("cued", "linear_probe"), "drop"] - reliance.loc[("clean", "linear_probe"), "drop"]
    tuned = reliance.loc[("cued", "finetune_all"), "drop"] - reliance.loc[("clean", "finetune_all"), "drop"]
    assert probe >= 20, reliance  # measured: 30.4 - 1.9 = 28.5
    assert tuned >= 10, reliance  # measured: 18.1 - 4.3 = 13.8


def test_on_the_normal_test_set_the_two_sources_score_within_3_points(reliance):
    for strategy in ("linear_probe", "finetune_all"):
        gap = reliance.loc[("cued", strategy), "normal"] - reliance.loc[("clean", strategy), "normal"]
        assert abs(gap) <= 3, (strategy, reliance)  # measured: probe 85.6 vs 84.0, fine-tuned 87.0 vs 87.3


def test_scratch_leans_on_the_mark_about_as_much_as_the_fine_tuned_cued_source(reliance):
    scratch, cued = reliance.loc[("none", "scratch"), "drop"], reliance.loc[("cued", "finetune_all"), "drop"]
    assert abs(scratch - cued) <= 5, reliance  # measured: 15.2 vs 18.1
    assert scratch >= 10, reliance  # and it does lean on it: 15.2


def test_counterfactual_copies_remove_the_drop_and_cost_under_3_points_on_the_normal_test_set(reliance):
    before, after = reliance.loc[("cued", "finetune_all")], reliance.loc[("cued + copies", "finetune_all")]
    assert abs(after["drop"]) <= 2, reliance  # measured: -0.7
    assert after["counterfactual"] - before["counterfactual"] >= 10, reliance  # measured: 68.9 -> 86.0
    assert before["normal"] - after["normal"] < 3, reliance  # measured: 87.0 -> 85.3
