"""Exercise 02 · feature extraction: cache the frozen features, write the probe, pick a strategy.

q1 extract the pool's features once into a cache file, q2 write a linear probe by hand and
reach the reference accuracy, q3 measure probe vs scratch at one label per class and choose,
q4 advise a colleague with 20 scans per class in words from those numbers (a judgement
question, graded by the instructor).
"""
from __future__ import annotations

import torch
from torch import nn

from ..data import few_shot_indices
from . import checks, references
from .answers import Raised
from .core import Judgement, Mistake, Problem, Requirement, attempt, outcome

FEATURES = 256  # length of the SmallCNN's feature vector


def _feature_tensor(feature_file, pool_features) -> None:
    checks.expect_type(pool_features, "`pool_features`", torch.Tensor,
                       "the tensor returned by extract_features")
    expected = (len(references.digits().pool), FEATURES)
    if tuple(pool_features.shape) != expected:
        raise Mistake(f"`pool_features` has shape {tuple(pool_features.shape)}; expected {expected}: "
                      "one 256-long feature vector per pool image (the input of the head).")


def _same_features(feature_file, pool_features) -> None:
    reference = references.digits().features(pretrained=True)[0]
    if not torch.allclose(pool_features.float(), reference, atol=1e-4):
        raise Mistake("these are not the pretrained backbone's features of the pool: build the "
                      "model with digits.make_model(True) and pass digits.pool to extract_features.")


def _cached(feature_file, pool_features) -> None:
    checks.expect_saved_tensor(feature_file, pool_features, "pool features")


q1 = Problem(
    name="q1", exercise="02", title="Extract the pool's features once, with a cache",
    variables=("feature_file", "pool_features"), points=1,
    requirements=[
        Requirement("the features are a (pool, 256) tensor", _feature_tensor, gate=True),
        Requirement("they are the pretrained backbone's features", _same_features),
        Requirement("they are cached on disk", _cached),
    ],
    hints=[
        "extract_features(model, data, cache=path) runs the backbone (without its head) once "
        "and saves the result at `path`; later calls with the same model and data read the file.",
        "pool_features = extract_features(digits.make_model(True), digits.pool, cache=feature_file)",
    ],
)


def _run_probe(train_probe) -> dict:
    """Where the learner's function was defined: fit their probe on the 5-per-class reference
    subset, and hand over only its outputs (on 3 zero vectors and on the test features) and its
    number of trainable parameters."""
    task = references.digits()
    labelled = few_shot_indices(task.pool, 5, seed=0)
    pool, test = task.features(pretrained=True)
    probe = attempt(train_probe, pool[labelled].clone(), task.pool.labels[labelled].clone(), 10)
    if not isinstance(probe, nn.Module):
        return {"probe": probe if isinstance(probe, Raised) else type(probe).__name__}
    with torch.no_grad():
        return {"probe": "Module", "zeros": attempt(probe, torch.zeros(3, FEATURES)),
                "test_scores": attempt(probe, test),
                "trainable": sum(p.numel() for p in probe.parameters() if p.requires_grad)}


def _probe_outputs(run) -> None:
    if not isinstance(run, dict):
        raise Mistake(f"`train_probe` should be a function (features, labels, num_classes) -> "
                      f"model; it is a {type(run).__name__}.")
    kind = outcome(run["probe"], "train_probe(features, labels, 10)")
    if kind != "Module":
        raise Mistake(f"what train_probe returns should be a torch nn.Module; it is a {kind}.")
    out = outcome(run["zeros"], "your probe, on 3 feature vectors,")
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (3, 10):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise Mistake(f"the probe maps 3 feature vectors to shape {shape}; expected "
                      "(3, 10): one score per digit class.")


def _is_linear(run) -> None:
    trainable = run["trainable"]
    if trainable != FEATURES * 10 + 10:
        raise Mistake(f"the probe has {trainable:,} trainable parameters; a linear probe has one "
                      f"weight per feature and class plus one bias per class "
                      f"({FEATURES * 10 + 10:,}). Use a single nn.Linear({FEATURES}, 10).")


def _probe_accuracy(run) -> None:
    task = references.digits()
    scores = outcome(run["test_scores"], "your probe, on the test features,")
    if not isinstance(scores, torch.Tensor) or scores.shape != (len(task.test.labels), 10):
        raise Mistake("the probe's scores on the test features are not one row of 10 per test digit.")
    accuracy = (scores.argmax(1) == task.test.labels).float().mean().item()
    checks.expect_close(accuracy, references.digits_accuracy("linear_probe", 5), 0.05,
                        "your probe's test accuracy with 5 labels per class",
                        "train until the loss stops falling (a few hundred full-batch steps), "
                        "and standardise the features or use a larger learning rate.")


q2 = Problem(
    name="q2", exercise="02", title="Write the linear probe yourself",
    variables=("train_probe",), points=2, runs=_run_probe,
    requirements=[
        Requirement("train_probe returns a model scoring 10 classes", _probe_outputs, gate=True),
        Requirement("the probe is linear", _is_linear),
        Requirement("the probe reaches the reference accuracy", _probe_accuracy),
    ],
    hints=[
        "A linear probe is logistic regression: one nn.Linear(256, 10) trained with cross-entropy "
        "on the frozen features. The backbone is not involved any more.",
        "Full-batch training is fine with 50 examples: an optimizer (Adam, lr 0.01) and a few "
        "hundred steps of F.cross_entropy(probe(features), labels).",
        "Features of different size confuse the optimizer: subtract features.mean(0) and divide "
        "by features.std(0) inside the probe (nn.Module with two buffers), or raise the steps.",
    ],
)

q3 = Problem(
    name="q3", exercise="02", title="One label per class: probe or scratch? Measure, then choose",
    variables=("results", "best_strategy"), points=3,
    requirements=checks.measure_and_choose(
        ("scratch", "linear_probe"), ("labels_per_class", 1), "1 label per class", "compare(...)",
        lambda strategy, seed: references.digits_validation_accuracy(strategy, 1, seed),
        "measure with compare(validation_task(digits), ..., [1], profile.seeds, "
        "Settings.for_profile(profile)) on digits_task(profile)."),
    hints=[
        "compare(task, strategies, labels_per_class, seeds, settings) runs every combination and "
        "returns one row per run; validation_task(digits) is a task scored on held-out pool digits.",
        "results = compare(validation_task(digits), ['scratch', 'linear_probe'], [1], profile.seeds, settings)",
        "best_strategy = results.groupby('strategy')['accuracy'].mean().idxmax()",
    ],
)

q4 = Judgement(
    name="q4", exercise="02", title="Advise a colleague with 20 scans per class: probe, fine-tune or scratch?",
    variables=("advice",), requirements=(), min_words=40, instructor_points=2,
    hints=[
        "Start with a recommendation: probe, fine-tune or train from scratch, and what to try first.",
        "Support it with your q3 table: the mean validation accuracy of each strategy, over how many seeds.",
        "Say what q3 does not tell you: it measured one label per class, not 20; digits are near "
        "letters, solar-cell scans are not; and fine-tuning was not one of its arms.",
    ],
)

QUESTIONS = (q1, q2, q3, q4)
