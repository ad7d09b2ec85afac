"""Exercise 04 · NLP transfer: freeze transformer layers, probe frozen embeddings, choose by measuring.

q1 train only the top two transformer layers and the head, q2 embed once and fit a linear
probe with 100 labelled tweets, q3 measure TF-IDF against the MiniLM probe and choose.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ..freeze import named_blocks
from ..models.text import TextClassifier
from ..nlp import PROBE_C
from . import checks, references
from .core import Mistake, Problem, Requirement

LABELS = 100  # labelled tweets in all (50 per class) in q2 and q3
C = PROBE_C  # q2's probe strength: notebook 04's, chosen by cross-validation on pool tweets
TOP = ["layer4", "layer5", "head"]  # MiniLM has layer0..layer5


def _is_classifier(top_model) -> None:
    checks.expect_type(top_model, "your model", TextClassifier, "the classifier made by task.make_model(True)")
    checks.expect_head(top_model, 2)


def _pretrained_layers(top_model) -> None:
    lower = [name for name in named_blocks(top_model) if name not in TOP]
    checks.expect_unchanged(top_model, references.tweets().make_model(True), lower,
                            "start from task.make_model(True) (pretrained=False is the small "
                            "scratch transformer) and do not train it in this exercise.")


q1 = Problem(
    name="q1", exercise="04", title="Fine-tune only the top two transformer layers",
    variables=("top_model",), points=1,
    requirements=[
        Requirement("the answer is a pretrained text classifier", _is_classifier, gate=True),
        Requirement("only layer4, layer5 and the head are trainable", partial(
            checks.expect_trainable, wanted=TOP,
            task="train only the top two transformer layers and the head")),
        Requirement("the frozen layers are the pretrained ones", _pretrained_layers),
    ],
    hints=[
        "named_blocks(model) lists embeddings, layer0 ... layer5, head: the same freeze helpers "
        "as for the CNNs work on transformer layers.",
        "last_blocks(model, 3) names the last three blocks: the top two layers and the head.",
        "top_model = task.make_model(True); set_trainable(top_model, last_blocks(top_model, 3))",
    ],
)


def _embedding_shape(pool_embeddings, probe, probe_accuracy) -> None:
    checks.expect_type(pool_embeddings, "`pool_embeddings`", torch.Tensor, "the tensor from task.embeddings()")
    task = references.tweets()
    expected = (len(task.pool), task.encoder.dim)
    if tuple(pool_embeddings.shape) != expected:
        raise Mistake(f"`pool_embeddings` has shape {tuple(pool_embeddings.shape)}; expected {expected}: "
                      f"one {task.encoder.dim}-long vector per pool tweet.")


def _same_embeddings(pool_embeddings, probe, probe_accuracy) -> None:
    reference = references.tweets().embeddings()[0]
    norms = pool_embeddings.float().norm(dim=1)
    if not torch.allclose(norms, torch.ones_like(norms), atol=1e-3):
        raise Mistake("the embeddings are not unit-length: MiniLM's sentence vectors are compared "
                      "by cosine, so encode() normalises them (normalize=True), as task.embeddings() does.")
    if not torch.allclose(pool_embeddings.float(), reference, atol=1e-3):
        raise Mistake("these are not the frozen MiniLM's embeddings of task.pool: take them from "
                      "task.embeddings(), which computes them once and caches them on disk.")


def _test_accuracy(probe) -> float:
    """The test accuracy of the learner's ``probe``, measured here on the reference test embeddings."""
    task = references.tweets()
    with torch.no_grad():
        scores = probe(task.embeddings()[1])
    return (scores.argmax(1) == task.test.labels).float().mean().item()


def _probe_scores_two_classes(pool_embeddings, probe, probe_accuracy) -> None:
    """``probe`` is a module mapping (N, 384) embeddings to (N, 2) class scores."""
    checks.expect_type(probe, "`probe`", nn.Module, "the model fit_linear_probe returns")
    with torch.no_grad():
        out = probe(torch.zeros(3, references.tweets().encoder.dim))
    if tuple(out.shape) != (3, 2):
        raise Mistake(f"`probe` maps 3 embeddings to shape {tuple(out.shape)}; expected (3, 2): one "
                      "score per class (negative, positive). Fit it on the 384-long embeddings.")


def _accuracy_is_the_probes(pool_embeddings, probe, probe_accuracy) -> None:
    """``probe_accuracy`` is what ``probe`` scores on the test embeddings, not a number typed in."""
    checks.expect_fraction(probe_accuracy, "probe_accuracy")
    measured = _test_accuracy(probe)
    if abs(float(probe_accuracy) - measured) > 1e-4:
        raise Mistake(f"`probe_accuracy` is {float(probe_accuracy):.1%}, but your probe classifies "
                      f"{measured:.1%} of the test tweets correctly: compute it from the probe, "
                      "(probe(test_embeddings).argmax(1) == task.test.labels).float().mean().item().")


def _probe_accuracy(pool_embeddings, probe, probe_accuracy) -> None:
    """The learner's probe, measured here, is within 3 points of the reference run's accuracy."""
    checks.expect_close(_test_accuracy(probe), references.tweets_accuracy("linear_probe", LABELS // 2), 0.03,
                        "your probe's test accuracy",
                        f"fit fit_linear_probe with C={C} on the embeddings of few_shot_indices(task.pool, "
                        "50, seed=0) and their labels.")


q2 = Problem(
    name="q2", exercise="04", title="Embed once, then a linear probe on 100 tweets",
    variables=("pool_embeddings", "probe", "probe_accuracy"), points=2,
    requirements=[
        Requirement("the embeddings are a (pool, 384) tensor", _embedding_shape, gate=True),
        Requirement("they are the frozen MiniLM's normalised embeddings", _same_embeddings),
        Requirement("the probe scores two classes", _probe_scores_two_classes, gate=True),
        Requirement("probe_accuracy is the probe's own test accuracy", _accuracy_is_the_probes),
        Requirement("the probe reaches the reference accuracy", _probe_accuracy),
    ],
    hints=[
        "task.embeddings() returns (pool, test) sentence vectors of the frozen encoder, computed "
        "once (length-sorted batches, dynamic padding) and cached.",
        "labelled = few_shot_indices(task.pool, 50, seed=0) draws 50 tweets per class; fit "
        f"probe = fit_linear_probe(pool_embeddings[labelled], task.pool.labels[labelled], C={C}).",
        "probe_accuracy = (probe(test_embeddings).argmax(1) == task.test.labels).float().mean().item()",
    ],
)

q3 = Problem(
    name="q3", exercise="04", title="Bag of words or a pretrained encoder? Measure, then choose",
    variables=("results", "best_strategy"), points=3,
    requirements=checks.measure_and_choose(
        ("tfidf_logreg", "linear_probe"), ("labels", LABELS), f"{LABELS} labels", "compare(...)",
        lambda strategy, seed: references.tweets_validation_accuracy(strategy, LABELS // 2, seed),
        f"measure with compare(validation_task(task), ..., [{LABELS // 2}], profile.seeds, "
        "text_settings(profile))."),
    hints=[
        "compare(task, strategies, labels_per_class, seeds, settings) runs every combination; "
        f"with two classes, {LABELS // 2} labels per class are {LABELS} labels in all.",
        f"results = compare(validation_task(task), ['tfidf_logreg', 'linear_probe'], [{LABELS // 2}], profile.seeds, "
        "text_settings(profile))",
        "best_strategy = results.groupby('strategy')['accuracy'].mean().idxmax()",
    ],
)

QUESTIONS = (q1, q2, q3)
