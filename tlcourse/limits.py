"""The limits of transfer (notebook 07): when a pretrained start hurts, overfits or forgets.

Three failures, each measured against training from scratch on the same handwritten digits as
:func:`tlcourse.tasks.digits_task`:

- **negative transfer**: :func:`misleading_task` starts from a SmallCNN pretrained on the
  letters with their labels *shuffled* (:func:`misleading_cnn`): a source that taught the
  network nothing true about the characters;
- **overfitting**: :func:`limits_task` is the digits task with one more strategy,
  ``early_stopping`` (fine-tune every block, stop when a validation split drawn from the pool
  stops improving); :func:`overfitting_history` records train and validation curves of one run;
- **catastrophic forgetting**: :func:`letters_test_set` holds rendered letters the source never
  saw, and :func:`forgetting` scores a fine-tuned network on the digits *and*, with the letters
  head put back on its backbone (:func:`with_source_head`), on the letters.

L2-SP, the cure that pulls fine-tuned weights towards the pretrained ones, lives in the training
loop (:func:`tlcourse.train.l2sp_penalty`, ``Settings(l2sp=alpha)``), so every strategy can use it.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import pandas as pd
import torch
from torch import nn

from .config import Profile, get_profile, seed_everything
from .data import ImageDataset, few_shot_indices, load, train_and_validation_indices
from .experiments import Settings, Task, _on_the_fly, _training_set, run_one, train_network
from .freeze import count_parameters, unfreeze
from .models import SmallCNN
from .pretrain import SOURCE_CHARS, load_pretrained_cnn, pretrained_once
from .tasks import digits_task, transfer_small_cnn
from .train import History, evaluate, fit_for_steps

HIGH_LR = 1e-2  # "fine-tuned badly": 10x the course's fine-tuning rate (Settings.lr_finetune)
L2SP_ALPHA = 1.0  # L2-SP's pull towards the pretrained weights in the notebook's comparison
VAL_PER_CLASS = 10  # pool images per class held out to validate on (never the test set)
PATIENCE = 5  # early stopping: validations without a better accuracy before training stops
CURVE_POINTS = 30  # validations per run at most: a run of many one-batch epochs validates every few


def shuffled_labels(data: ImageDataset, seed: int = 0) -> ImageDataset:
    """The same images with their labels permuted at random (``seed``): the class counts stay,
    but a label says nothing about its image any more."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    return ImageDataset(data.images, data.labels[order], data.classes, data.card)


def misleading_cnn(profile: Profile | None = None, seed: int = 0, progress: bool = True) -> tuple[SmallCNN, dict]:
    """A SmallCNN pretrained on ``profile.misleading_samples`` rendered letters whose labels were
    shuffled, for ``profile.pretrain_epochs`` epochs (as :func:`tlcourse.pretrain.pretrain_on`).
    Trained once, then read from the cache (a checkpoint named by a digest of the data and
    settings, loaded with ``weights_only=True``). Returns (model in eval mode, metadata with its
    held-out accuracy on the shuffled labels, about chance, and the seconds training took)."""
    profile = profile or get_profile()
    letters = shuffled_labels(load("glyphs", n=profile.misleading_samples, chars=SOURCE_CHARS, size=32,
                                   seed=seed), seed=seed)
    return pretrained_once(letters, profile.pretrain_epochs, "limits/shuffled_letters_cnn", seed=seed,
                           progress=progress)


def misleading_task(profile: Profile | None = None, seed: int = 0, progress: bool = True) -> Task:
    """The digits of :func:`tlcourse.tasks.digits_task` (the same pool and test set), transferred
    from :func:`misleading_cnn` instead of the letters network."""
    digits = digits_task(profile)
    source, _ = misleading_cnn(profile, seed=seed, progress=progress)
    return Task("shuffled letters->digits", digits.pool, digits.test, transfer_small_cnn(source, 10))


def validation_indices(task: Task, indices: torch.Tensor, seed: int) -> torch.Tensor:
    """``VAL_PER_CLASS`` pool positions per class to validate on, drawn with ``seed`` and
    disjoint from the labelled ``indices`` (which must be the budget that seed draws)."""
    per_class = len(indices) // task.num_classes
    train, val = train_and_validation_indices(task.pool, per_class, VAL_PER_CLASS, seed)
    if not torch.equal(train, indices):
        raise ValueError("the labelled indices are not the budget this seed draws: pass the indices "
                         "that few_shot_indices(task.pool, per_class, seed) returns.")
    return val


def _validation_every(n: int, steps: int, batch_size: int) -> int:
    """Epochs between validations, so a run of ``steps`` validates about ``CURVE_POINTS`` times."""
    epochs = math.ceil(steps / math.ceil(n / min(batch_size, n)))
    return max(1, epochs // CURVE_POINTS)


def fine_tune_with_validation(task: Task, indices: torch.Tensor, seed: int, settings: Settings,
                              patience: int | None = None) -> tuple[nn.Module, History]:
    """Fine-tune every block of the pretrained model on the labelled ``indices`` (as
    ``finetune_all``), validating on :func:`validation_indices` along the way. With ``patience``,
    stop after that many validations without a better accuracy and keep the best weights.
    Returns (model in eval mode, history with train and validation loss and accuracy)."""
    val = task.train_data(validation_indices(task, indices, seed))
    seed_everything(seed)
    model = unfreeze(task.make_model(True))
    train = _training_set(task, indices, settings)
    every = _validation_every(len(train[1]), settings.steps, settings.batch_size)
    history = fit_for_steps(model, train, settings.steps, settings.batch_size, settings.lr_finetune,
                            settings.decay, seed, val=val, val_every=every, patience=patience,
                            transform=task.transform, bn_policy=settings.bn_policy, augment=_on_the_fly(settings))
    return model, history


def overfitting_history(task: Task, per_class: int, seed: int, settings: Settings) -> History:
    """The train and validation curves of one ``finetune_all`` run (no early stopping)."""
    return fine_tune_with_validation(task, few_shot_indices(task.pool, per_class, seed), seed, settings)[1]


def _early_stopping(task: Task, indices: torch.Tensor, settings: Settings) -> tuple[float, int]:
    """``finetune_all`` with early stopping on the pool's validation split, ``PATIENCE``
    validations; scored on the test set once, at the end. Seeded by :func:`run_one`."""
    model, _ = fine_tune_with_validation(task, indices, torch.initial_seed(), settings, PATIENCE)
    return evaluate(model, task.test, transform=task.transform)["accuracy"], count_parameters(model, True)


def limits_task(profile: Profile | None = None) -> Task:
    """:func:`tlcourse.tasks.digits_task` with ``early_stopping`` among its strategies."""
    task = digits_task(profile)
    task.extra_strategies["early_stopping"] = _early_stopping
    return task


def letters_test_set(profile: Profile | None = None, seed: int = 1) -> ImageDataset:
    """About ``profile.max_eval`` rendered letters the source network never saw: the shipped
    checkpoint was pretrained on ``load("glyphs", seed=0)``; another seed renders other images
    (fonts drawn anew, other poses and noise)."""
    profile = profile or get_profile()
    classes = 26
    return load("glyphs", n=max(classes, profile.max_eval // classes * classes), chars=SOURCE_CHARS,
                size=32, seed=seed)


def with_source_head(model: SmallCNN, source: SmallCNN) -> SmallCNN:
    """A copy of ``source`` whose every block but the head is ``model``'s: what a fine-tuned
    network still knows about the source task, read through the source's own head."""
    joined = SmallCNN(num_classes=source.head.out_features, in_channels=source.stem[0].in_channels)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    joined.load_state_dict(state | {f"head.{k}": v for k, v in source.head.state_dict().items()})
    return joined.eval()


def _adapted(task: Task, strategy: str, per_class: int, seed: int, settings: Settings) -> tuple[nn.Module | None, float]:
    """(the trained network, its digits test accuracy) for one run of ``strategy``: any of
    :data:`tlcourse.experiments.NETWORKS`, ``early_stopping``, or ``linear_probe`` (no network:
    None, the backbone stays the source's)."""
    if strategy == "linear_probe":
        return None, run_one(task, strategy, per_class, seed, settings)["accuracy"]
    if strategy == "early_stopping":
        indices = few_shot_indices(task.pool, per_class, seed)
        model, _ = fine_tune_with_validation(task, indices, seed, settings, PATIENCE)
    else:
        model = train_network(task, strategy, per_class, seed, settings)
    return model, evaluate(model, task.test, transform=task.transform)["accuracy"]


def forgetting(task: Task, strategy: str, per_class: int, seed: int, settings: Settings,
               letters: ImageDataset, source: SmallCNN | None = None) -> dict:
    """Adapt with ``strategy`` (see :func:`_adapted`) and score twice: on the digits test set,
    and on the ``letters`` through the ``source``'s letters head (default: the shipped network)
    put back on the adapted backbone. A probe leaves the backbone as it was, so it keeps the
    letters exactly. One table row; accuracies are fractions."""
    source = source or load_pretrained_cnn()[0]
    start = time.perf_counter()
    model, digits = _adapted(task, strategy, per_class, seed, settings)
    kept = evaluate(with_source_head(model or source, source), letters)["accuracy"]
    return {"strategy": strategy, "labels_per_class": per_class, "seed": seed, "lr": settings.lr_finetune,
            "l2sp": settings.l2sp, "augment": settings.augment, "digits_accuracy": digits,
            "letters_accuracy": kept, "seconds": time.perf_counter() - start}


def cures(settings: Settings) -> dict[str, tuple[str, Settings]]:
    """The badly fine-tuned run (every block at ``HIGH_LR``) and its cures, each one change from
    it: name -> (strategy, settings), for :func:`compare_cures`."""
    bad = replace(settings, lr_finetune=HIGH_LR)
    return {"every block, high rate": ("finetune_all", bad),
            "lower rate": ("finetune_all", settings),
            "probe (every block frozen)": ("linear_probe", bad),
            f"last {settings.k} blocks only": ("finetune_last_k", bad),
            "early stopping": ("early_stopping", bad),
            "shifted copies": ("finetune_all", replace(bad, augment="shifts")),
            "L2-SP": ("finetune_all", replace(bad, l2sp=L2SP_ALPHA))}


def compare_cures(task: Task, cures: dict[str, tuple[str, Settings]], per_class: int, seeds,
                  letters: ImageDataset, source: SmallCNN | None = None) -> pd.DataFrame:
    """:func:`forgetting` for every cure (a name -> ``(strategy, settings)``) and seed: one row
    per run, with the cure's name, its digits test accuracy and the letters it kept."""
    source = source or load_pretrained_cnn()[0]
    return pd.DataFrame([{"cure": name, **forgetting(task, strategy, per_class, seed, settings, letters, source)}
                         for name, (strategy, settings) in cures.items() for seed in seeds])
