"""Train/test splits and label budgets that keep every class represented.

Both functions work on anything with ``labels`` (int64 tensor), ``classes`` and
``subset(indices)``: the in-memory data sets and the lazy online ones alike.
"""
from __future__ import annotations

import torch

from .core import DataArgumentError


def _shuffled_by_class(labels: torch.Tensor, n_classes: int, seed: int) -> list[torch.Tensor]:
    """For each class, the positions of its examples in an order fixed by ``seed``.

    The permutations are drawn class by class from one generator, so the same seed gives the
    same order whatever is done with it afterwards (which makes label budgets nested).
    """
    gen = torch.Generator().manual_seed(seed)
    orders = []
    for c in range(n_classes):
        where = torch.nonzero(labels == c).flatten()
        orders.append(where[torch.randperm(len(where), generator=gen)])
    return orders


def stratified_split(ds, test_fraction: float = 0.2, seed: int = 0):
    """Split ``ds`` into ``(train, test)`` with about ``test_fraction`` of every class in test.

    Each class contributes ``round(n_class * test_fraction)`` examples to test, so the class
    balance of both parts matches ``ds``. Both parts keep the original order of ``ds``.
    """
    if not 0 < test_fraction < 1:
        raise DataArgumentError(f"test_fraction is the share of each class put in the test set and must "
                                f"lie strictly between 0 and 1, e.g. 0.2; got {test_fraction!r}.")
    train, test = [], []
    for order in _shuffled_by_class(ds.labels, len(ds.classes), seed):
        n_test = round(len(order) * test_fraction)
        test.append(order[:n_test])
        train.append(order[n_test:])
    return ds.subset(torch.cat(train).sort().values), ds.subset(torch.cat(test).sort().values)


def few_shot_subset(ds, per_class: int, seed: int = 0):
    """Exactly ``per_class`` examples of every class of ``ds``, chosen at random by ``seed``.

    Budgets are nested: with one seed, the 5-per-class subset contains the 2-per-class one,
    so a data-efficiency curve adds labels instead of redrawing them.
    """
    return ds.subset(few_shot_indices(ds, per_class, seed))


def few_shot_indices(ds, per_class: int, seed: int = 0) -> torch.Tensor:
    """The sorted positions that :func:`few_shot_subset` keeps (to index cached features)."""
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise DataArgumentError(f"per_class is the number of labelled examples kept per class and must "
                                f"be a positive int, e.g. 5; got {per_class!r}.")
    chosen = []
    for name, order in zip(ds.classes, _shuffled_by_class(ds.labels, len(ds.classes), seed)):
        if len(order) < per_class:
            raise DataArgumentError(
                f"Class {name!r} has only {len(order)} examples, fewer than per_class={per_class}. "
                f"Lower per_class to at most {len(order)}, or take the subset from a larger split.")
        chosen.append(order[:per_class])
    return torch.cat(chosen).sort().values


def train_and_validation(ds, per_class: int, val_per_class: int, seed: int = 0):
    """``(train, validation)``: ``per_class`` labelled examples of every class, the same ones
    :func:`few_shot_subset` draws with ``seed``, and ``val_per_class`` *other* examples of every
    class to validate on. Both come from ``ds`` (the pool), so the test set stays untouched
    until the final number."""
    train, val = train_and_validation_indices(ds, per_class, val_per_class, seed)
    return ds.subset(train), ds.subset(val)


def train_and_validation_indices(ds, per_class: int, val_per_class: int,
                                 seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The sorted positions in ``ds`` that :func:`train_and_validation` keeps, ``(train, val)``:
    to index a task's pool (``task.train_data(indices)``) or its cached features."""
    indices = few_shot_indices(ds, per_class + val_per_class, seed)  # raises when a class is short
    train = few_shot_indices(ds, per_class, seed)
    return train, indices[~torch.isin(indices, train)]
