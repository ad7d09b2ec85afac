"""Exercise 01 · pretraining: reuse the letters-pretrained SmallCNN for digits.

q1 give the pretrained model a head for digits, q2 freeze its backbone, q3 measure whether
letter features help on digits with one label per class (against random features), q4 advise
a colleague in words from those numbers (a judgement question, graded by the instructor).
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ..freeze import named_blocks
from ..models import SmallCNN
from ..pretrain import load_pretrained_cnn
from . import checks, references
from .core import Judgement, Mistake, Problem, Requirement

LETTERS, DIGITS = 26, 10


def _is_small_cnn(model) -> None:
    checks.expect_type(model, "your model", SmallCNN, "the SmallCNN returned by load_pretrained_cnn()")


def _pretrained_backbone(model) -> None:
    backbone = [name for name in named_blocks(model) if name != "head"]
    checks.expect_unchanged(model, load_pretrained_cnn()[0], backbone,
                            "load the model with load_pretrained_cnn() (a new SmallCNN starts from "
                            "random weights) and do not train it in this exercise.")


q1 = Problem(
    name="q1", exercise="01", title="Give the pretrained model a head for digits",
    variables=("digit_model",), points=1,
    requirements=[
        Requirement("the answer is a SmallCNN", _is_small_cnn, gate=True),
        Requirement("the head predicts 10 digits", partial(checks.expect_head, num_classes=DIGITS,
                                                           source_classes=LETTERS)),
        Requirement("the backbone is pretrained", _pretrained_backbone),
    ],
    hints=[
        "load_pretrained_cnn() returns (model, meta); the model's head predicts 26 letters.",
        "replace_head(model, 10) swaps the last nn.Linear for a new one with 10 outputs.",
    ],
)

q2 = Problem(
    name="q2", exercise="01", title="Freeze everything but the head",
    variables=("frozen_model",), points=2,
    requirements=[
        Requirement("the answer is a SmallCNN", _is_small_cnn, gate=True),
        Requirement("the head predicts 10 digits", partial(checks.expect_head, num_classes=DIGITS,
                                                           source_classes=LETTERS)),
        Requirement("only the head is trainable", partial(
            checks.expect_trainable, wanted=["head"], task="freeze everything but the head")),
        Requirement("the frozen backbone is the pretrained one", _pretrained_backbone),
    ],
    hints=[
        "A frozen parameter has requires_grad=False; trainable_summary(model) shows every block.",
        "tlcourse.freeze.set_trainable(model, blocks) freezes every block not in `blocks`.",
        "Load, replace the head, then: set_trainable(frozen_model, ['head']).",
    ],
)


def _measured(probe, pretrained: bool) -> float:
    """The test accuracy of the learner's ``probe``, measured here on the reference features."""
    task = references.digits()
    with torch.no_grad():
        scores = probe(task.features(pretrained=pretrained)[1])
    return (scores.argmax(1) == task.test.labels).float().mean().item()


def _probes(pretrained_probe, random_probe, pretrained_accuracy, random_accuracy) -> None:
    for name, probe in (("pretrained_probe", pretrained_probe), ("random_probe", random_probe)):
        checks.expect_type(probe, f"`{name}`", nn.Module, "the model fit_linear_probe returns")
        with torch.no_grad():
            out = probe(torch.zeros(3, references.digits().features(pretrained=True)[1].shape[1]))
        if tuple(out.shape) != (3, 10):
            raise Mistake(f"`{name}` maps 3 feature vectors to shape {tuple(out.shape)}; expected (3, 10).")
    checks.expect_fraction(pretrained_accuracy, "pretrained_accuracy")
    checks.expect_fraction(random_accuracy, "random_accuracy")


def _own_accuracies(pretrained_probe, random_probe, pretrained_accuracy, random_accuracy) -> None:
    """The accuracies are what the learner's probes score on the test set, measured again here:
    a number typed in earns nothing."""
    for name, probe, typed, pretrained in (("pretrained_accuracy", pretrained_probe, pretrained_accuracy, True),
                                           ("random_accuracy", random_probe, random_accuracy, False)):
        measured = _measured(probe, pretrained)
        if abs(float(typed) - measured) > 1e-4:
            raise Mistake(f"`{name}` is {float(typed):.1%}, but your probe classifies {measured:.1%} of the "
                          "test digits correctly: compute it from the probe, (probe(test_features).argmax(1) "
                          "== task.test.labels).float().mean().item().")


def _pretrained_matches(pretrained_probe, random_probe, pretrained_accuracy, random_accuracy) -> None:
    checks.expect_close(_measured(pretrained_probe, True), references.digits_accuracy("linear_probe", 1), 0.03,
                        "your pretrained-feature probe's accuracy",
                        "use task.features(pretrained=True), the 10 digits drawn by "
                        "few_shot_indices(task.pool, 1, seed=0), and fit_linear_probe.")


def _random_matches(pretrained_probe, random_probe, pretrained_accuracy, random_accuracy) -> None:
    checks.expect_close(_measured(random_probe, False), references.digits_accuracy("random_probe", 1), 0.05,
                        "your random-feature probe's accuracy",
                        "use task.features(pretrained=False) and the same 10 labelled digits.")


def _pretrained_wins(pretrained_probe, random_probe, pretrained_accuracy, random_accuracy) -> None:
    if not _measured(pretrained_probe, True) > _measured(random_probe, False):
        raise Mistake(f"your measurement says random features ({float(random_accuracy):.1%}) are "
                      f"at least as good as pretrained ones ({float(pretrained_accuracy):.1%}): "
                      "check that the two probes read different backbones' features.")


q3 = Problem(
    name="q3", exercise="01", title="Do letter features help on digits? Measure it",
    variables=("pretrained_probe", "random_probe", "pretrained_accuracy", "random_accuracy"), points=3,
    requirements=[
        Requirement("both probes score 10 classes and both answers are accuracies", _probes, gate=True),
        Requirement("the accuracies are the probes' own", _own_accuracies),
        Requirement("the pretrained probe matches the reference", _pretrained_matches),
        Requirement("the random-feature probe matches the reference", _random_matches),
        Requirement("pretrained features win", _pretrained_wins),
    ],
    hints=[
        "task = digits_task(profile); task.features(pretrained) returns (pool, test) features, "
        "computed once.",
        "labelled = few_shot_indices(task.pool, 1, seed=0) picks one digit per class; fit the "
        "probe on pool_features[labelled] and task.pool.labels[labelled].",
        "accuracy = (probe(test_features).argmax(1) == task.test.labels).float().mean().item()",
    ],
)

q4 = Judgement(
    name="q4", exercise="01", title="Advise a colleague: start from the letters network or not?",
    variables=("advice",), requirements=(), min_words=40, instructor_points=2,
    hints=[
        "Start with a recommendation a colleague can act on: build on the letters-pretrained "
        "features, or do not count on them.",
        "Support it with your q3 numbers: both accuracies and the gap between them in points.",
        "Say one thing your measurement cannot tell: one draw of ten labelled digits on one seed "
        "(how much would the gap move with other digits?), a probe on random features is not a "
        "network trained from scratch, and their forms are not our test digits.",
    ],
)

QUESTIONS = (q1, q2, q3, q4)
