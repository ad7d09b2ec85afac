"""Notebook 08's evidence: saved tables, gains over no transfer, the map, the advice rule and its
widget, on a synthetic results table whose answers are known."""
import math

import pandas as pd
import pytest

from tlcourse import evidence
from tlcourse.evidence import (COLUMNS, SCRATCH, SOURCES, course_results, decision_map, nearest_rows, recommend,
                               record, results_path)


def _runs(notebook, task, strategy, budgets, accuracies, seconds=1.0, params=100, seeds=(0, 1)):
    """Rows as compare(...) returns them: the same accuracy for every seed but the last (+0.02)."""
    rows = []
    for budget, accuracy in zip(budgets, accuracies):
        for seed in seeds:
            rows.append({"task": task, "strategy": strategy, "labels_per_class": budget, "labels": 10 * budget,
                         "seed": seed, "accuracy": accuracy + (0.02 if seed == seeds[-1] else 0.0),
                         "seconds": seconds, "trainable_parameters": params, "notebook": notebook})
    return rows


@pytest.fixture
def synthetic():
    """A near source that wins big with few labels and loses with many; a far one that only
    fine-tuning (slow) helps; notebook 06's prefixed names and 02's imagenet_probe."""
    rows = (_runs("02_feature_extraction", "letters->digits", "scratch", (1, 5, 50), (0.2, 0.6, 0.95))
            + _runs("02_feature_extraction", "letters->digits", "linear_probe", (1, 5, 50), (0.6, 0.8, 0.9))
            + _runs("02_feature_extraction", "imagenet->mnist5k", "imagenet_probe", (1, 5, 50), (0.3, 0.5, 0.8))
            + _runs("03_fine_tuning", "letters->digits", "scratch", (1, 5, 50), (0.2, 0.6, 0.95))
            + _runs("03_fine_tuning", "letters->digits", "finetune_all", (1, 5, 50), (0.4, 0.9, 0.955), seconds=30)
            + _runs("03_fine_tuning", "letters->digits", "random_probe", (1,), (0.99,))
            + _runs("05_domain_adaptation", "imagenet->solar_cells", "small_scratch", (10, 50), (0.6, 0.7))
            + _runs("05_domain_adaptation", "imagenet->solar_cells", "linear_probe", (10, 50), (0.55, 0.72))
            + _runs("05_domain_adaptation", "imagenet->solar_cells", "finetune_last_k", (10, 50), (0.58, 0.8),
                    seconds=40)
            + _runs("06_speech", "words->digits", "scratch", (1,), (0.2,))
            + _runs("06_speech", "words->digits", "words linear_probe", (1,), (0.9,))
            + _runs("06_speech", "imagenet->digits", "imagenet linear_probe", (1,), (0.3,)))
    return pd.DataFrame(rows)


def test_every_source_is_labelled_near_moderate_or_far_with_a_reason():
    assert set(SOURCES["similarity"]) == set(evidence.SIMILARITIES)
    assert not SOURCES.duplicated(["notebook", "task"]).any() and SOURCES["reason"].str.len().min() > 20
    labels = SOURCES.set_index(["notebook", "task"])["similarity"]
    assert labels["02_feature_extraction", "letters->digits"] == "near"
    assert labels["02_feature_extraction", "imagenet->mnist5k"] == "moderate"
    assert labels["05_domain_adaptation", "imagenet->solar_cells"] == "far"
    assert labels["06_speech", "imagenet->digits"] == "far" and labels["04_nlp_transfer", "minilm->tweets"] == "near"


def test_gain_is_over_the_same_targets_scratch_and_names_are_shared(synthetic):
    rows = evidence.evidence(synthetic).set_index(["notebook", "task", "strategy", "labels_per_class"])
    assert rows.loc[("02_feature_extraction", "letters->digits", "linear_probe", 1), "gain"] == pytest.approx(40)
    # notebook 02's imagenet_probe is the linear probe; its baseline is letters->digits' scratch (same digits)
    assert rows.loc[("02_feature_extraction", "imagenet->mnist5k", "linear_probe", 5), "gain"] == pytest.approx(-10)
    # notebook 06's "imagenet linear_probe" against the words task's scratch rows (same spoken digits)
    assert rows.loc[("06_speech", "imagenet->digits", "linear_probe", 1), "gain"] == pytest.approx(10)
    assert rows.loc[("05_domain_adaptation", "imagenet->solar_cells", "finetune_last_k", 50), "gain"] == pytest.approx(10)
    assert "random_probe" not in set(rows.index.get_level_values("strategy"))
    assert rows.loc[("03_fine_tuning", "letters->digits", "finetune_all", 5), "seeds"] == 2


def test_the_map_keeps_the_best_strategy_per_similarity_and_budget(synthetic):
    best = decision_map(evidence.evidence(synthetic)).set_index(["similarity", "budget"])
    assert best.loc[("near", "1-2"), "strategy"] == "linear_probe"  # +70 (speech) beats +40 and +20
    assert best.loc[("near", "1-2"), "gain"] == pytest.approx(70)
    assert best.loc[("near", "11-50"), "strategy"] == "finetune_all"
    assert best.loc[("far", "11-50"), "strategy"] == "finetune_last_k"
    assert list(best.index.get_level_values("similarity").unique()) == ["near", "moderate", "far"]


def test_the_rule_reads_the_nearest_rows_within_the_compute_limit(synthetic):
    rows = evidence.evidence(synthetic)
    near = nearest_rows(rows, 3, "near")  # 3 is nearer 5 than 1 on a log scale
    assert set(near["labels_per_class"]) == {5} and set(near["similarity"]) == {"near"}
    assert recommend(rows, 5, "near").choice == "full fine-tune"  # +30 against +20 for the probe
    cheap = recommend(rows, 5, "near", max_seconds=5)  # fine-tuning took 30 s a run
    assert cheap.choice == "probe" and set(cheap.rows["strategy"]) == {"linear_probe"}
    assert recommend(rows, 50, "near").choice == SCRATCH  # the probe loses 5 points, fine-tuning gains 0.5
    assert recommend(rows, 50, "far").choice == "partial fine-tune"
    assert recommend(rows, 50, "far", max_seconds=5).choice == "probe"  # +2 points within 5 s
    assert recommend(rows, 10, "far", max_seconds=5).choice == SCRATCH  # the probe loses 5 points
    assert recommend(rows, 1, "moderate").rows["task"].tolist() == ["imagenet->mnist5k"]


def test_the_rule_says_scratch_below_the_margin(synthetic):
    rows = evidence.evidence(synthetic)
    advice = recommend(rows, 50, "near")
    assert advice.gains.to_dict() == pytest.approx({"full fine-tune": 0.5, "probe": -5})
    assert advice.choice == SCRATCH and "under 1 points" not in advice.reason and "(full fine-tune)" in advice.reason


def test_the_rule_falls_back_to_the_nearest_similarity_and_rejects_bad_input(synthetic):
    rows = evidence.evidence(synthetic)
    only_far = rows[rows["similarity"] == "far"]
    assert set(nearest_rows(only_far, 10, "near")["similarity"]) == {"far"}
    assert recommend(rows, 5, "near", max_seconds=0).choice == SCRATCH
    with pytest.raises(ValueError, match="choose one of"):
        recommend(rows, 5, "close")


def test_record_then_course_results_loads_it(tmp_path, monkeypatch, synthetic, capsys):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    table = synthetic[synthetic["notebook"] == "06_speech"].assign(source_accuracy=0.5)
    path = record(table, "06_speech", "cpu")
    assert path == results_path("06_speech", "cpu") == tmp_path / "results" / "cpu" / "06_speech.csv"
    assert list(pd.read_csv(path).columns) == list(COLUMNS)
    monkeypatch.setitem(evidence.COMPACT, "03_fine_tuning", lambda p: synthetic[synthetic["notebook"] == "03_fine_tuning"])
    from tlcourse import get_profile
    loaded = course_results(get_profile("cpu"), notebooks=("06_speech", "03_fine_tuning"))
    assert loaded.groupby("notebook")["origin"].first().to_dict() == {"06_speech": "saved",
                                                                      "03_fine_tuning": "compact, measured now"}
    assert results_path("03_fine_tuning", "cpu", compact=True).exists()
    again = course_results(get_profile("cpu"), notebooks=("03_fine_tuning",))
    assert set(again["origin"]) == {"compact, saved"}
    out = capsys.readouterr().out
    assert "run notebooks/03_fine_tuning.ipynb for the full table" in out
    with pytest.raises(ValueError, match="missing"):
        record(table.drop(columns="seconds"), "06_speech", "cpu")


def test_advice_panel_follows_its_controls(synthetic):
    from tlcourse.widgets import AdvicePanel

    panel = AdvicePanel(evidence.evidence(synthetic), labels_per_class=5, similarity="near", compute="GPU")
    assert panel.advice.choice == "full fine-tune" and "<b>full fine-tune</b>" in panel.answer.value
    panel.compute.value = "CPU, seconds per run"
    assert panel.advice.choice == "probe" and "linear_probe" in panel.table.value
    panel.similarity.value = "far"
    panel.budget.value = 50
    assert panel.advice.choice == "probe" and "imagenet-&gt;solar_cells" in panel.table.value
    panel.compute.value = "GPU"
    assert panel.advice.choice == "partial fine-tune"
    with pytest.raises(ValueError, match="compute"):
        panel.ask(5, "near", "TPU")
    assert math.isinf(evidence.COMPUTE["GPU"])


def test_the_heatmap_draws_one_labelled_cell_per_measured_cell(synthetic):
    import matplotlib

    matplotlib.use("Agg")
    from tlcourse.plots import decision_heatmap

    best = decision_map(evidence.evidence(synthetic))
    ax = decision_heatmap(best)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == len(best) and any(t.startswith("+70.0 points\nlinear_probe\nwords->digits") for t in texts)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["near", "moderate", "far"]
