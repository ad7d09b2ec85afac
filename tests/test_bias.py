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


# --- the planted cue ---------------------------------------------------------------------------

def test_add_mark_puts_a_white_square_in_the_chosen_corner_and_leaves_the_rest():
    images = torch.zeros(2, 1, 32, 32)
    marked = bias.add_mark(images, torch.tensor([0, 1]))
    m, g = bias.MARK, bias.MARGIN
    assert marked[0, 0, g:g + m, g:g + m].eq(1).all() and marked[1, 0, -g - m:-g, -g - m:-g].eq(1).all()
    assert marked.sum() == 2 * m * m and images.sum() == 0  # one square each; the input untouched


def test_cue_corners_follow_the_class_group_at_the_given_rate():
    labels = torch.arange(10).repeat(500)
    assert torch.equal(bias.cue_corners(labels, 1.0), labels % 2)
    assert torch.equal(bias.cue_corners(labels, 0.0), 1 - labels % 2)  # the counterfactual: always wrong
    agree = (bias.cue_corners(labels, 0.9, seed=3) == labels % 2).float().mean()
    assert 0.88 < agree < 0.92
    assert torch.equal(bias.cue_corners(labels, 0.9, seed=3), bias.cue_corners(labels, 0.9, seed=3))


def _bars(n: int, seed: int, strength: float):
    """Two classes of noisy 32 x 32 images: a faint horizontal bar (class 0) or vertical one (1)."""
    from tlcourse.data import ImageDataset

    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = 0.3 * torch.rand(n, 1, 32, 32, generator=gen)
    images[labels == 0, :, 15:17, 8:24] += strength
    images[labels == 1, :, 8:24, 15:17] += strength
    return ImageDataset(images.clamp(0, 1), labels, ["horizontal", "vertical"])


class Pixels(torch.nn.Module):
    """A 'pretrained' model whose features are the pixels themselves: a probe on it is logistic
    regression on the image."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(32 * 32, 2)

    def forward(self, x):
        return self.head(x.flatten(1))


@pytest.mark.parametrize("pool_rate, leans", [(1.0, True), (0.5, False)])
def test_a_probe_uses_a_planted_cue_only_when_the_training_set_plants_it(pool_rate, leans):
    from tlcourse.experiments import Settings, Task

    pool, test = _bars(400, seed=0, strength=0.15), _bars(200, seed=1, strength=0.15)
    task = Task("bars", bias.cued(pool, pool_rate, seed=2), bias.cued(test, 1.0), lambda pretrained: Pixels())
    table = bias.cue_reliance(task, bias.cued(test, 0.0), "linear_probe", 20, (0, 1), Settings(C=1.0))
    assert list(table.columns[-3:]) == ["normal", "counterfactual", "drop"]
    assert (table["drop"].mean() >= 20) == leans, table
    if not leans:
        assert table["drop"].abs().max() <= 10, table


def test_counterfactual_copies_train_each_image_twice_with_the_mark_moved():
    from tlcourse.experiments import Task

    pool = _bars(20, seed=0, strength=0.5)
    corners = bias.cue_corners(pool.labels, 1.0)
    marked = bias.cued(pool, 1.0)
    task = bias.CounterfactualCopies("bars", marked, marked, lambda pretrained: Pixels(),
                                     unmarked=pool.images, corners=corners)
    images, labels = task.train_data(torch.tensor([0, 3]))
    assert torch.equal(labels, torch.tensor([0, 1, 0, 1]))
    assert torch.equal(images[:2], marked.images[[0, 3]])
    assert torch.equal(images[2:], bias.add_mark(pool.images[[0, 3]], 1 - corners[[0, 3]]))


def test_the_planted_cue_question_re_measures_the_learners_model_and_names_the_usual_slips(monkeypatch):
    """Exercise 07's q4 on a stand-in for notebook 07's cue tasks (a pixel probe that reads only the mark)."""
    from types import SimpleNamespace

    from tlcourse.exercises import ex07 as ex, references
    from tlcourse.exercises.core import CORRECT

    test = _bars(100, seed=1, strength=0.0)
    cue = SimpleNamespace(cued=SimpleNamespace(test=bias.cued(test, 0.9, seed=4)),
                          counterfactual=bias.cued(test, 0.0))
    monkeypatch.setattr(references, "cue", lambda: cue)
    from tlcourse.train import evaluate

    # reads only the mark: class 0 from the top-left square, class 1 from the bottom-right one; built
    # from torch.nn layers, as the checks (outside the notebook) rebuild only course and torch classes
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32, 2))
    corners = bias.add_mark(torch.zeros(2, 1, 32, 32), torch.tensor([0, 1])).flatten(1)
    with torch.no_grad():
        model[1].weight.copy_(corners)
        model[1].bias.zero_()
    drop = 100 * (evaluate(model, cue.cued.test)["accuracy"] - evaluate(model, cue.counterfactual)["accuracy"])
    assert drop > ex.THRESHOLD

    assert ex.q4.evaluate({"model": model, "drop": drop, "leans_on_mark": True}).status == CORRECT
    for answer, advice in ((drop / 100, "a fraction"), (-drop, "wrong sign"), (0.0, "same test set"),
                           (drop + 7, "Measure `model` itself")):
        verdict = ex.q4.evaluate({"model": model, "drop": answer, "leans_on_mark": True})
        assert verdict.status != CORRECT and advice in " ".join(verdict.feedback), verdict.feedback
    verdict = ex.q4.evaluate({"model": model, "drop": drop, "leans_on_mark": False})
    assert "should be True" in " ".join(verdict.feedback)
    assert ex.q4.evaluate({"model": "a model", "drop": drop, "leans_on_mark": True}).points == 0
    verdict = ex.q4.evaluate({"model": Pixels(), "drop": drop, "leans_on_mark": True})  # a class of its own
    assert verdict.points == 0 and "could not be handed to the checks" in verdict.feedback[0]
