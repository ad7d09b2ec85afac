"""Exercise 05 · domain adaptation: rendered digits (labelled) -> handwriting (unlabelled).

q1 AdaBN by hand on the source-trained SmallCNN, q2 write the gradient-reversal layer of DANN,
q3 choose a pseudo-label threshold for self-training by measuring, without a target label,
q4 advise whether to self-train, in words from the q3 table (a judgement question, graded
by the instructor).
Every check works on the learner's own objects: it re-runs AdaBN on a copy of their source
model, runs their layer on fresh tensors, and re-measures their model's threshold table.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import math
import numbers
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..adapt import GradientReversal, adabn, threshold_statistics
from ..freeze import is_batchnorm
from ..models import SmallCNN
from . import checks, references
from .answers import Raised
from .core import Judgement, Mistake, Problem, Requirement, attempt, outcome

BATCH = 256  # q1: images per forward pass, as tlcourse.adapt.adabn
STATS_TOLERANCE = 0.01  # q1: |yours - target| / |target| over every BatchNorm mean and variance
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)  # q3: the candidates
MIN_KEPT = 0.4  # q3: share of the target pool that must still get a pseudo-label
MIN_CLASS_SHARE = 0.02  # q3: every digit keeps at least this share of the pseudo-labels
MIN_SOURCE_ACCURACY = 0.95  # q3: held-out source images at that confidence that are right
NO_THRESHOLD = 1.0  # q3: the answer when no candidate is safe (pseudo-label nothing)


# --- q1 · AdaBN by hand ------------------------------------------------------------------------

def _norms(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if is_batchnorm(m)]


def _statistics(model: nn.Module) -> torch.Tensor:
    """Every BatchNorm layer's running mean and variance, one flat vector (on the CPU)."""
    return torch.cat([torch.cat([m.running_mean, m.running_var]).detach().cpu().float()
                      for m in _norms(model)])


def _batches_counted(model: nn.Module) -> int:
    """Batches the first BatchNorm layer has seen in training mode since its last reset."""
    return int(_norms(model)[0].num_batches_tracked)


def _fingerprint(model: nn.Module) -> str:
    digest = hashlib.sha1()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def once_per_model(measure: Callable[[nn.Module], object]) -> Callable[[nn.Module], object]:
    """``measure(model)``, remembered for the last model it saw (the same weights and statistics):
    a question's requirements each ask for it, and it runs once."""
    last: dict[str, object] = {}

    def remembered(model: nn.Module):
        key = _fingerprint(model)
        if key not in last:
            last.clear()
            last[key] = measure(model)
        return last[key]

    return functools.wraps(measure)(remembered)


@once_per_model
def target_statistics(source_model: nn.Module) -> tuple[torch.Tensor, ...]:
    """What AdaBN on ``source_model`` gives on the target pool: shuffled batches of 256 (as
    :func:`tlcourse.adapt.adabn`) and the whole pool in one batch. Computed on copies. (Any
    shuffled order lands within a fraction of a percent of these; the pool's own, class-sorted
    order does not: see :func:`_in_pool_order`.)"""
    images = references.fonts_to_handwriting().pool.images
    return tuple(_statistics(adabn(copy.deepcopy(source_model), images, batch_size=size))
                 for size in sorted({min(BATCH, len(images)), len(images)}))


def _distance(statistics: torch.Tensor, target: torch.Tensor) -> float:
    return ((statistics - target).norm() / target.norm()).item()


def _is_copy(source_model, adabn_model) -> None:
    checks.expect_type(adabn_model, "`adabn_model`", SmallCNN, "a copy of source_model (copy.deepcopy)")
    if adabn_model is source_model:
        raise Mistake("`adabn_model` is `source_model` itself: adapt a copy, "
                      "adabn_model = copy.deepcopy(source_model), so the source model stays as trained.")
    mine, theirs = adabn_model.state_dict(), source_model.state_dict()
    if mine.keys() != theirs.keys() or any(mine[k].shape != theirs[k].shape for k in mine):
        raise Mistake("`adabn_model` does not have source_model's layers: start from "
                      "copy.deepcopy(source_model).")
    if min(_distance(_statistics(source_model), t) for t in target_statistics(source_model)) < STATS_TOLERANCE:
        raise Mistake("`source_model` itself now holds the target's statistics: it was adapted in "
                      "place. Run the setup cell again, then adapt a copy (copy.deepcopy(source_model)).")


def _weights_unchanged(source_model, adabn_model) -> None:
    before = dict(source_model.named_parameters())
    changed = [name for name, p in adabn_model.named_parameters()
               if not torch.equal(p.detach().cpu(), before[name].detach().cpu())]
    if changed:
        raise Mistake(f"{len(changed)} weight tensor(s) changed ({', '.join(changed[:3])}"
                      f"{', ...' if len(changed) > 3 else ''}): AdaBN takes no training step, it "
                      "only runs the target images forward. Run them under torch.no_grad(), with no "
                      "optimizer, and start again from copy.deepcopy(source_model).")


def _target_statistics(source_model, adabn_model) -> None:
    mine = _statistics(adabn_model)
    targets = target_statistics(source_model)
    if min(_distance(mine, t) for t in targets) <= STATS_TOLERANCE:
        return
    counted, trained = _batches_counted(adabn_model), _batches_counted(source_model)
    expected = math.ceil(len(references.fonts_to_handwriting().pool) / BATCH)
    if counted > trained:
        raise Mistake(f"the BatchNorm statistics were not reset: the layers count {counted} batches, "
                      f"the {trained} of source training and yours, so the source's mean and variance "
                      "are still mixed in. Call reset_running_stats() on every BatchNorm layer first.")
    if counted == expected and _distance(mine, _in_pool_order(source_model)) <= STATS_TOLERANCE:
        raise Mistake("the batches went through in the pool's own order, which is sorted by class: "
                      "each batch held two or three digits, so its variance was too small, and so is "
                      "their average. Shuffle first: order = torch.randperm(len(images)), then run "
                      "images[idx] for idx in order.split(256).")
    if counted == expected and _distance(mine, _with_default_momentum(source_model)) <= STATS_TOLERANCE:
        raise Mistake("the statistics were reset, but they are not the target pool's: with "
                      "BatchNorm's default momentum=0.1 each batch only moves them 10% of the way "
                      "(the reset values and early batches are under-weighted). Set momentum=None "
                      "on every BatchNorm layer (a cumulative average: every batch counts equally).")
    raise Mistake(f"the running statistics are {_distance(mine, targets[0]):.0%} away from the "
                  f"target pool's and the layers counted {counted} batch(es): run task.pool.images "
                  f"through once, shuffled, in batches of {BATCH} ({expected} batch(es)), after "
                  "resetting the statistics with momentum=None.")


def _replayed(source_model: nn.Module, momentum: float | None) -> torch.Tensor:
    """The statistics after a reset with ``momentum`` and the pool in its stored order, in
    batches of 256, on a copy: the two usual slips, replayed."""
    model = copy.deepcopy(source_model).cpu()
    for layer in _norms(model):
        layer.reset_running_stats()
        layer.momentum = momentum
    model.train()
    with torch.no_grad():
        for batch in references.fonts_to_handwriting().pool.images.split(BATCH):
            model(batch)
    return _statistics(model)


def _with_default_momentum(source_model: nn.Module) -> torch.Tensor:
    """BatchNorm's default momentum=0.1 kept after the reset: early batches under-weighted."""
    return _replayed(source_model, 0.1)


def _in_pool_order(source_model: nn.Module) -> torch.Tensor:
    """A cumulative average, but over batches in the pool's class-sorted order."""
    return _replayed(source_model, None)


def _eval_mode(source_model, adabn_model) -> None:
    if any(m.training for m in adabn_model.modules()):
        raise Mistake("`adabn_model` is still in training mode: its BatchNorm layers would normalise "
                      "each batch with that batch's own statistics and keep updating the running "
                      "ones. Call adabn_model.eval() when the target images have gone through.")


q1 = Problem(
    name="q1", exercise="05", title="AdaBN by hand",
    variables=("source_model", "adabn_model"), points=2,
    requirements=[
        Requirement("adabn_model is a copy of source_model", _is_copy, gate=True),
        Requirement("no weight changed", _weights_unchanged),
        Requirement("the BatchNorm statistics are the target pool's", _target_statistics),
        Requirement("the model is in eval mode", _eval_mode),
    ],
    hints=[
        "A BatchNorm layer in training mode updates running_mean and running_var from every "
        "batch it sees; in eval mode it only uses them. AdaBN lets it see the target images.",
        "For each BatchNorm layer (isinstance(m, nn.BatchNorm2d)): m.reset_running_stats() and "
        "m.momentum = None, so the statistics become an equal-weight average over batches.",
        "The pool is stored class by class: shuffle before cutting it into batches, or each "
        "batch sees two or three digits and its variance comes out too small.",
        "adabn_model.train(); with torch.no_grad(): for idx in torch.randperm(len(images)).split(256): "
        "adabn_model(images[idx].to(device)). Then adabn_model.eval().",
    ],
)


# --- q2 · the gradient-reversal layer ----------------------------------------------------------

def _fresh_input(shape=(6, 5), seed: int = 5) -> torch.Tensor:
    """A new leaf tensor that asks for gradients (its own generator: the learner's draws stay put)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).requires_grad_()


def _gradient(grad_reverse, x: torch.Tensor, scale: float, upstream: torch.Tensor) -> torch.Tensor:
    """d(upstream · grad_reverse(x, scale))/dx, with advice when no gradient comes back or
    backward returns the wrong number of them."""
    y = grad_reverse(x, scale)
    if y.grad_fn is None and y is not x:
        raise Mistake("no gradient reaches x through grad_reverse, so there is none to reverse.")
    try:
        (grad,) = torch.autograd.grad(y, x, upstream.clone())
    except RuntimeError as err:
        if "incorrect number of gradients" in str(err):
            raise Mistake("backward must return one gradient per input of forward: for "
                          "forward(ctx, x, scale) that is (-scale * grad, None).") from err
        raise
    return grad


SCALES = (0.5, 2.0)  # q2: the scales the backward pass is tried with


def _upstream(seed: int) -> torch.Tensor:
    return torch.randn(6, 5, generator=torch.Generator().manual_seed(seed))


def _run_reverse(grad_reverse) -> dict:
    """Where the learner's function was defined: call it on the check's inputs and hand over what
    came out (the forward values, whether autograd recorded it, the gradients it sends back)."""
    x = _fresh_input()
    y = attempt(grad_reverse, x, 0.5)
    run = {"forward": y if isinstance(y, Raised) else type(y).__name__}
    if isinstance(y, torch.Tensor):
        run.update(forward=y.detach().clone(), same_object=y is x, recorded=y.grad_fn is not None)
    run["gradient"] = {scale: attempt(_gradient, grad_reverse, _fresh_input(), scale, _upstream(6)) for scale in SCALES}
    run["alone"] = attempt(_gradient, grad_reverse, _fresh_input(), 0.5, _upstream(7))
    run["both"] = attempt(_gradient, lambda x, s: x + grad_reverse(x, s), _fresh_input(), 0.5, _upstream(7))
    return run


def _returns_tensor(run) -> None:
    if not isinstance(run, dict):
        raise Mistake(f"`grad_reverse` should be a function (x, scale) -> tensor; it is a "
                      f"{type(run).__name__}.")
    y = outcome(run["forward"], "grad_reverse(x, 0.5)")
    if not isinstance(y, torch.Tensor):
        raise Mistake(f"grad_reverse(x, 0.5) should be a tensor; it is a {y}.")
    if y.shape != _fresh_input().shape:
        raise Mistake(f"grad_reverse(x, 0.5) has shape {tuple(y.shape)} for x of shape "
                      f"{tuple(_fresh_input().shape)}: it should return a tensor shaped like x.")


def _forward_identity(run) -> None:
    y, x = run["forward"], _fresh_input().detach()
    if torch.allclose(y, -0.5 * x):
        raise Mistake("the forward pass multiplies by -scale: forward returns x unchanged; only the "
                      "backward pass multiplies the gradient by -scale.")
    if not torch.equal(y, x):
        raise Mistake("grad_reverse(x, scale) should equal x in the forward pass (the layer is "
                      "invisible going forward): return x.view_as(x) from forward.")


def _autograd_node(run) -> None:
    if run["same_object"]:
        raise Mistake("grad_reverse returns the very tensor it was given: autograd records no "
                      "operation, so the gradient passes unchanged. Write a torch.autograd.Function "
                      "and call it with .apply(x, scale).")
    if not run["recorded"]:
        raise Mistake("no gradient flows back through grad_reverse (the result has no grad_fn: "
                      "detached, or computed under torch.no_grad()): the features must still learn, "
                      "in the reversed direction.")


def _reversed_and_scaled(run) -> None:
    upstream = _upstream(6)
    for scale in SCALES:
        got = outcome(run["gradient"][scale], f"the backward pass with scale={scale:g}")
        want = _gradient(lambda x, s: GradientReversal(s)(x), _fresh_input(), scale, upstream)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            raise Mistake(f"with scale={scale:g} the gradient that comes back is not shaped like x.")
        if torch.allclose(got, want):
            continue
        if torch.allclose(got, -want):
            raise Mistake(f"with scale={scale:g} the gradient comes back times +{scale:g}: the minus "
                          "is missing. backward should return -scale * grad.")
        if torch.allclose(got, -upstream):
            raise Mistake(f"with scale={scale:g} the gradient is only negated: the scale is ignored. "
                          "Keep it in forward (ctx.scale = scale) and return -ctx.scale * grad.")
        if torch.allclose(got, upstream):
            raise Mistake("the gradient passes through unchanged: backward should return "
                          "-scale * grad.")
        raise Mistake(f"with scale={scale:g} the gradient should be -{scale:g} x the incoming one; "
                      "it is something else. backward should return -scale * grad.")


def _other_paths_untouched(run) -> None:
    """x + grad_reverse(x, s): x's gradient must be the incoming one plus what the layer alone
    gives back, whatever that is (a wrong scale is q2's other requirement)."""
    if isinstance(run["alone"], Raised):
        raise Mistake("the gradient along two paths cannot be followed until the backward pass "
                      "works on its own (see above).")
    both = outcome(run["both"], "x + grad_reverse(x, 0.5), backward,")
    if not isinstance(both, torch.Tensor) or not torch.allclose(both, _upstream(7) + run["alone"]):
        raise Mistake("when x also reaches the loss by another path, its gradient comes out wrong: "
                      "backward seems to change the incoming gradient in place (grad.neg_(), "
                      "grad.mul_()), a tensor other paths share. Return a new one: -scale * grad.")


q2 = Problem(
    name="q2", exercise="05", title="The gradient-reversal layer",
    variables=("grad_reverse",), points=2, runs=_run_reverse,
    requirements=[
        Requirement("grad_reverse(x, scale) returns a tensor shaped like x", _returns_tensor, gate=True),
        Requirement("the forward pass is the identity", _forward_identity),
        Requirement("autograd records the layer", _autograd_node),
        Requirement("the backward pass multiplies the gradient by -scale", _reversed_and_scaled),
        Requirement("other paths' gradients are left alone", _other_paths_untouched),
    ],
    hints=[
        "torch.autograd.Function lets you write forward and backward yourself: "
        "class ReverseGradient(torch.autograd.Function) with two @staticmethods.",
        "forward(ctx, x, scale): store ctx.scale = scale and return x.view_as(x) (a new tensor, "
        "so autograd records the node). backward(ctx, grad): one gradient per forward input.",
        "backward returns (-ctx.scale * grad, None): None for scale, a number that learns nothing. "
        "Then def grad_reverse(x, scale): return ReverseGradient.apply(x, scale).",
    ],
)


# --- q3 · a pseudo-label threshold, chosen without target labels -------------------------------

COLUMNS = ("threshold", "kept", "smallest_class", "source_accuracy_kept")


def safe_thresholds(table: pd.DataFrame) -> pd.Series:
    """True for each row of a :func:`tlcourse.adapt.threshold_statistics` table that meets all
    three conditions of q3 (enough pseudo-labels, every digit kept, confident source images right)."""
    return ((table["kept"] >= MIN_KEPT) & (table["smallest_class"] >= MIN_CLASS_SHARE)
            & (table["source_accuracy_kept"] >= MIN_SOURCE_ACCURACY))


def choose_threshold(table: pd.DataFrame) -> float:
    """q3's rule: the highest safe candidate (the cleanest pseudo-labels that are still enough),
    ``NO_THRESHOLD`` when none is safe."""
    safe = table.loc[safe_thresholds(table), "threshold"]
    return float(safe.max()) if len(safe) else NO_THRESHOLD


@once_per_model
def measured_table(adabn_model: nn.Module) -> pd.DataFrame:
    """The threshold statistics of (a copy of) the learner's model on the pool and held-out source."""
    task = references.fonts_to_handwriting()
    return threshold_statistics(copy.deepcopy(adabn_model), task.pool.images, THRESHOLDS, task.source_val)


def _table_shape(adabn_model, threshold_table, threshold) -> None:
    checks.expect_type(adabn_model, "`adabn_model`", nn.Module, "your AdaBN model from q1")
    made_by = "threshold_statistics(adabn_model, task.pool.images, THRESHOLDS, task.source_val)"
    checks.expect_results_table(threshold_table, COLUMNS, made_by, name="threshold_table")
    missing = sorted(set(THRESHOLDS) - set(threshold_table["threshold"].round(6)))
    if missing:
        raise Mistake(f"`threshold_table` has no row for the candidate(s) {missing}: pass "
                      f"THRESHOLDS = {THRESHOLDS} to threshold_statistics.")


def _table_measured(adabn_model, threshold_table, threshold) -> None:
    mine = threshold_table.assign(threshold=threshold_table["threshold"].round(6)).set_index("threshold")
    ours = measured_table(adabn_model).set_index("threshold")
    for column in COLUMNS[1:]:
        yours, measured = mine.loc[list(THRESHOLDS), column].to_numpy(float), ours[column].to_numpy(float)
        differ = ~np.isclose(yours, measured, rtol=0, atol=1e-3, equal_nan=True)
        if differ.any():
            at = THRESHOLDS[int(differ.argmax())]
            raise Mistake(f"`threshold_table` says {column} = {mine.loc[at, column]:.3f} at {at:g}, "
                          f"but adabn_model measures {ours.loc[at, column]:.3f} there: measure "
                          "adabn_model (the AdaBN model of q1) on task.pool.images, with "
                          "task.source_val as the held-out source.")


def _why_not(table: pd.DataFrame, threshold: float) -> str:
    """Which condition of the rule ``threshold``'s row breaks, or that a higher one is also safe."""
    row = table.set_index("threshold").loc[threshold]
    if row["kept"] < MIN_KEPT:
        return (f"at {threshold:g} only {row['kept']:.0%} of the pool gets a pseudo-label "
                f"(at least {MIN_KEPT:.0%})")
    if row["smallest_class"] < MIN_CLASS_SHARE:
        return (f"at {threshold:g} the rarest digit has only {row['smallest_class']:.1%} of the "
                f"pseudo-labels (at least {MIN_CLASS_SHARE:.0%})")
    if not row["source_accuracy_kept"] >= MIN_SOURCE_ACCURACY:
        return (f"at {threshold:g} only {row['source_accuracy_kept']:.1%} of the held-out source images "
                f"that confident are right (at least {MIN_SOURCE_ACCURACY:.0%})")
    return f"{threshold:g} is safe, but so is a higher candidate, and the rule takes the highest"


def _follows_rule(adabn_model, threshold_table, threshold) -> None:
    if isinstance(threshold, torch.Tensor) and threshold.numel() == 1:
        threshold = threshold.item()
    checks.expect_type(threshold, "`threshold`", numbers.Real, "a number, one of THRESHOLDS (or 1.0)")
    table = measured_table(adabn_model)
    rule = choose_threshold(table)
    if math.isclose(threshold, rule, abs_tol=1e-6):
        return
    candidate = next((t for t in THRESHOLDS if math.isclose(threshold, t, abs_tol=1e-6)), None)
    if candidate is None:
        raise Mistake(f"`threshold` = {threshold:g} is not one of the candidates {THRESHOLDS} "
                      f"(nor {NO_THRESHOLD:.1f}, for when none is safe): your model's table says {rule:g}.")
    if rule == NO_THRESHOLD:
        raise Mistake(f"{_why_not(table, candidate)}: no candidate meets all three conditions for "
                      f"this model, so the rule says threshold = {NO_THRESHOLD:.1f} (pseudo-label nothing).")
    raise Mistake(f"{_why_not(table, candidate)}: your model's table says {rule:g}.")


q3 = Problem(
    name="q3", exercise="05", title="Choose a pseudo-label threshold by measuring, without target labels",
    variables=("adabn_model", "threshold_table", "threshold"), points=3,
    requirements=[
        Requirement("threshold_table is a threshold_statistics table of the candidates", _table_shape, gate=True),
        Requirement("the table measures adabn_model", _table_measured),
        Requirement("the threshold follows the rule", _follows_rule),
    ],
    hints=[
        "threshold_statistics(model, target_images, thresholds, source_val) returns one row per "
        "threshold: kept, smallest_class and source_accuracy_kept. No target label is used.",
        "threshold_table = threshold_statistics(adabn_model, task.pool.images, THRESHOLDS, task.source_val)",
        f"safe = threshold_table[(threshold_table.kept >= {MIN_KEPT}) & (threshold_table.smallest_class "
        f">= {MIN_CLASS_SHARE}) & (threshold_table.source_accuracy_kept >= {MIN_SOURCE_ACCURACY})]; "
        f"threshold = safe.threshold.max() if len(safe) else {NO_THRESHOLD}",
    ],
)

q4 = Judgement(
    name="q4", exercise="05", title="Advise a team without target labels: self-train, or stop at AdaBN?",
    variables=("advice",), requirements=(), min_words=40, instructor_points=2,
    hints=[
        "Start with a recommendation: self-train from the AdaBN model at your threshold, or ship "
        "AdaBN alone and label some target images first.",
        "Support it with your q3 table: the threshold you chose and its row (the share of the pool "
        "kept, the rarest digit's share, the held-out source accuracy).",
        "Say what the table cannot tell you: the source accuracy is measured on rendered digits, and "
        "on handwriting a confident model is wrong more often; no target label checked the pseudo-labels.",
    ],
)

QUESTIONS = (q1, q2, q3, q4)
