"""Reusable checks for exercise requirements; each raises :class:`Mistake` with advice.

They look at what transfer learning is about (which blocks learn, whether pretrained weights
survived, which learning rate each block gets, BatchNorm modes) using public PyTorch API only.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

import torch
from torch import nn

from ..freeze import named_blocks
from ..config import get_profile
from .core import Mistake, Requirement


def expect_type(value, name: str, kind: type | tuple, advice: str) -> None:
    """``value`` (called ``name`` in the message) must be a ``kind``; ``advice`` says which one."""
    if not isinstance(value, kind):
        raise Mistake(f"{name} should be {advice}; it is a {type(value).__name__}.")


def expect_fraction(value, name: str) -> None:
    """An accuracy given as a fraction between 0 and 1."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        raise Mistake(f"`{name}` should be a number (an accuracy between 0 and 1); it is "
                      f"{type(value).__name__}.")
    if not 0 <= value <= 1:
        hint = " It looks like a percentage: divide by 100." if 1 < value <= 100 else ""
        raise Mistake(f"`{name}` should be a fraction between 0 and 1, got {value:g}.{hint}")


def expect_close(value: float, reference: float, tolerance: float, what: str, advice: str) -> None:
    """``value`` within ``tolerance`` of the reference measurement."""
    if abs(float(value) - reference) > tolerance:
        raise Mistake(f"{what} is {float(value):.1%}, but the reference solution measures "
                      f"{reference:.1%} (tolerance {tolerance:.0%}): {advice}")


def head_outputs(model: nn.Module) -> int:
    """Number of classes the model's head predicts (its last ``nn.Linear``)."""
    linears = [m for m in named_blocks(model)["head"].modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise Mistake("the model's head has no nn.Linear layer: replace it with "
                      "replace_head(model, num_classes).")
    return linears[-1].out_features


def expect_head(model: nn.Module, num_classes: int, source_classes: int | None = None) -> None:
    outputs = head_outputs(model)
    if outputs != num_classes:
        still = (f": it still predicts the {source_classes} source classes"
                 if outputs == source_classes else "")
        raise Mistake(f"the head has {outputs} outputs{still}; the target has {num_classes} "
                      f"classes. Give it a new head with replace_head(model, {num_classes}).")


def block_state(block: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in block.state_dict().items()}


def changed_blocks(model: nn.Module, reference: nn.Module, blocks) -> list[str]:
    """Blocks whose weights or BatchNorm statistics differ from the same block of ``reference``."""
    mine, theirs = named_blocks(model), named_blocks(reference)
    changed = []
    for name in blocks:
        a, b = block_state(mine[name]), block_state(theirs[name])
        if a.keys() != b.keys() or any(a[k].shape != b[k].shape or not torch.equal(a[k], b[k])
                                       for k in a):
            changed.append(name)
    return changed


def expect_unchanged(model: nn.Module, reference: nn.Module, blocks, advice: str) -> None:
    """The named blocks still hold ``reference``'s weights and BatchNorm statistics."""
    changed = changed_blocks(model, reference, blocks)
    if changed:
        raise Mistake(f"{', '.join(changed)} no longer hold(s) the pretrained weights and BatchNorm "
                      f"statistics: {advice}")


def expect_trainable(model: nn.Module, wanted, task: str) -> None:
    """Exactly the blocks in ``wanted`` may learn; ``task`` is the exercise's wording."""
    wanted = set(wanted)
    problems = []
    for name, block in named_blocks(model).items():
        flags = [p.requires_grad for p in block.parameters()]
        if not flags:
            continue
        if name in wanted and not all(flags):
            problems.append(f"{name} is {'partly ' if any(flags) else ''}frozen")
        elif name not in wanted and any(flags):
            problems.append(f"{name} is still {'partly ' if not all(flags) else ''}trainable")
    if problems:
        raise Mistake(f"{'; '.join(problems)}: the exercise asks to {task}. Use "
                      f"set_trainable(model, {sorted(wanted, key=list(named_blocks(model)).index)}).")


def learning_rates(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Learning rate of each block's parameters in ``optimizer`` (blocks it does not hold are left out).

    Raises :class:`Mistake` when one block's parameters are split across different rates.
    """
    rate_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    rates = {}
    for name, block in named_blocks(model).items():
        found = {rate_of[id(p)] for p in block.parameters() if id(p) in rate_of}
        if len(found) > 1:
            raise Mistake(f"the parameters of {name} are given different learning rates "
                          f"{sorted(found)}: one rate per block.")
        if found:
            rates[name] = found.pop()
    return rates


READABLE: Path | None = None  # the grader's judge sets it: files a check opens must lie inside this folder


def expect_saved_tensor(path, tensor: torch.Tensor, what: str) -> None:
    """``path`` must be an existing file holding ``tensor`` (saved with torch.save), inside
    ``READABLE`` when that is set."""
    if not isinstance(path, (str, Path)):
        raise Mistake(f"the cache path should be a str or pathlib.Path, got {type(path).__name__}.")
    if READABLE is not None and not Path(path).resolve().is_relative_to(READABLE):
        raise Mistake(f"{path} is outside the notebook's own folders: save the {what} in the course's "
                      "cache (tlcourse.config.cache_dir()) or next to the notebook.")
    if not Path(path).is_file():
        raise Mistake(f"there is no file at {path}: pass cache={path!r} to extract_features so "
                      f"the {what} are saved once and read back afterwards.")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, torch.Tensor) or saved.shape != tensor.shape or not torch.allclose(saved, tensor):
        raise Mistake(f"{path} does not hold the same {what} as your variable: delete the file "
                      f"and extract the features again with the cache argument.")


RERUN_TOLERANCE = 0.01  # a run the check repeats: same seed, same data, within 1 point


def measure_and_choose(strategies, budget: tuple[str, int], budget_text: str, made_by: str,
                       rerun: Callable[[str, int], float], advice: str) -> list[Requirement]:
    """Requirements of a "measure, then choose" question on the variables ``(results, best_strategy)``.

    ``results`` must be a table from ``made_by`` holding every strategy at ``budget`` (e.g.
    ``("labels_per_class", 1)``, described as ``budget_text``) over the profile's seeds, measured
    on a validation split (a task from :func:`tlcourse.experiments.validation_task`: choosing on
    the test set is the mistake this question teaches to avoid); ``best_strategy`` must be the
    winner in that table; and every run in it must be one the check repeats itself:
    ``rerun(strategy, seed)`` gives the same accuracy (within ``RERUN_TOLERANCE``), so a typed or
    edited table earns nothing.
    """
    def table(results, best_strategy):
        expect_results_table(results, ("task", "strategy", budget[0], "seed", "accuracy"), made_by)
        on_test = sorted({str(t) for t in results["task"] if not str(t).endswith("(validation)")})
        if on_test:
            raise Mistake(f"`results` was measured on {on_test}, whose accuracy is the test set's. Choose on "
                          "a validation split instead: compare(validation_task(task), ...); the test set is "
                          "for the final number of the strategy you chose, once.")

    def measured(results, best_strategy):
        expect_measured(results, strategies, budget, len(get_profile().seeds), budget_text)

    def follows(results, best_strategy):
        expect_choice_follows(results, best_strategy, strategies, budget, budget_text)

    def repeats(results, best_strategy):
        at_budget = runs_at(results, budget)
        for row in at_budget[at_budget["strategy"].isin(strategies)].itertuples():
            expected = rerun(row.strategy, int(row.seed))
            if abs(float(row.accuracy) - expected) > RERUN_TOLERANCE:
                raise Mistake(f"the check ran {row.strategy} with seed {row.seed} itself and got {expected:.1%}, "
                              f"not {float(row.accuracy):.1%} as in `results`: {advice}")

    return [Requirement(f"results is a {made_by} table on a validation split", table, gate=True),
            Requirement("both strategies are measured over the seeds", measured, gate=True),
            Requirement("the choice follows the measurement", follows),
            Requirement("every run repeats when the check runs it", repeats)]


def expect_results_table(results, columns, made_by: str, name: str = "results") -> None:
    """A tidy table (one row per run) with ``columns``, as ``made_by`` returns it; the learner
    calls it ``name``."""
    expect_type(results, f"`{name}`", pd.DataFrame, f"the table returned by {made_by}")
    missing = set(columns) - set(results.columns)
    if missing:
        raise Mistake(f"`{name}` lacks the column(s) {sorted(missing)}: use the table {made_by} returns.")


def runs_at(results: pd.DataFrame, budget: tuple[str, int]) -> pd.DataFrame:
    """The rows of one budget, e.g. ``("labels_per_class", 1)``."""
    column, value = budget
    return results[results[column] == value]


def expect_measured(results, strategies, budget: tuple[str, int], seeds: int, budget_text: str) -> None:
    """Every strategy was run at ``budget`` with at least ``seeds`` seeds."""
    at_budget = runs_at(results, budget)
    for strategy in strategies:
        runs = int((at_budget["strategy"] == strategy).sum())
        if runs < seeds:
            raise Mistake(f"`results` has {runs} run(s) of {strategy} with {budget_text}; measure "
                          f"both {tuple(strategies)} over the profile's {seeds} seed(s).")


def expect_choice_follows(results, choice, strategies, budget: tuple[str, int], budget_text: str) -> None:
    """``choice`` is the strategy with the best mean accuracy at ``budget`` in the learner's table."""
    if choice not in strategies:
        raise Mistake(f"`best_strategy` should be one of {tuple(strategies)}, got {choice!r}.")
    means = runs_at(results, budget).groupby("strategy")["accuracy"].mean()
    measured = means[list(strategies)].idxmax()
    if choice != measured:
        raise Mistake(f"your own table says {measured} is better with {budget_text} "
                      f"({means[measured]:.1%} vs {means[choice]:.1%}): the choice should "
                      "follow the measurement.")
