"""Exercise 02 · feature extraction: cache the frozen features, write the probe, pick a strategy.

q1 extract the pool's features once into a cache file, q2 write a linear probe by hand and
reach the reference accuracy, q3 measure probe vs scratch at one label per class and choose.
"""
from __future__ import annotations

from functools import lru_cache, partial

import torch
from torch import nn

from ..data import few_shot_indices
from . import checks, references
from .core import Mistake, Problem, Requirement

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


def _probe_outputs(train_probe) -> None:
    if not callable(train_probe):
        raise Mistake(f"`train_probe` should be a function (features, labels, num_classes) -> "
                      f"model; it is a {type(train_probe).__name__}.")
    probe = _trained(train_probe)
    checks.expect_type(probe, "what train_probe returns", nn.Module, "a torch nn.Module")
    with torch.no_grad():
        out = probe(torch.zeros(3, FEATURES))
    if tuple(out.shape) != (3, 10):
        raise Mistake(f"the probe maps 3 feature vectors to shape {tuple(out.shape)}; expected "
                      "(3, 10): one score per digit class.")


@lru_cache(maxsize=4)
def _trained(train_probe) -> nn.Module:
    """The learner's probe fitted on the 5-per-class reference subset (once per function)."""
    task = references.digits()
    labelled = few_shot_indices(task.pool, 5, seed=0)
    features = task.features(pretrained=True)[0][labelled].clone()
    return train_probe(features, task.pool.labels[labelled].clone(), 10)


def _is_linear(train_probe) -> None:
    trainable = sum(p.numel() for p in _trained(train_probe).parameters() if p.requires_grad)
    if trainable != FEATURES * 10 + 10:
        raise Mistake(f"the probe has {trainable:,} trainable parameters; a linear probe has one "
                      f"weight per feature and class plus one bias per class "
                      f"({FEATURES * 10 + 10:,}). Use a single nn.Linear({FEATURES}, 10).")


def _probe_accuracy(train_probe) -> None:
    task = references.digits()
    with torch.no_grad():
        scores = _trained(train_probe)(task.features(pretrained=True)[1])
    accuracy = (scores.argmax(1) == task.test.labels).float().mean().item()
    checks.expect_close(accuracy, references.digits_accuracy("linear_probe", 5), 0.05,
                        "your probe's test accuracy with 5 labels per class",
                        "train until the loss stops falling (a few hundred full-batch steps), "
                        "and standardise the features or use a larger learning rate.")


q2 = Problem(
    name="q2", exercise="02", title="Write the linear probe yourself",
    variables=("train_probe",), points=2,
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

QUESTIONS = (q1, q2, q3)
