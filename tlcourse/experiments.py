"""Compare transfer strategies against training from scratch, over label budgets and seeds.

One protocol serves every target, images or text. A task (:class:`Task` for images,
:class:`tlcourse.nlp.TextTask` for text) says what the target is and how to build the model:

- ``pool`` and ``test``: labelled data sets (``.labels``, ``.classes``); budgets are drawn
  from the pool, the test set is the same for every run;
- ``make_model(pretrained)``: a fresh model with a head for the target's classes;
- ``features(pretrained)``: frozen-backbone features ``(N, D)`` of pool and test, computed once;
- ``train_data(indices)`` and ``test_data()``: what :func:`tlcourse.train.fit` trains on and
  :func:`tlcourse.train.evaluate` scores;
- ``extra_strategies``: baselines only that kind of task has (TF-IDF for text), each a
  function ``(task, indices, settings) -> (accuracy, trainable parameters)``.

The budget is always **labels per class** (``labels_per_class``; every row also holds the
total, ``labels``). :func:`compare` runs each strategy for each budget and seed through
:func:`run_one` and returns a tidy table, one row per run; :func:`summarize` turns it into
mean ± std. Every notebook comparison goes through here.

Strategies every task has:

- ``scratch``: the same architecture, randomly initialised, every block trained;
- ``linear_probe``: the pretrained backbone frozen, features computed once and cached,
  logistic regression on top (:func:`tlcourse.train.fit_linear_probe`);
- ``random_probe``: the same probe on a *randomly initialised* backbone: what the
  architecture alone gives, without pretraining (image tasks);
- ``finetune_all``: the pretrained model with a new head, every block trained;
- ``finetune_last_k``: the pretrained model, only its last ``k`` named blocks trained, the
  head counted as one (``k=2``: the last block and the head; see
  :func:`tlcourse.freeze.last_blocks`). The frozen blocks below are computed once per run
  (once per task for the test set) and only the top is trained on their output
  (:mod:`tlcourse.prefix`; ``Settings.cache_frozen``);
- ``gradual_unfreeze``: the pretrained model, the head trained first and one more block from
  the top unfrozen every ``steps / blocks`` steps, ending with every block trained (ULMFiT;
  :func:`tlcourse.train.fit_gradual_unfreeze`).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .config import seed_everything
from .data.audio import specaugment_copies
from .data import few_shot_indices
from .freeze import count_parameters, last_blocks, named_blocks, set_trainable, unfreeze
from .prefix import split_model, stages
from .train import (Transform, as_tensors, dihedral_copies, evaluate, extract_features, fit_for_steps,
                    fit_gradual_unfreeze, fit_linear_probe, l2sp_penalty, predict, random_affine, shifted_copies)

PROBES = {"linear_probe": True, "random_probe": False}  # strategy -> pretrained backbone?
NETWORKS = ("scratch", "finetune_all", "finetune_last_k", "gradual_unfreeze")
STRATEGIES = ("scratch", "linear_probe", "random_probe", "finetune_all", "finetune_last_k", "gradual_unfreeze")
Baseline = Callable[..., tuple[float, int]]  # (task, indices, settings) -> (accuracy, trainable)


@dataclass
class Task:
    """An image target task: where labelled examples come from and which model to adapt.

    ``make_model(pretrained)`` returns a fresh model with a head for ``num_classes``: with the
    pretrained backbone when ``pretrained`` is True, randomly initialised otherwise.
    """

    name: str
    pool: object  # ImageDataset to draw the labelled budget from
    test: object  # ImageDataset held out for every run
    make_model: Callable[[bool], nn.Module]
    transform: Transform | None = None  # batch -> what the model expects (resize, 3 channels)
    extra_strategies: dict[str, Baseline] = field(default_factory=dict)
    _features: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.pool.classes)

    def features(self, pretrained: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone features of the pool and the test set, computed once per backbone."""
        if pretrained not in self._features:
            with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
                torch.manual_seed(0)  # the random backbone is the same one for every run
                model = self.make_model(pretrained)
            self._features[pretrained] = tuple(
                extract_features(model, part, transform=self.transform, progress=False)
                for part in (self.pool, self.test))
        return self._features[pretrained]

    def train_data(self, indices: torch.Tensor):
        """The labelled images ``indices`` of the pool, as :func:`tlcourse.train.fit` takes them."""
        return self.pool.subset(indices)

    def test_data(self):
        return self.test


@dataclass(frozen=True)
class Settings:
    """How each run trains. ``steps`` is the same for every budget, so a 10-image run and a
    500-image run get the same number of updates."""

    steps: int = 150  # gradient steps per fine-tuning run
    batch_size: int = 32
    lr_scratch: float = 3e-3  # a fresh network can take large steps
    lr_finetune: float = 1e-3  # smaller: large steps would wash out what was pretrained
    k: int = 2  # blocks trained by finetune_last_k, counted from the top, the head included
    decay: float = 1.0  # < 1: each block nearer the input learns at decay x the next one's rate
    bn_policy: str = "frozen_eval"  # what BatchNorm layers do (tlcourse.freeze.apply_bn_policy)
    C: float = 1.0  # inverse L2 strength of the linear probe, as in scikit-learn
    scratch_steps: int | None = None  # steps of a scratch run; None: the same as ``steps``
    scratch_batch_size: int | None = None  # None: the same as ``batch_size``
    # finetune_last_k: compute the frozen blocks once and train the top on their output
    # (tlcourse.prefix). The frozen blocks then run in eval mode: no dropout in them.
    cache_frozen: bool = True
    # "dihedral": train on every labelled image in its 8 orientations (4 rotations by 90°, each
    # also mirrored), for images whose orientation means nothing (scans, cells, satellite tiles).
    # "specaugment": train on each spectrogram and 3 copies masked in time and frequency (notebook 06).
    # "shifts": each image and 4 copies moved 2 pixels (characters, whose orientation matters).
    # "affine": every training batch turned, shifted and scaled at random, anew at every step
    # (tlcourse.train.random_affine; notebook 03). Frozen blocks then run at every step.
    augment: str | None = None
    # L2-SP's alpha (tlcourse.train.l2sp_penalty): > 0 pulls every pretrained weight of a fine-tuned
    # network back towards its starting value with a penalty alpha/2 * ||w - w0||^2 (the head is new: free).
    l2sp: float = 0.0

    @classmethod
    def for_profile(cls, profile, **overrides) -> "Settings":
        """Settings sized by a profile (its ``finetune_steps``), with any field overridden."""
        return cls(**{"steps": profile.finetune_steps, **overrides})


def _probe(task, indices: torch.Tensor, pretrained: bool, settings: Settings) -> tuple[float, int]:
    return probe_on_features(task, *task.features(pretrained), indices, settings)


def probe_on_features(task, pool_x: torch.Tensor, test_x: torch.Tensor, indices: torch.Tensor,
                      settings: Settings) -> tuple[float, int]:
    """A linear probe fitted on the pool features ``pool_x`` ``(N_pool, D)`` of the labelled
    ``indices``, scored on ``test_x`` ``(N_test, D)``: (test accuracy, trainable parameters)."""
    probe = fit_linear_probe(pool_x[indices], task.pool.labels[indices], task.num_classes, C=settings.C)
    with torch.no_grad():
        accuracy = (probe(test_x).argmax(1) == task.test.labels).float().mean().item()
    return accuracy, probe.linear.weight.numel() + probe.linear.bias.numel()


def _train_network(task, indices: torch.Tensor, strategy: str, seed: int,
                   settings: Settings) -> tuple[float, int]:
    """scratch, finetune_all, finetune_last_k or gradual_unfreeze: build, freeze, train for the
    settings' steps, test."""
    model, accuracy = _fit_network(task, indices, strategy, seed, settings)
    return accuracy, count_parameters(model, trainable_only=True)


def _fit_network(task, indices: torch.Tensor, strategy: str, seed: int,
                 settings: Settings) -> tuple[nn.Module, float]:
    """The trained model of :func:`_train_network` and its test accuracy."""
    seed_everything(seed)  # the new head (and the scratch network) start from seeded weights
    model = unfreeze(task.make_model(strategy != "scratch"))
    if strategy == "finetune_last_k":
        set_trainable(model, last_blocks(model, settings.k))
    if strategy == "scratch":  # a fresh network has nothing to protect: one rate for every block
        steps = settings.scratch_steps or settings.steps
        batch_size = settings.scratch_batch_size or settings.batch_size
        lr, decay = settings.lr_scratch, 1.0
    else:
        steps, batch_size, lr, decay = settings.steps, settings.batch_size, settings.lr_finetune, settings.decay
    if strategy == "finetune_last_k" and _can_cache_frozen(model, settings):
        accuracy = _fit_top(task, model, indices, seed, settings)  # trains model's own top blocks
    else:
        fit_steps = fit_gradual_unfreeze if strategy == "gradual_unfreeze" else fit_for_steps
        penalty = l2sp_penalty(model, settings.l2sp) if settings.l2sp and strategy != "scratch" else None
        fit_steps(model, _training_set(task, indices, settings), steps, batch_size, lr, decay, seed,
                  transform=task.transform, bn_policy=settings.bn_policy, augment=_on_the_fly(settings),
                  penalty=penalty)
        accuracy = evaluate(model, task.test_data(), transform=task.transform)["accuracy"]
    return model.eval(), accuracy


def train_network(task, strategy: str, per_class: int, seed: int, settings: Settings | None = None) -> nn.Module:
    """The model that :func:`run_one` trains for ``strategy`` (one of ``NETWORKS``), on the same ``per_class`` labels per class drawn with ``seed``: to look
    inside it (confusions, Grad-CAM), save it or predict with it. Returned in eval mode."""
    if strategy not in NETWORKS:
        raise ValueError(f"train_network trains one of {NETWORKS}, not {strategy!r}: probes have no network to return.")
    indices = few_shot_indices(task.pool, per_class, seed=seed)
    return _fit_network(task, indices, strategy, seed, settings or Settings())[0]


def _specaugment(spectrograms: torch.Tensor) -> torch.Tensor:
    """The spectrograms and 3 SpecAugment-masked copies, the masks drawn from the run's seed."""
    return specaugment_copies(spectrograms, copies=3, seed=torch.initial_seed())


AUGMENTATIONS = {"dihedral": dihedral_copies, "specaugment": _specaugment, "shifts": shifted_copies}  # fixed copies, made once
ON_THE_FLY = {"affine": random_affine}  # a new random version of every batch, at every step


def _on_the_fly(settings: Settings):
    """The batch augmentation :func:`tlcourse.train.fit` applies for ``settings.augment``, or None."""
    return ON_THE_FLY[settings.augment]() if settings.augment in ON_THE_FLY else None


def _training_set(task, indices: torch.Tensor, settings: Settings):
    """The labelled pool examples ``indices`` as (inputs, labels), augmented as the settings say."""
    inputs, labels = as_tensors(task.train_data(indices))
    if settings.augment not in AUGMENTATIONS and settings.augment not in ON_THE_FLY and settings.augment is not None:
        raise ValueError(f"Unknown augment {settings.augment!r}; choose None or one of "
                         f"{list(AUGMENTATIONS) + list(ON_THE_FLY)}.")
    if settings.augment in ON_THE_FLY and inputs.dim() != 4:
        raise ValueError(f"augment={settings.augment!r} turns images; {task.name} has inputs of shape "
                         f"{tuple(inputs.shape)}. Use augment=None.")
    if settings.augment not in AUGMENTATIONS:  # None, or applied batch by batch while training
        return inputs, labels
    if inputs.dim() != 4:
        raise ValueError(f"augment={settings.augment!r} turns images; {task.name} has inputs of shape "
                         f"{tuple(inputs.shape)}. Use augment=None.")
    copies = AUGMENTATIONS[settings.augment](inputs)
    return copies, labels.repeat(len(copies) // len(labels))


def _can_cache_frozen(model: nn.Module, settings: Settings) -> bool:
    """Whether the frozen blocks below the top ``k`` give the same output at every step:
    asked for, something below the top to compute, a model :mod:`tlcourse.prefix` can cut,
    and BatchNorm in frozen blocks kept on its stored statistics (and no L2-SP, whose penalty
    reads the whole model's weights)."""
    if (not settings.cache_frozen or settings.bn_policy == "train_all" or settings.augment in ON_THE_FLY
            or settings.l2sp or not 1 <= settings.k < len(named_blocks(model))):
        return False
    try:
        stages(model)
    except ValueError:
        return False
    return True


def _fit_top(task, model: nn.Module, indices: torch.Tensor, seed: int, settings: Settings) -> float:
    """finetune_last_k on the frozen blocks' cached output: the same training, each step only
    the top ``k`` blocks' forward and backward pass. Returns test accuracy."""
    prefix, top = split_model(model, last_blocks(model, settings.k)[0])
    inputs, labels = _training_set(task, indices, settings)
    frozen = predict(prefix, inputs, transform=task.transform)
    fit_for_steps(top, (frozen, labels), settings.steps, settings.batch_size, settings.lr_finetune,
                  settings.decay, seed, bn_policy=settings.bn_policy)
    return evaluate(top, _frozen_test(task, prefix, settings.k))["accuracy"]


def _frozen_test(task, prefix: nn.Module, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The test set through the frozen ``prefix``: computed once per task and ``k`` (the frozen
    blocks hold the same pretrained weights in every run), kept with the task."""
    cache = vars(task).setdefault("_frozen_test", {})
    if k not in cache:
        inputs, labels = as_tensors(task.test_data())
        cache[k] = predict(prefix, inputs, transform=task.transform), labels
    return cache[k]


VALIDATION_PER_CLASS = 50  # validation_task's default hold-out per class


class ValidationTask:
    """A task whose "test" set is a validation split drawn from another task's pool.

    Made by :func:`validation_task`. Everything :func:`compare` reads works as on the original
    task (``make_model``, ``transform``, the task's own strategies), but budgets are drawn from
    the rest of the pool and every run is scored on the validation examples: the original
    test set is never read. Frozen features are the original pool's, computed once and sliced.
    """

    def __init__(self, task, val_per_class: int | None = None, seed: int = 0):
        if val_per_class is None:
            val_per_class = min(VALIDATION_PER_CLASS, int(task.pool.labels.bincount().min()) // 2)
        if val_per_class < 1:
            raise ValueError(f"val_per_class must be at least 1, got {val_per_class}.")
        val = few_shot_indices(task.pool, val_per_class, seed=seed)  # raises when a class is short
        keep = torch.ones(len(task.pool.labels), dtype=torch.bool)
        keep[val] = False
        self.original, self.kept, self.validation = task, keep.nonzero().flatten(), val
        self.name = f"{task.name} (validation)"
        self.pool, self.test = task.pool.subset(self.kept), task.pool.subset(val)

    def __getattr__(self, name):  # make_model, transform, extra_strategies, encoder, ...
        if name == "original":  # not set yet: a half-built object must not recurse
            raise AttributeError(name)
        return getattr(self.original, name)

    @property
    def num_classes(self) -> int:
        return len(self.pool.classes)

    def features(self, pretrained: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        pool_x = self.original.features(pretrained)[0]
        return pool_x[self.kept], pool_x[self.validation]

    def train_data(self, indices: torch.Tensor):
        return self.original.train_data(self.kept[indices])

    def test_data(self):
        return self.original.train_data(self.validation)


def validation_task(task, val_per_class: int | None = None, seed: int = 0) -> ValidationTask:
    """``task`` with ``val_per_class`` pool examples of every class held out for validation
    (default: ``VALIDATION_PER_CLASS``, or half the smallest class of the pool if that is less):
    :func:`compare` on it draws budgets from the rest of the pool and scores on those held-out
    examples, so a strategy, a rate or a number of steps can be *chosen* without touching the
    test set. Measure the chosen one on ``task`` itself once, for the final number.

    >>> val = validation_task(digits_task(profile), 20)  # doctest: +SKIP
    >>> choice = compare(val, ["scratch", "linear_probe"], [1], profile.seeds)  # doctest: +SKIP
    """
    return ValidationTask(task, val_per_class, seed)


def strategies_of(task) -> tuple[str, ...]:
    """Every strategy :func:`run_one` can run on ``task``: the shared ones and the task's own."""
    return STRATEGIES + tuple(task.extra_strategies)


def run_one(task, strategy: str, per_class: int, seed: int, settings: Settings) -> dict:
    """One run: draw ``per_class`` labels per class with ``seed``, adapt, test. One table row."""
    if strategy not in strategies_of(task):
        raise ValueError(f"Unknown strategy {strategy!r} for {task.name}; choose from {strategies_of(task)}.")
    indices = few_shot_indices(task.pool, per_class, seed=seed)
    start = time.perf_counter()
    if strategy in PROBES:
        accuracy, trainable = _probe(task, indices, PROBES[strategy], settings)
    elif strategy in NETWORKS:
        accuracy, trainable = _train_network(task, indices, strategy, seed, settings)
    else:  # a task's own strategy, seeded like the shared networks
        seed_everything(seed)
        accuracy, trainable = task.extra_strategies[strategy](task, indices, settings)
    return {"task": task.name, "strategy": strategy, "labels_per_class": per_class,
            "labels": len(indices), "seed": seed, "accuracy": accuracy,
            "seconds": time.perf_counter() - start, "trainable_parameters": trainable}


def compare(task, strategies, labels_per_class, seeds, settings: Settings | None = None,
            progress: bool = True) -> pd.DataFrame:
    """Every strategy x budget (labels per class) x seed through :func:`run_one`; one row per
    run (accuracy is a fraction of the test set).

    ``seconds`` is each run's own wall time: the one-off feature extraction that the probes
    share (``task.features``) is not in it.
    """
    settings = settings or Settings()
    runs = [(s, b, seed) for b in labels_per_class for s in strategies for seed in seeds]
    rows = [run_one(task, s, b, seed, settings)
            for s, b, seed in tqdm(runs, desc=task.name, disable=not progress, leave=False)]
    return pd.DataFrame(rows)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of accuracy (and mean seconds) per strategy and budget."""
    grouped = results.groupby(["task", "strategy", "labels_per_class"], sort=False)
    table = grouped.agg(accuracy_mean=("accuracy", "mean"), accuracy_std=("accuracy", "std"),
                        runs=("seed", "count"), seconds=("seconds", "mean"),
                        trainable_parameters=("trainable_parameters", "first")).reset_index()
    table["accuracy_std"] = table["accuracy_std"].fillna(0.0)
    return table


def accuracy_table(results: pd.DataFrame, budget: str = "labels_per_class") -> pd.DataFrame:
    """One row per strategy, one column per budget: test accuracy as "mean ± std" in percent
    over seeds (std 0 for a single seed); the last column is the mean wall time of one run in
    seconds.

    ``budget`` names the budget column: ``"labels_per_class"``, or ``"labels"`` for the total.
    """
    grouped = results.groupby(["strategy", budget], sort=False)["accuracy"]
    cells = (grouped.mean() * 100).map("{:.1f}".format) + " ± " + (grouped.std().fillna(0) * 100).map(
        "{:.1f}".format)
    table = cells.unstack(budget)
    table = table[sorted(table.columns)].fillna("-")  # "-": that strategy was not run at that budget
    table["seconds per run"] = results.groupby("strategy", sort=False)["seconds"].mean().round(2)
    return table.rename_axis(columns=budget)


def gain(results: pd.DataFrame, strategy: str, baseline: str = "scratch") -> pd.Series:
    """Mean accuracy of ``strategy`` minus ``baseline`` per budget, in percentage points."""
    means = results.groupby(["strategy", "labels_per_class"])["accuracy"].mean()
    return ((means[strategy] - means[baseline]) * 100).rename(f"{strategy} - {baseline} (points)")


def save_results(results: pd.DataFrame, path: str | Path) -> Path:
    """Write the run table as CSV so later runs (or another learner's) can be compared."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(path, index=False)
    return path


def load_results(path: str | Path) -> pd.DataFrame:
    if not Path(path).exists():
        raise FileNotFoundError(f"No results at {path}: run compare(...) and save_results(...) first.")
    return pd.read_csv(path)


def describe(results: pd.DataFrame, strategy: str, baseline: str = "scratch") -> str:
    """One sentence per budget: how far ``strategy`` is ahead of (or behind) ``baseline``."""
    means = results.groupby(["strategy", "labels_per_class"])["accuracy"].mean() * 100
    stds = results.groupby(["strategy", "labels_per_class"])["accuracy"].std().fillna(0) * 100
    lines = []
    for budget in sorted(means[strategy].index):
        a, b = means[strategy][budget], means[baseline][budget]
        word = "beats" if a > b else "trails"
        lines.append(f"{budget:>4} labels/class: {strategy} {word} {baseline} by {abs(a - b):4.1f} "
                     f"points ({a:.1f}% ± {stds[strategy][budget]:.1f} vs {b:.1f}% ± "
                     f"{stds[baseline][budget]:.1f})")
    return "\n".join(lines)
