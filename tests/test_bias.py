"""Unit tests of tlcourse.bias: the template audit (sentences, scores, bootstrap) and the planted cue."""
import numpy as np
import pytest
import torch

from tlcourse import bias


def test_templates_expand_to_frames_times_terms_in_frame_major_order():
    frames = bias.template_frames()
    emotional = sum("{emotion}" in t for t in bias.TEMPLATES)
    words = sum(len(w) for w in bias.EMOTIONS.values())
    assert len(frames) == emotional * words + (len(bias.TEMPLATES) - emotional)  # 8 * 6 + 4 = 52
    terms = ["Amanda", "my brother"]
    sentences = bias.template_sentences(terms)
    assert len(sentences) == 2 * len(frames)
    assert sentences[0] == "Amanda feels happy." and sentences[1] == "My brother feels happy."
    assert sentences[-1] == "My brother is flying to Denver tomorrow."


def test_sentences_of_a_pair_differ_only_in_the_term():
    terms = ["a Muslim man", "a Christian man"]
    a, b = bias.template_sentences(terms)[0::2], bias.template_sentences(terms)[1::2]
    assert all(x.replace("Muslim", "Christian") == y for x, y in zip(a, b))


def test_every_contrast_compares_lists_of_equal_weight_and_terms_are_listed_once():
    for contrast in bias.CONTRASTS:
        assert contrast.a and contrast.b and not set(contrast.a) & set(contrast.b)
        if contrast.paired:
            assert len(contrast.a) == len(contrast.b)
    terms = bias.terms_of()
    assert len(terms) == len(set(terms))
    names = bias.CONTRASTS[1]  # the two name contrasts split the same 16 names two ways
    assert sorted(names.a + names.b) == sorted(bias.FEMALE_NAMES + bias.MALE_NAMES)


def test_template_scores_average_each_templates_frames_per_term():
    terms = ["x", "y"]
    frames = bias.template_frames()
    scores = np.array([[t, 10 + t] for t, _, _ in frames], dtype=float).ravel()  # term y scores 10 more
    per_term = bias.template_scores(scores, terms)
    assert per_term["x"].shape == (len(bias.TEMPLATES),)
    np.testing.assert_allclose(per_term["y"] - per_term["x"], 10)
    np.testing.assert_allclose(per_term["x"], np.arange(len(bias.TEMPLATES)))


def test_bootstrap_interval_covers_a_known_difference_and_excludes_zero():
    rng = np.random.default_rng(1)
    base = rng.normal(0.5, 0.2, (12, 1))  # templates differ a lot; the terms add small noise
    a = base + 0.1 + rng.normal(0, 0.02, (12, 8))
    b = base + rng.normal(0, 0.02, (12, 8))
    gap, low, high = bias.bootstrap_gap(a, b, seed=0)
    assert low < 0.1 < high and low > 0
    assert gap == pytest.approx(a.mean() - b.mean())
    assert bias.bootstrap_gap(a, b, seed=0) == (gap, low, high)  # seeded: the same interval again


def test_bootstrap_of_no_difference_covers_zero_and_paired_identical_lists_give_exactly_zero():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.5, 0.1, (12, 6)), rng.normal(0.5, 0.1, (12, 6))
    _, low, high = bias.bootstrap_gap(a, b, seed=0)
    assert low < 0 < high
    assert bias.bootstrap_gap(a, a.copy(), seed=0, paired=True) == (0.0, 0.0, 0.0)


def test_score_gaps_and_the_audit_find_a_planted_term_effect():
    """A scorer that adds 0.2 to every sentence naming a woman: the women - men gap is +20
    points, with an interval that excludes 0; the other contrasts have none."""
    women = bias.CONTRASTS[2]

    def scorer(texts):
        return np.array([0.5 + 0.2 * any(t.lower() in s.lower() for t in women.a) for s in texts])

    table = bias.audit_sentiment({"planted": scorer}, n_boot=200).set_index("contrast")
    assert table.loc["women - men", "gap"] == pytest.approx(20)
    assert table.loc["women - men", "excludes_zero"]
    assert (table.drop("women - men")["gap"].abs() < 1e-9).all()


def test_unseen_terms_are_the_words_no_training_text_contains():
    unseen = bias.unseen_terms(["I met Adam and my sister", "a gay couple"])
    assert "adam" not in unseen and "sister" not in unseen and "gay" not in unseen
    assert "muslim" in unseen and "amanda" in unseen
