"""Exercise 07, the inherited-bias question (to merge into ex07): audit a model for a planted cue.

The exercise notebook gives the learner ``cue = bias.cue_tasks(profile)`` and a network trained
on the marked digits, ``model = train_network(cue.cued, "finetune_all", 5, 0, settings)``. The
learner measures how much it leans on the mark: ``drop``, its accuracy on the normal test set
minus that on the counterfactual one, in percentage points, and ``leans_on_mark``, whether that
drop is larger than the clean source's (under ``THRESHOLD`` points in notebook 07). The check
re-measures the learner's own model on the same test sets, so a typed-in number earns nothing.

Solution cell (for solutions/07_*.py):

    from tlcourse.train import evaluate
    normal = 100 * evaluate(model, cue.cued.test)["accuracy"]
    moved = 100 * evaluate(model, cue.counterfactual)["accuracy"]
    drop = normal - moved
    leans_on_mark = drop > THRESHOLD
    print(f"{normal:.1f}% on the normal test set, {moved:.1f}% with the marks moved: drop {drop:.1f} points")
"""
from __future__ import annotations

from functools import lru_cache

from torch import nn

from ..config import get_profile
from ..train import evaluate
from .core import Mistake, Problem, Requirement

THRESHOLD = 5.0  # points: notebook 07's clean source drops less than this; a larger drop is leaning
TOLERANCE = 0.5  # points: |your drop - the check's measurement of your model|


@lru_cache(maxsize=1)
def cue():
    """Notebook 07's planted-cue tasks with the current profile, as the exercise builds them
    (belongs in references.py once merged)."""
    from ..bias import cue_tasks

    return cue_tasks(get_profile())


def _measured_drop(model: nn.Module) -> tuple[float, float]:
    """The model's accuracy (%) on the normal and on the counterfactual test set, measured here."""
    tasks = cue()
    return tuple(100 * evaluate(model, part)["accuracy"] for part in (tasks.cued.test, tasks.counterfactual))


def _is_model(model, drop, leans_on_mark) -> None:
    if not isinstance(model, nn.Module):
        raise Mistake(f"`model` should be the network the notebook trained (an nn.Module); it is a "
                      f"{type(model).__name__}. Re-run the cell that trains it.")
    if not isinstance(drop, (int, float)) or isinstance(drop, bool):
        raise Mistake(f"`drop` should be a number of percentage points (a float), got {type(drop).__name__}.")


def _drop_measured(model, drop, leans_on_mark) -> None:
    normal, moved = _measured_drop(model)
    ours = normal - moved
    if abs(drop - ours) <= TOLERANCE:
        return
    if abs(100 * drop - ours) <= TOLERANCE:
        raise Mistake(f"`drop` is {drop:.3f}: a fraction. Give it in percentage points (x 100), as the "
                      f"notebook's tables do: {ours:.1f}.")
    if abs(drop + ours) <= TOLERANCE:
        raise Mistake(f"`drop` has the wrong sign: it is normal minus counterfactual accuracy "
                      f"({normal:.1f} - {moved:.1f}), the points lost when the mark moves.")
    if abs(drop) <= TOLERANCE:
        raise Mistake("`drop` is 0: were both accuracies measured on the same test set? The second "
                      "one is cue.counterfactual, the digits with every mark in the other corner.")
    raise Mistake(f"your model scores {normal:.1f}% on cue.cued.test and {moved:.1f}% on "
                  f"cue.counterfactual here, a drop of {ours:.1f} points; `drop` is {drop:.1f}. "
                  "Measure `model` itself on those two test sets with evaluate(...).")


def _verdict_follows(model, drop, leans_on_mark) -> None:
    if not isinstance(leans_on_mark, bool):
        raise Mistake(f"`leans_on_mark` should be True or False, got {leans_on_mark!r}.")
    normal, moved = _measured_drop(model)
    leans = normal - moved > THRESHOLD
    if leans_on_mark != leans:
        raise Mistake(f"the model loses {normal - moved:.1f} points when the mark moves; the clean source "
                      f"loses under {THRESHOLD:g}, so leans_on_mark should be {leans}: let the "
                      "measurement decide, whatever you expected.")


q_bias = Problem(
    name="q_bias", exercise="07", title="Audit a model for a planted cue",
    variables=("model", "drop", "leans_on_mark"), points=2,
    requirements=[
        Requirement("model is a network and drop a number", _is_model, gate=True),
        Requirement("drop is the model's accuracy lost on the counterfactual test set, in points", _drop_measured),
        Requirement("leans_on_mark follows the measurement", _verdict_follows),
    ],
    hints=[
        "A counterfactual test set holds the same digits with the cue changed: cue.counterfactual. "
        "Score the model on it and on the normal test set, cue.cued.test.",
        "evaluate(model, data)['accuracy'] is a fraction: multiply by 100 for points. drop is "
        "normal minus counterfactual.",
        "drop = 100 * (evaluate(model, cue.cued.test)['accuracy'] - evaluate(model, cue.counterfactual)"
        "['accuracy']); leans_on_mark = drop > THRESHOLD",
    ],
)
