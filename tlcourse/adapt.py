"""Domain adaptation: a model trained on one domain (the *source*) made to work on another
(the *target*) whose labels we do not have.

Notebook 05 trains the SmallCNN on digits rendered from fonts and tests it on real handwriting.
The images differ in stroke, slant and texture, so features that separate font digits need
not separate handwritten ones: that drop is the *domain gap*. Three ways to close it without a
single target label, each a few lines here:

- **AdaBN** (Li et al., 2016): every BatchNorm layer normalises its input with the mean and
  variance it stored during training, the source's. Re-estimate them on unlabelled target
  images (:func:`adabn`) and each layer sees target activations centred and scaled as the source
  ones were. No weight changes, no gradient step: only forward passes.
- **DANN** (Ganin et al., 2016): a small *domain classifier* tries to tell source from target
  features, while the feature extractor learns to fool it. One backward pass does both through
  a *gradient-reversal layer* (:class:`GradientReversal`): identity going forward, gradient
  multiplied by ``-scale`` going back, so the features climb the domain classifier's loss while
  the classifier descends it. The scale ramps from 0 to 1 (:func:`ganin_schedule`), so the
  noisy early domain signal does not wreck the label features (:func:`train_dann`).
- **Self-training**: label the target images the model is confident about with its own
  predictions (:func:`pseudo_label`), train on them, repeat (:func:`self_train`). The threshold
  trades how many pseudo-labels against how many are wrong; wrong ones are learnt as truth.

How close two domains are is measured with the *proxy A-distance* (:func:`proxy_a_distance`,
Ben-David et al., 2007): train a linear classifier to tell source features from target ones;
its test error ``e`` gives ``2 (1 - 2 e)``: 2 when the domains are perfectly separable, 0 when
the classifier does no better than a coin.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import Profile, get_device, seed_everything
from .data import few_shot_indices
from .experiments import Settings, Task, run_one
from .freeze import count_parameters, is_batchnorm
from .models import SmallCNN
from .train import (Transform, _batches, _prepare, _to_device, as_tensors, autocast, evaluate,
                    extract_features, fit_for_steps, fit_linear_probe, predict)


# --- AdaBN -------------------------------------------------------------------------------------

@torch.no_grad()
def adabn(model: nn.Module, target_images: torch.Tensor, batch_size: int = 256,
          transform: Transform | None = None, device=None, seed: int = 0) -> nn.Module:
    """Re-estimate every BatchNorm layer's running mean and variance on ``target_images``
    ``(N, C, H, W)``; weights are left as they are. Returns the model in eval mode.

    The statistics are reset, then each batch's mean and (unbiased) variance are averaged with
    equal weight (``momentum=None``: a cumulative average, not the default exponential one, so
    the first batches count as much as the last). The batches are drawn in a shuffled order
    (fixed by ``seed``): a data set stored class by class would otherwise give batches of two or
    three classes, whose variances are too small. Only the BatchNorm layers run in training
    mode, so dropout or anything else that behaves differently in training stays off.
    """
    device = torch.device(device) if device else get_device()
    norms = [m for m in model.modules() if is_batchnorm(m)]
    if not norms:
        raise ValueError(f"{type(model).__name__} has no BatchNorm layer: AdaBN has nothing to re-estimate.")
    _prepare(model, device, fast_gpu=False).eval()
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    for idx in _batches(len(target_images), batch_size, torch.Generator().manual_seed(seed)):
        xb = _to_device(target_images[idx], device, fast_gpu=False)
        model(transform(xb) if transform else xb)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


# --- Gradient reversal and DANN ----------------------------------------------------------------

class ReverseGradient(torch.autograd.Function):
    """Identity in the forward pass; in the backward pass the gradient times ``-scale``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)  # a new tensor, so autograd records this node

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None  # no gradient for ``scale``


class GradientReversal(nn.Module):
    """The gradient-reversal layer of DANN: ``(N, D) -> (N, D)`` unchanged, gradients reversed
    and scaled by ``scale`` (which :func:`train_dann` ramps up during training)."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ReverseGradient.apply(x, self.scale)


def ganin_schedule(progress: float, gamma: float = 10.0) -> float:
    """Gradient-reversal scale ``2 / (1 + exp(-gamma p)) - 1`` at ``p`` = fraction of training
    done: 0 at the start, 0.76 at a fifth of the way for ``gamma=10``, near 1 at the end."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def domain_classifier(num_features: int, hidden: int = 128) -> nn.Sequential:
    """A small MLP: features ``(N, num_features)`` -> one logit ``(N, 1)``, > 0 meaning "target"."""
    return nn.Sequential(nn.Linear(num_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, 1))


def dann_losses(model: nn.Module, discriminator: nn.Module, reversal: GradientReversal,
                xs: torch.Tensor, ys: torch.Tensor, xt: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(label loss, domain loss, domain accuracy) for a source batch ``xs`` ``(B, C, H, W)`` with
    labels ``ys`` ``(B,)`` and a target batch ``xt`` ``(B', C, H, W)``.

    Both batches go through the network together, so BatchNorm normalises one mixed batch (as
    in Ganin et al.). The label loss sees only source features; the domain classifier sees all
    of them behind the gradient reversal. ``model`` needs ``features`` and ``head`` (SmallCNN).
    """
    features = model.features(torch.cat([xs, xt]))
    label_loss = F.cross_entropy(model.head(features[:len(xs)]).float(), ys)
    is_target = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))]).to(features.device)
    logits = discriminator(reversal(features)).float().squeeze(1)
    domain_loss = F.binary_cross_entropy_with_logits(logits, is_target)
    domain_accuracy = ((logits > 0).float() == is_target).float().mean()
    return label_loss, domain_loss, domain_accuracy


def train_dann(model: nn.Module, source, target_images: torch.Tensor, steps: int, batch_size: int = 32,
               lr: float = 1e-3, hidden: int = 128, seed: int = 0, device=None,
               progress: bool = False) -> pd.DataFrame:
    """Train ``model`` with DANN for ``steps`` steps: labelled ``source`` (an ImageDataset or
    ``(images, labels)``) and unlabelled ``target_images`` ``(N, C, H, W)``, ``batch_size`` of
    each per step. One AdamW optimiser for the network and a fresh :func:`domain_classifier`,
    the learning rate cosine-decayed to zero. Returns one row per step: the reversal scale, the
    label and domain losses, and the domain classifier's accuracy (0.5: it cannot tell them apart).
    The model is left in eval mode.
    """
    device = torch.device(device) if device else get_device()
    seed_everything(seed)  # the domain classifier starts from seeded weights
    xs, ys = (t.to(device) for t in as_tensors(source))
    xt = target_images.to(device)
    _prepare(model, device, fast_gpu=True).train()
    discriminator, reversal = domain_classifier(model.num_features, hidden).to(device), GradientReversal(0.0)
    optimizer = torch.optim.AdamW([*model.parameters(), *discriminator.parameters()], lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator, rows = torch.Generator().manual_seed(seed), []
    for step in tqdm(range(steps), desc="DANN", disable=not progress, leave=False):
        reversal.scale = ganin_schedule(step / steps)
        s = torch.randint(len(xs), (batch_size,), generator=generator).to(device)
        t = torch.randint(len(xt), (batch_size,), generator=generator).to(device)
        with autocast(device):
            label_loss, domain_loss, domain_accuracy = dann_losses(
                model, discriminator, reversal, _to_device(xs[s], device, True), ys[s],
                _to_device(xt[t], device, True))
        optimizer.zero_grad(set_to_none=True)
        (label_loss + domain_loss).backward()
        optimizer.step()
        scheduler.step()
        rows.append({"step": step, "scale": reversal.scale, "label_loss": label_loss.item(),
                     "domain_loss": domain_loss.item(), "domain_accuracy": domain_accuracy.item()})
    model.eval()
    return pd.DataFrame(rows)


# --- Self-training -----------------------------------------------------------------------------

def pseudo_label(model: nn.Module, images: torch.Tensor, threshold: float,
                 transform: Transform | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's own labels for the images it is confident about.

    Returns ``(indices, labels, confidence)``: positions in ``images`` ``(N, C, H, W)`` whose top
    softmax probability is at least ``threshold``, the predicted class there, and that
    probability; all three of shape ``(K,)``, K <= N.
    """
    probabilities = predict(model, images, transform=transform).softmax(1)
    confidence, labels = probabilities.max(1)
    keep = torch.nonzero(confidence >= threshold).flatten()
    return keep, labels[keep], confidence[keep]


def threshold_statistics(model: nn.Module, target_images: torch.Tensor, thresholds, source_val=None,
                         transform: Transform | None = None) -> pd.DataFrame:
    """What each confidence threshold would pseudo-label, measured without a single target label.

    One row per threshold: ``kept`` (the share of ``target_images`` at or above it),
    ``smallest_class`` (the share of the kept images in the rarest predicted class; 0.1 for
    perfectly balanced digits, 0 when a class disappears), and, with a labelled ``source_val``
    set, ``source_accuracy_kept``: how often the model is right on the held-out source images
    at or above that confidence. (On the target it is usually wrong more often than that: the
    model is over-confident away from home.)
    """
    probabilities = predict(model, target_images, transform=transform).softmax(1)
    confidence, labels = probabilities.max(1)
    if source_val is not None:
        xs, ys = as_tensors(source_val)
        source_probabilities = predict(model, xs, transform=transform).softmax(1)
    rows = []
    for threshold in thresholds:
        keep = confidence >= threshold
        counts = labels[keep].bincount(minlength=probabilities.shape[1])
        row = {"threshold": threshold, "kept": keep.float().mean().item(),
               "smallest_class": (counts.min() / counts.sum().clamp_min(1)).item()}
        if source_val is not None:
            sure = source_probabilities.max(1).values >= threshold
            right = source_probabilities.argmax(1)[sure] == ys[sure]
            row["source_accuracy_kept"] = right.float().mean().item() if sure.any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def self_train(model: nn.Module, source, target_images: torch.Tensor, rounds: int, threshold: float,
               steps_per_round: int, batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
               target_labels: torch.Tensor | None = None, test=None) -> pd.DataFrame:
    """Self-training: ``rounds`` times, pseudo-label the target images the model is at least
    ``threshold`` confident about, fine-tune on them together with the labelled ``source`` for
    ``steps_per_round`` steps, then re-estimate BatchNorm statistics on the target (:func:`adabn`;
    training on mixed batches moved them towards the source).

    ``target_labels`` ``(N,)`` and ``test`` (a labelled target set) are for *reporting* only: they
    never change what the model is trained on. One row per round (round 0: the model as given):
    ``pseudo_labelled`` (how many target images were used), ``pseudo_label_accuracy`` (the share
    of them labelled right, when ``target_labels`` are given), ``test_accuracy`` (when ``test``
    is given). The model is trained in place.
    """
    rows = [_round_row(model, 0, None, None, target_labels, test)]
    for round_ in range(1, rounds + 1):
        keep, labels, _ = pseudo_label(model, target_images, threshold)
        xs, ys = as_tensors(source)
        train = (torch.cat([xs, target_images[keep]]), torch.cat([ys, labels]))
        fit_for_steps(model, train, steps_per_round, batch_size, lr, seed=seed + round_)
        adabn(model, target_images)
        rows.append(_round_row(model, round_, keep, labels, target_labels, test))
    return pd.DataFrame(rows)


def _round_row(model, round_, keep, labels, target_labels, test) -> dict:
    row = {"round": round_, "pseudo_labelled": 0 if keep is None else len(keep)}
    if target_labels is not None and keep is not None:
        row["pseudo_label_accuracy"] = (labels == target_labels[keep]).float().mean().item()
    if test is not None:
        row["test_accuracy"] = evaluate(model, test)["accuracy"]
    return row


# --- Measuring the gap -------------------------------------------------------------------------

def proxy_a_distance(source_features: torch.Tensor, target_features: torch.Tensor, seed: int = 0,
                     C: float = 1.0) -> float:
    """Proxy A-distance ``2 (1 - 2 e)`` between two sets of features ``(N_s, D)`` and ``(N_t, D)``.

    ``e`` is the error of a linear domain classifier (logistic regression,
    :func:`tlcourse.train.fit_linear_probe`) on a held-out half: both sets are cut to the same
    size, shuffled with ``seed`` and halved; the classifier learns on one half of each and is
    scored on the other. 2: perfectly separable domains; about 0 (or a little below, by chance):
    the classifier cannot tell them apart.
    """
    n = min(len(source_features), len(target_features))
    generator = torch.Generator().manual_seed(seed)
    s = source_features[torch.randperm(len(source_features), generator=generator)[:n]]
    t = target_features[torch.randperm(len(target_features), generator=generator)[:n]]
    half = n // 2
    train_x, test_x = torch.cat([s[:half], t[:half]]), torch.cat([s[half:], t[half:]])
    train_y = torch.cat([torch.zeros(half), torch.ones(half)]).long()
    test_y = torch.cat([torch.zeros(n - half), torch.ones(n - half)]).long()
    probe = fit_linear_probe(train_x, train_y, 2, C=C)
    with torch.no_grad():
        error = (probe(test_x).argmax(1) != test_y).float().mean().item()
    return 2 * (1 - 2 * error)


def project_2d(*feature_sets: torch.Tensor) -> list[torch.Tensor]:
    """Each of several feature sets ``(N_i, D)`` on the first two principal components of all of
    them together: a list of ``(N_i, 2)``. Fitting one projection for all sets keeps them on the
    same axes, so source and target can be drawn on one plot and compared."""
    sizes = [len(f) for f in feature_sets]
    features = torch.cat(feature_sets).double()
    centred = features - features.mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    axes = vh[:2] * vh[:2].gather(1, vh[:2].abs().argmax(1, keepdim=True)).sign()  # fixed signs
    return list((centred @ axes.T).float().split(sizes))


def domain_features(source_model: nn.Module, target_model: nn.Module, source_images: torch.Tensor,
                    target_images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``(N_s, D)`` of the source images and ``(N_t, D)`` of the target images.

    Each domain goes through the model that serves it: for AdaBN that is the source model
    (source statistics) for source images and the re-estimated one for target images; for DANN
    or no adaptation at all, pass the same model twice.
    """
    return (extract_features(source_model, source_images, progress=False),
            extract_features(target_model, target_images, progress=False))


# --- The comparison of notebook 05 -------------------------------------------------------------

@dataclass
class AdaptationTask:
    """A source domain with labels and a target domain without them (for adaptation).

    ``pool`` and ``test`` are the target's, the same split as ``letters`` (the letters -> digits
    task of notebooks 02-03), so its scratch and fine-tuning baselines draw the same labelled
    images and are scored on the same test set.
    """

    name: str
    source: object  # ImageDataset: labelled source images the networks train on
    source_val: object  # ImageDataset: held-out labelled source images (validation, PAD's source side)
    pool: object  # ImageDataset: adaptation reads .images only; labels for few-shot budgets, the oracle, reports
    test: object  # ImageDataset: held-out labelled target images, every accuracy in the table
    letters: Task  # the letters-pretrained SmallCNN on the same pool and test

    @property
    def num_classes(self) -> int:
        return len(self.pool.classes)


@dataclass(frozen=True)
class AdaptSettings:
    """How each run of :func:`run_adaptation` trains. The learning rates, the threshold and the
    number of rounds were chosen on the target *pool* (its labels, seeds 100-102, a 200-step
    source network), never on the test set; the step counts are what the ``cpu`` profile's
    two-minute budget allows. See benchmarks/domain_adaptation.py for what was tried."""

    source_steps: int = 150  # source only and the oracle, from scratch
    batch_size: int = 64
    lr: float = 3e-3  # from scratch, as experiments.Settings.lr_scratch
    dann_steps: int = 100  # DANN continues from the source-only network
    dann_lr: float = 3e-4  # 1e-3 undid the source training (73% on the pool vs 78.5%)
    dann_batch_size: int = 32  # of each domain, so 64 images a step
    rounds: int = 2  # self-training rounds; the third added 0.1-0.5 points on the pool
    threshold: float = 0.9  # best of 0.8 / 0.9 / 0.97 / 0.99 on the pool (85% vs 82-84%)
    round_steps: int = 40  # steps per self-training round
    round_lr: float = 1e-3
    few_shot_steps: int = 50  # every few-shot run, whatever it starts from
    few_shot_lr: float = 3e-4  # fine-tuning the self-trained network; 1e-3 lost 5 points at 1 label/class

    @classmethod
    def for_profile(cls, profile: Profile, **overrides) -> "AdaptSettings":
        """Step counts as shares of ``profile.adapt_steps`` (150 on ``cpu``), any field overridden."""
        steps = profile.adapt_steps
        sized = {"source_steps": steps, "dann_steps": max(1, 2 * steps // 3),
                 "round_steps": max(1, 4 * steps // 15), "few_shot_steps": max(1, steps // 3)}
        return cls(**(sized | overrides))


@dataclass
class AdaptationResults:
    """Three tidy tables from :func:`run_adaptation`, one row per run.

    - ``runs``: test accuracy per strategy, target labels per class (0: none) and seed, with the
      columns of :func:`tlcourse.experiments.compare`, so ``summarize`` and ``accuracy_table`` work
      (``source_only`` rows also hold ``source_accuracy``, on the held-out source images);
    - ``rounds``: self-training, per round and seed (:func:`self_train`'s rows);
    - ``distances``: proxy A-distance per representation and seed (held-out source vs target test);

    and ``models``: the first seed's networks by strategy (``source_only``, ``adabn``, ``dann``,
    ``self_training``), in eval mode, to look inside (features, pseudo-labels) without training
    them again.
    """

    runs: pd.DataFrame
    rounds: pd.DataFrame
    distances: pd.DataFrame
    models: dict[str, nn.Module] = field(default_factory=dict)


BEST_UNSUPERVISED = "self_training"  # the few labels go on top of it: best on the pool (85% vs 78.5%)


def train_source_only(task: AdaptationTask, seed: int, settings: AdaptSettings) -> SmallCNN:
    """A SmallCNN trained from scratch on the labelled source images only."""
    seed_everything(seed)
    model = SmallCNN(num_classes=task.num_classes)
    fit_for_steps(model, task.source, settings.source_steps, settings.batch_size, settings.lr, seed=seed)
    return model


def train_oracle(task: AdaptationTask, seed: int, settings: AdaptSettings) -> SmallCNN:
    """The ceiling: the same network and steps, trained on every labelled target pool image."""
    seed_everything(seed)
    model = SmallCNN(num_classes=task.num_classes)
    fit_for_steps(model, task.pool, settings.source_steps, settings.batch_size, settings.lr, seed=seed)
    return model


def _row(task, strategy: str, per_class: int, seed: int, model: nn.Module, start: float,
         trainable: int | None = None) -> dict:
    """One table row in :func:`tlcourse.experiments.run_one`'s format; seconds since ``start``."""
    accuracy = evaluate(model, task.test)["accuracy"]
    return {"task": task.name, "strategy": strategy, "labels_per_class": per_class,
            "labels": per_class * task.num_classes, "seed": seed, "accuracy": accuracy,
            "seconds": time.perf_counter() - start,
            "trainable_parameters": count_parameters(model) if trainable is None else trainable}


def _unsupervised_runs(task, seed: int, settings: AdaptSettings):
    """Source only, AdaBN, DANN and self-training for one seed: (rows, models, self-training rounds).

    Each row's seconds are the method's own; those starting from the source-only network do
    not count its training (the source_only row does).
    """
    start = time.perf_counter()
    source = train_source_only(task, seed, settings)
    rows, models = [_row(task, "source_only", 0, seed, source, start)], {"source_only": source}
    rows[0]["source_accuracy"] = evaluate(source, task.source_val)["accuracy"]  # the gap's other end
    start = time.perf_counter()
    models["adabn"] = adabn(copy.deepcopy(source), task.pool.images)
    rows.append(_row(task, "adabn", 0, seed, models["adabn"], start, trainable=0))
    start = time.perf_counter()
    models["dann"] = copy.deepcopy(source)
    train_dann(models["dann"], task.source, task.pool.images, settings.dann_steps,
               settings.dann_batch_size, settings.dann_lr, seed=seed)
    rows.append(_row(task, "dann", 0, seed, models["dann"], start))
    start = time.perf_counter()
    models["self_training"] = adabn(copy.deepcopy(source), task.pool.images)
    rounds = self_train(models["self_training"], task.source, task.pool.images, settings.rounds,
                        settings.threshold, settings.round_steps, settings.batch_size,
                        settings.round_lr, seed, target_labels=task.pool.labels, test=task.test)
    rows.append(_row(task, "self_training", 0, seed, models["self_training"], start))
    return rows, models, rounds.assign(seed=seed)


def _few_shot_runs(task, adapted: nn.Module, seed: int, labels_per_class, settings: AdaptSettings):
    """For each budget: the adapted network fine-tuned on the labelled target images, and the
    letters task's scratch and full fine-tuning on the same images, with the same steps."""
    baseline = Settings(steps=settings.few_shot_steps)
    rows = []
    for per_class in labels_per_class:
        start = time.perf_counter()
        model = copy.deepcopy(adapted)
        labelled = task.pool.subset(few_shot_indices(task.pool, per_class, seed=seed))
        fit_for_steps(model, labelled, settings.few_shot_steps, baseline.batch_size,
                      settings.few_shot_lr, seed=seed)
        rows.append(_row(task, f"{BEST_UNSUPERVISED}+labels", per_class, seed, model, start))
        rows += [run_one(task.letters, s, per_class, seed, baseline) | {"task": task.name}
                 for s in ("scratch", "finetune_all")]
    return rows


def _distances(task, models: dict, seed: int) -> list[dict]:
    """Proxy A-distance of held-out source vs target test features, per representation."""
    pairs = {"source_only": ("source_only", "source_only"), "adabn": ("source_only", "adabn"),
             "dann": ("dann", "dann"), "self_training": ("self_training", "self_training")}
    rows = []
    for name, (on_source, on_target) in pairs.items():
        features = domain_features(models[on_source], models[on_target], task.source_val.images,
                                   task.test.images)
        rows.append({"representation": name, "seed": seed,
                     "proxy_a_distance": proxy_a_distance(*features, seed=seed)})
    return rows


def run_adaptation(task: AdaptationTask, seeds, settings: AdaptSettings | None = None,
                   labels_per_class=(1, 5, 10), progress: bool = True) -> AdaptationResults:
    """Every method of notebook 05 for each seed, scored on the target test set.

    Strategies (``labels_per_class`` 0 means no target label): ``source_only``, ``adabn``,
    ``dann``, ``self_training`` (on top of AdaBN); for each budget ``self_training+labels``
    and the letters task's ``scratch`` and ``finetune_all``; ``oracle`` with every pool label.
    """
    settings = settings or AdaptSettings()
    runs, rounds, distances, first_models = [], [], [], {}
    for seed in tqdm(list(seeds), desc=task.name, disable=not progress, leave=False):
        rows, models, seed_rounds = _unsupervised_runs(task, seed, settings)
        first_models = first_models or models
        rows += _few_shot_runs(task, models[BEST_UNSUPERVISED], seed, labels_per_class, settings)
        start = time.perf_counter()
        oracle = train_oracle(task, seed, settings)
        per_class = int(task.pool.labels.bincount().min())
        runs += rows + [_row(task, "oracle", per_class, seed, oracle, start)]
        rounds.append(seed_rounds)
        distances += _distances(task, models, seed)
    return AdaptationResults(pd.DataFrame(runs), pd.concat(rounds, ignore_index=True),
                             pd.DataFrame(distances), first_models)
