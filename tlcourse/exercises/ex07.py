"""Exercise 07 · limits of transfer: overfitting read from curves, forgetting measured, L2-SP by hand.

q1 read the train and validation curves of a badly fine-tuned run (when did it memorise its
labels, how large is the gap at the end), q2 measure what fine-tuning on digits made the letters
network forget, q3 write the L2-SP penalty, q4 audit a model for a planted cue (its accuracy
lost on a counterfactual test set), q5 advise a team in words and numbers from q1-q4 (a
judgement question, graded by the instructor). Every check works on the learner's own objects: it
recomputes the curves' numbers from the same run, re-scores their model on letters of its own,
and runs their penalty function on models it perturbs itself, gradients included.
"""
from __future__ import annotations

import copy
import math
from functools import lru_cache

import torch
from torch import nn

from ..config import get_profile
from ..experiments import Settings
from ..freeze import named_blocks
from ..train import evaluate, l2sp_penalty
from . import checks, references
from .answers import Raised
from .core import Judgement, Mistake, Problem, Requirement, attempt, outcome

BUDGET = 1  # labelled digits per class in q1 and q2
GAP_TOLERANCE = 0.01  # q1: |your gap - the run's gap|, as a fraction
LETTERS_TOLERANCE = 0.005  # q2: |your letters accuracy - the check's own scoring of your model|


@lru_cache(maxsize=1)
def _digits():
    from ..limits import limits_task

    return limits_task(get_profile())


@lru_cache(maxsize=1)
def _letters():
    from ..limits import letters_test_set

    return letters_test_set(get_profile())


@lru_cache(maxsize=1)
def _source():
    from ..pretrain import load_pretrained_cnn

    return load_pretrained_cnn()[0]


def bad_settings(profile=None) -> Settings:
    """q1's recipe: every block at notebook 07's high learning rate."""
    from ..limits import HIGH_LR

    return Settings.for_profile(profile or get_profile(), lr_finetune=HIGH_LR)


@lru_cache(maxsize=1)
def _curves():
    """The validated epochs of the reference run of q1: (epoch, train accuracy, val accuracy) rows."""
    from ..limits import overfitting_history

    frame = overfitting_history(_digits(), BUDGET, 0, bad_settings()).to_frame()
    return frame[["epoch", "train_accuracy", "val_accuracy"]]


# --- q1 · read the curves ------------------------------------------------------------------------

def _memorised(memorised_at, final_gap) -> None:
    frame = _curves()
    want = int(frame.loc[frame["train_accuracy"] >= 1.0, "epoch"].min())
    if isinstance(memorised_at, bool) or not isinstance(memorised_at, (int, float)) or memorised_at != int(memorised_at):
        raise Mistake(f"`memorised_at` should be an epoch number (an int), got {memorised_at!r}.")
    validated = frame.dropna(subset=["val_accuracy"])
    if memorised_at == int(validated.loc[validated["val_accuracy"].idxmax(), "epoch"]) and memorised_at != want:
        raise Mistake("that is the epoch of the best *validation* accuracy; the question asks when the "
                      "*training* accuracy first reaches 100%: the run has memorised its labelled images.")
    if memorised_at != want:
        raise Mistake(f"the training accuracy first reaches 100% at epoch {want}, not {memorised_at}: "
                      "history.to_frame() has one row per epoch; take the smallest `epoch` whose "
                      "`train_accuracy` is 1.0.")


def _gap(memorised_at, final_gap) -> None:
    validated = _curves().dropna(subset=["val_accuracy"])
    last = validated.iloc[-1]
    want = float(last["train_accuracy"] - last["val_accuracy"])
    if isinstance(final_gap, bool) or not isinstance(final_gap, (int, float)) or math.isnan(final_gap):
        raise Mistake(f"`final_gap` should be a number (a fraction), got {final_gap!r}.")
    if abs(final_gap - 100 * want) <= 100 * GAP_TOLERANCE and abs(want) > GAP_TOLERANCE:
        raise Mistake(f"{final_gap:g} looks like percentage points: give the gap as a fraction, {want:.3f}.")
    if abs(final_gap + want) <= GAP_TOLERANCE and abs(want) > GAP_TOLERANCE:
        raise Mistake("the sign is reversed: the gap is train accuracy minus validation accuracy.")
    if abs(final_gap - want) > GAP_TOLERANCE:
        raise Mistake(f"`final_gap` is {final_gap:.3f}; at the last validated epoch ({int(last['epoch'])}) "
                      f"train accuracy minus validation accuracy is {want:.3f}. Take the last row where "
                      "`val_accuracy` is not NaN (the run validates every few epochs).")


q1 = Problem(
    name="q1", exercise="07", title="Read the curves of a badly fine-tuned run",
    variables=("memorised_at", "final_gap"), points=2,
    requirements=[
        Requirement("memorised_at is the first epoch with 100% training accuracy", _memorised),
        Requirement("final_gap is train minus validation accuracy at the end", _gap),
    ],
    hints=[
        "frame = history.to_frame(): one row per epoch, with train_accuracy, and val_accuracy on the "
        "epochs that were validated (NaN on the others).",
        "memorised_at = int(frame.loc[frame['train_accuracy'] == 1, 'epoch'].min())",
        "last = frame.dropna(subset=['val_accuracy']).iloc[-1]; "
        "final_gap = last['train_accuracy'] - last['val_accuracy']",
    ],
)


# --- q2 · measure forgetting ---------------------------------------------------------------------

def _digit_model(digit_model, letters_kept) -> None:
    checks.expect_type(digit_model, "`digit_model`", nn.Module,
                       "the network train_network(digits, 'finetune_all', BUDGET, 0, settings) returns")
    if "block3" not in named_blocks(digit_model):
        raise Mistake("`digit_model` is not the course's SmallCNN: train it with "
                      "train_network(digits, 'finetune_all', BUDGET, 0, settings).")
    checks.expect_head(digit_model, 10, 26)


def _fine_tuned(digit_model, letters_kept) -> None:
    frozen = [name for name in ("stem", "block1", "block2", "block3")
              if not checks.changed_blocks(digit_model, _source(), [name])]
    if frozen:
        raise Mistake(f"{', '.join(frozen)} still hold(s) the letters network's weights: the question is "
                      "what fine-tuning *every* block makes it forget. Use the 'finetune_all' strategy.")


def _scored(digit_model, letters_kept) -> None:
    from ..limits import with_source_head

    checks.expect_fraction(letters_kept, "letters_kept")
    letters = _letters()
    model = copy.deepcopy(digit_model).cpu()
    ours = evaluate(with_source_head(model, _source()), letters)["accuracy"]
    if abs(letters_kept - ours) <= LETTERS_TOLERANCE:
        return
    if abs(letters_kept - evaluate(_source(), letters)["accuracy"]) <= LETTERS_TOLERANCE:
        raise Mistake("that is the letters network *before* fine-tuning: put its letters head on the "
                      "fine-tuned backbone, with_source_head(digit_model, source).")
    if abs(letters_kept - evaluate(model, letters)["accuracy"]) <= LETTERS_TOLERANCE:
        raise Mistake("that is the digits head reading letters (10 outputs for 26 classes): put the letters "
                      "head back first, with_source_head(digit_model, source).")
    raise Mistake(f"`letters_kept` is {letters_kept:.1%}; your digit_model with the letters head scores "
                  f"{ours:.1%} here on the same letters: evaluate(with_source_head(digit_model, source), "
                  "letters)['accuracy'].")


q2 = Problem(
    name="q2", exercise="07", title="Measure what fine-tuning forgot",
    variables=("digit_model", "letters_kept"), points=2,
    requirements=[
        Requirement("digit_model is the SmallCNN with a 10-class head", _digit_model, gate=True),
        Requirement("every block was fine-tuned", _fine_tuned),
        Requirement("letters_kept scores its backbone with the letters head", _scored),
    ],
    hints=[
        "train_network(digits, 'finetune_all', BUDGET, 0, settings) returns the fine-tuned network.",
        "Its head reads digits. with_source_head(digit_model, source) is a copy with the letters "
        "network's own head on the fine-tuned backbone.",
        "letters_kept = evaluate(with_source_head(digit_model, source), letters)['accuracy']",
    ],
)


# --- q3 · L2-SP by hand --------------------------------------------------------------------------

ALPHA = 0.5  # q3: the check's alpha


def _models() -> tuple[nn.Module, dict, nn.Module]:
    """A pretrained-like SmallCNN, its starting weights (head left out) and a moved copy."""
    from ..models import SmallCNN

    torch.manual_seed(7)
    start_model = SmallCNN(num_classes=10)
    start = {n: p.detach().clone() for n, p in start_model.named_parameters() if not n.startswith("head.")}
    moved = copy.deepcopy(start_model)
    with torch.no_grad():
        for p in moved.parameters():
            p.add_(0.05 * torch.randn(p.shape))
    return start_model, start, moved


def _value(l2sp_by_hand, model, start) -> torch.Tensor:
    value = l2sp_by_hand(model, start, ALPHA)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise Mistake(f"l2sp_by_hand(model, start, alpha) should return a scalar tensor; it returned "
                      f"{type(value).__name__}{'' if not isinstance(value, torch.Tensor) else tuple(value.shape)}.")
    return value.reshape(())


def _run_l2sp(l2sp_by_hand) -> dict:
    """Where the learner's function was defined: its penalty at the start and on moved weights,
    and, when the latter carries a gradient, the gradient it puts on ``stem.0.weight``."""
    start_model, start, moved = _models()
    at_start = attempt(_value, l2sp_by_hand, start_model, start)
    value = attempt(_value, l2sp_by_hand, moved, start)
    run = {"at_start": at_start if isinstance(at_start, Raised) else at_start.detach(),
           "moved": value if isinstance(value, Raised) else value.detach(),
           "carries_gradient": isinstance(value, torch.Tensor) and value.requires_grad, "gradient": None}
    if run["carries_gradient"]:
        backward = attempt(value.backward)
        grad = moved.stem[0].weight.grad
        run["gradient"] = backward if isinstance(backward, Raised) else None if grad is None else grad.clone()
    return run


def _zero_at_start(run) -> None:
    if not isinstance(run, dict):
        raise Mistake("`l2sp_by_hand` should be a function (model, start, alpha) -> scalar tensor.")
    value = outcome(run["at_start"], "l2sp_by_hand(model, start, alpha)").item()
    if abs(value) > 1e-6:
        raise Mistake(f"at the pretrained weights the penalty should be 0, got {value:.4g}: it measures how "
                      "far each weight moved from start[name].")


def _matches(run) -> None:
    _, start, moved = _models()
    got = outcome(run["moved"], "l2sp_by_hand(model, start, alpha)").item()
    want = l2sp_penalty(_models()[0], ALPHA)(moved).item()
    if math.isclose(got, want, rel_tol=1e-4):
        return
    squared = sum((p.detach() - start[n]).pow(2).sum().item() for n, p in moved.named_parameters() if n in start)
    with_head = want + ALPHA / 2 * sum((p.detach() - q.detach()).pow(2).sum().item() for (n, p), q in
                                       zip(moved.named_parameters(), _models()[0].parameters()) if n.startswith("head."))
    slips = [(2 * want, "it is twice the L2-SP penalty: multiply by alpha / 2, not alpha"),
             (ALPHA / 2 * math.sqrt(squared), "that is the distance, not its square: sum the squared differences"),
             (ALPHA * math.sqrt(squared), "that is alpha times the distance: L2-SP is alpha/2 times the *squared* distance"),
             (squared / 2, "alpha is missing: multiply the squared distance by alpha / 2"),
             (with_head, "the new head is in the penalty: it has no pretrained value, so leave it free")]
    for value, advice in slips:
        if math.isclose(got, value, rel_tol=1e-4):
            raise Mistake(f"{advice}.")
    raise Mistake(f"on a model whose weights moved, your penalty is {got:.5g}; L2-SP gives {want:.5g} "
                  "(alpha / 2 times the sum, over every name in start, of (param - start[name])**2).")


def _gradient(run) -> None:
    if not run["carries_gradient"]:
        raise Mistake("the penalty carries no gradient, so it could not pull the weights back: compute it "
                      "from the model's parameters themselves (no .detach(), .data or torch.no_grad()).")
    grad = outcome(run["gradient"], "the penalty's backward pass")
    _, start, moved = _models()
    want = ALPHA * (moved.stem[0].weight.detach() - start["stem.0.weight"])
    if grad is None or not torch.allclose(grad, want, atol=1e-6):
        raise Mistake("the gradient on stem.0.weight is not alpha * (w - w_start): check that every "
                      "parameter in start is in the sum, each compared with its own start value.")


q3 = Problem(
    name="q3", exercise="07", title="L2-SP by hand",
    variables=("l2sp_by_hand",), points=3, runs=_run_l2sp,
    requirements=[
        Requirement("the penalty is 0 at the pretrained weights", _zero_at_start, gate=True),
        Requirement("it matches tlcourse's L2-SP on moved weights", _matches),
        Requirement("its gradient pulls each weight back to its start", _gradient),
    ],
    hints=[
        "model.named_parameters() yields (name, parameter); start holds the pretrained value of every "
        "name but the head's.",
        "For each name in start: (param - start[name]).pow(2).sum(); add them all up.",
        "return alpha / 2 * sum((p - start[n]).pow(2).sum() for n, p in model.named_parameters() if n in start)",
    ],
)

# --- q4 · audit a model for a planted cue (notebook 07, section 5) ----------------------------

THRESHOLD = 5.0  # points: notebook 07's clean source drops less than this; a larger drop is leaning
DROP_TOLERANCE = 0.5  # points: |your drop - the check's measurement of your model|


def _measured_drop(model: nn.Module) -> tuple[float, float]:
    """The model's accuracy (%) on the normal and on the counterfactual test set, measured here."""
    tasks = references.cue()
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
    if abs(drop - ours) <= DROP_TOLERANCE:
        return
    if abs(100 * drop - ours) <= DROP_TOLERANCE:
        raise Mistake(f"`drop` is {drop:.3f}: a fraction. Give it in percentage points (x 100), as the "
                      f"notebook's tables do: {ours:.1f}.")
    if abs(drop + ours) <= DROP_TOLERANCE:
        raise Mistake(f"`drop` has the wrong sign: it is normal minus counterfactual accuracy "
                      f"({normal:.1f} - {moved:.1f}), the points lost when the mark moves.")
    if abs(drop) <= DROP_TOLERANCE:
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


q4 = Problem(
    name="q4", exercise="07", title="Audit a model for a planted cue",
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


q5 = Judgement(
    name="q5", exercise="07", title="Advise a team about to fine-tune on 1 label per class",
    variables=("advice",), requirements=(), min_words=40, instructor_points=2,
    hints=[
        "Start with a recommendation: which recipe they should fine-tune with, and what to watch.",
        "Support it with your numbers: q1's gap between training and validation, q2's letters kept, and "
        "q4's drop if their data might hold a shortcut.",
        "Say what your numbers do not cover: one target, one network, one label per class, a few seeds.",
    ],
)

QUESTIONS = (q1, q2, q3, q4, q5)
