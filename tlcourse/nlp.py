"""Transfer learning for text: a pretrained language model against from-scratch baselines.

A :class:`TextTask` is a sentiment target (real tweets offline; SST-2 or IMDB online): a pool
of labelled texts to draw label budgets from, a fixed test set, and the pretrained encoder to
adapt (``text_model`` name: ``minilm`` offline, ``distilbert-base-uncased``, ``roberta-base``,
``gpt2``... online). :func:`compare_text` runs each strategy for each budget and seed and
returns the same tidy table as :func:`tlcourse.experiments.compare`, so ``summarize``,
``gain``, ``describe`` and ``plots.data_efficiency`` work on it unchanged.

Strategies (budgets are balanced: half the labels negative, half positive):

- ``tfidf_logreg``: bag of words and word pairs, TF-IDF weighted, logistic regression
  (scikit-learn): the classic from-scratch text baseline;
- ``scratch``: a small transformer, randomly initialised, trained on the same labels;
- ``linear_probe``: the pretrained encoder frozen, every text embedded once (cached on disk),
  logistic regression on the embeddings (:func:`tlcourse.train.fit_linear_probe`);
- ``finetune_all``: the pretrained encoder with a new head, every layer trained;
- ``finetune_top_k``: only the top ``k`` transformer layers and the head trained, the
  embeddings and lower layers frozen with :mod:`tlcourse.freeze`.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from .config import Profile, cache_dir, get_profile, seed_everything
from .data import TextDataset, few_shot_indices, few_shot_subset, load, stratified_split
from .data.core import DataArgumentError
from .experiments import compare, fit_for_steps
from .freeze import count_parameters, last_blocks, set_trainable, unfreeze
from .models.text import (TextClassifier, TextEncoder, scratch_text_classifier, text_classifier,
                          text_model)
from .train import evaluate, fit_linear_probe

STRATEGIES = ("tfidf_logreg", "scratch", "linear_probe", "finetune_all", "finetune_top_k")
MAX_LENGTH = 64  # tokens kept per text; about 99% of the tweets have at most 48
_TEST_SPLITS = {"sst2": "validation", "imdb": "test"}  # labelled held-out split of online sets


@dataclass
class TextTask:
    """A text classification target: pool, test set and the pretrained encoder to adapt.

    ``test`` is stored shortest text first, so evaluation batches hold texts of similar
    length and need little padding (the order does not change accuracy).
    """

    name: str
    pool: TextDataset  # labelled texts that budgets are drawn from
    test: TextDataset  # held out for every run
    encoder: TextEncoder  # the pretrained model; fine-tuning runs train copies of it
    max_length: int = MAX_LENGTH
    _cache: dict = field(default_factory=dict, repr=False)  # token ids and embeddings, once

    @property
    def num_classes(self) -> int:
        return len(self.pool.classes)

    def token_ids(self, part: str) -> torch.Tensor:
        """Token ids (N, T) of the ``"pool"`` or ``"test"`` texts, padded on the right to the
        longest (at most ``max_length``); computed once."""
        if part not in self._cache:
            texts = getattr(self, part).texts
            self._cache[part] = self.encoder.tokenize(texts, self.max_length)["input_ids"]
        return self._cache[part]

    def embeddings(self, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen-encoder embeddings (N, D) of the pool and of the test set: computed once,
        cached on disk (see :func:`cached_embeddings`) and kept in memory."""
        if "embeddings" not in self._cache:
            self._cache["embeddings"] = tuple(
                cached_embeddings(self.encoder, getattr(self, part).texts, self.max_length,
                                  progress=progress) for part in ("pool", "test"))
        return self._cache["embeddings"]

    def make_model(self, pretrained: bool = True) -> TextClassifier:
        """A fresh classifier: the pretrained encoder (copied) with a new head, or, with
        ``pretrained=False``, the small randomly initialised transformer of ``scratch``."""
        if pretrained:
            return text_classifier(self.encoder, self.num_classes)
        return scratch_text_classifier(self.encoder.tokenizer, self.num_classes, self.max_length)


def text_task(dataset: str = "tweets", model: str = "minilm", profile: Profile | None = None,
              max_length: int = MAX_LENGTH) -> TextTask:
    """A balanced pool and a balanced test set from ``dataset``, and the encoder ``model``.

    ``tweets`` (offline): 20% of every class is held out; from it a test set of
    ``profile.max_eval`` tweets, and from the rest a pool so that both together hold
    ``profile.text_samples`` tweets (or as many positives as there are). ``sst2`` and ``imdb``
    (online) take the test set from their labelled held-out split. Offline, online names
    raise an OfflineError that says what to use instead.
    """
    profile = profile or get_profile()
    if dataset in _TEST_SPLITS:
        pool, test = load(dataset, split="train"), load(dataset, split=_TEST_SPLITS[dataset])
    else:
        pool, test = stratified_split(load(dataset), test_fraction=0.2, seed=0)
    k = len(pool.classes)
    test_per_class = min(profile.max_eval // k, int(test.labels.bincount().min()))
    pool_per_class = min(profile.text_samples // k - test_per_class, int(pool.labels.bincount().min()))
    test = few_shot_subset(test, test_per_class, seed=0)
    test = test.subset(sorted(range(len(test)), key=lambda i: len(test.texts[i])))
    return TextTask(f"{model}->{dataset}", few_shot_subset(pool, pool_per_class, seed=0), test,
                    text_model(model), max_length)


def cached_embeddings(encoder: TextEncoder, texts: list[str], max_length: int = MAX_LENGTH,
                      batch_size: int = 64, progress: bool = False) -> torch.Tensor:
    """``encoder.encode(texts)`` (N, D), normalised, computed once and then read from disk.

    The file under ``cache_dir()/"embeddings"`` is named by a hash of the model, the
    length limit and every text, so a changed text set never reads stale vectors.
    """
    key = hashlib.sha1(f"{encoder.name}\n{max_length}\n".encode())
    for text in texts:
        key.update(text.encode() + b"\n")
    path = cache_dir() / "embeddings" / f"{key.hexdigest()[:20]}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    vectors = encoder.encode(texts, batch_size=batch_size, max_length=max_length, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(vectors, path)
    return vectors


def embedding_speed(encoder: TextEncoder, texts: list[str], max_length: int = MAX_LENGTH,
                    batch_size: int = 64) -> dict:
    """Sentences per second of ``encoder.encode`` on ``texts``, with dynamic padding (length-
    sorted batches) and with every batch padded to ``max_length``; a warm-up batch first."""
    encoder.encode(texts[:batch_size], batch_size=batch_size, max_length=max_length)
    speed = {}
    for name, dynamic in (("dynamic_padding", True), ("padded_to_max_length", False)):
        start = time.perf_counter()
        encoder.encode(texts, batch_size=batch_size, max_length=max_length, dynamic_padding=dynamic)
        speed[name] = len(texts) / (time.perf_counter() - start)
    return speed


@dataclass(frozen=True)
class TextSettings:
    """How each text run trains. Steps are the same for every budget (whole epochs, at least
    that many steps), so a 50-label run and a 1,000-label run get the same compute."""

    finetune_steps: int = 24  # steps per MiniLM fine-tuning run: about 0.7 s each on 2 CPU cores
    scratch_steps: int = 100  # steps of the small scratch transformer: cheap, and it needs many
    batch_size: int = 16  # texts per fine-tuning step
    scratch_batch_size: int = 64  # a step of the small network costs about the same for 16 or 64
    lr_finetune: float = 1e-3  # the head's rate; lower layers get less (decay)
    decay: float = 0.5  # each block below the head learns at half the rate of the one above
    lr_scratch: float = 1e-3  # one rate for every layer of a fresh network
    top_k: int = 2  # transformer layers trained by finetune_top_k (plus the head)
    # Inverse L2 strengths of the two logistic regressions, as in scikit-learn. Chosen once by
    # 5-fold cross-validation on labelled pool tweets (never the test set), from 0.01-10:
    C: float = 0.01  # the probe, on 384 standardised dimensions: C=1 overfits near 1,000 labels
    tfidf_C: float = 10.0  # TF-IDF rows have length 1, so useful weights are large

    @classmethod
    def for_profile(cls, profile: Profile, **overrides) -> "TextSettings":
        """Settings sized by a profile (fine-tuning and scratch steps), with any field overridden."""
        sized = {"finetune_steps": profile.text_finetune_steps,
                 "scratch_steps": profile.text_scratch_steps}
        return cls(**(sized | overrides))


def tfidf_classifier(C: float = 10.0):
    """An unfitted scikit-learn pipeline: TF-IDF of words and word pairs, then logistic
    regression. ``fit(texts, labels)``, then ``predict(texts)``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                         LogisticRegression(C=C, max_iter=1000))


def top_layers(model: nn.Module, k: int) -> list[str]:
    """Names of the top ``k`` transformer layers and the head: ``top_layers(m, 2)`` is
    ``["layer4", "layer5", "head"]`` for 6-layer MiniLM."""
    return last_blocks(model, k + 1)


def _tfidf_logreg(task: TextTask, indices: torch.Tensor, settings: TextSettings):
    classifier = tfidf_classifier(settings.tfidf_C)
    classifier.fit([task.pool.texts[i] for i in indices], task.pool.labels[indices].numpy())
    accuracy = float((classifier.predict(task.test.texts) == task.test.labels.numpy()).mean())
    logreg = classifier[-1]
    return accuracy, logreg.coef_.size + logreg.intercept_.size


def _linear_probe(task: TextTask, indices: torch.Tensor, settings: TextSettings):
    pool_x, test_x = task.embeddings()
    probe = fit_linear_probe(pool_x[indices], task.pool.labels[indices], task.num_classes, C=settings.C)
    with torch.no_grad():
        accuracy = (probe(test_x).argmax(1) == task.test.labels).float().mean().item()
    return accuracy, probe.linear.weight.numel() + probe.linear.bias.numel()


def _train_network(task: TextTask, indices: torch.Tensor, seed: int, settings: TextSettings,
                   strategy: str):
    """scratch, finetune_all or finetune_top_k: build, freeze, train, test."""
    seed_everything(seed)  # the new head (and the scratch network) start from seeded weights
    model = unfreeze(task.make_model(pretrained=strategy != "scratch"))
    if strategy == "finetune_top_k":
        set_trainable(model, top_layers(model, settings.top_k))
    scratch = strategy == "scratch"  # a fresh network has nothing to protect: one rate for all
    steps = settings.scratch_steps if scratch else settings.finetune_steps
    batch = settings.scratch_batch_size if scratch else settings.batch_size
    lr, decay = (settings.lr_scratch, 1.0) if scratch else (settings.lr_finetune, settings.decay)
    train = (task.token_ids("pool")[indices], task.pool.labels[indices])
    fit_for_steps(model, train, steps, batch, lr, decay, seed=seed)
    accuracy = evaluate(model, (task.token_ids("test"), task.test.labels))["accuracy"]
    return accuracy, count_parameters(model, trainable_only=True)


def per_class_budget(labels: int, num_classes: int) -> int:
    """Labels per class of a balanced budget of ``labels`` in all (a multiple of the classes)."""
    whole = isinstance(labels, int) and not isinstance(labels, bool)
    if not whole or labels < num_classes or labels % num_classes:
        raise DataArgumentError(f"A label budget is the total number of labelled texts, split evenly "
                                f"over the {num_classes} classes: use a multiple of {num_classes} "
                                f"such as {50 * num_classes}; got {labels!r}.")
    return labels // num_classes


def run_text(task: TextTask, strategy: str, labels: int, seed: int, settings: TextSettings) -> dict:
    """One run: draw ``labels`` balanced labels with ``seed``, adapt, test. One table row."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; choose from {STRATEGIES}.")
    per_class = per_class_budget(labels, task.num_classes)
    indices = few_shot_indices(task.pool, per_class, seed=seed)
    start = time.perf_counter()
    if strategy == "tfidf_logreg":
        accuracy, trainable = _tfidf_logreg(task, indices, settings)
    elif strategy == "linear_probe":
        accuracy, trainable = _linear_probe(task, indices, settings)
    else:
        accuracy, trainable = _train_network(task, indices, seed, settings, strategy)
    return {"task": task.name, "strategy": strategy, "labels_per_class": per_class, "labels": labels,
            "seed": seed, "accuracy": accuracy, "seconds": time.perf_counter() - start,
            "trainable_parameters": trainable}


def compare_text(task: TextTask, strategies, budgets, seeds, settings: TextSettings | None = None,
                 progress: bool = True) -> pd.DataFrame:
    """Every strategy x budget (labels in all) x seed; one row per run, as in
    :func:`tlcourse.experiments.compare` plus a ``labels`` column (the total).

    ``seconds`` is each run's own wall time: for ``linear_probe`` the one-off embedding of the
    pool and test set (:meth:`TextTask.embeddings`) is not in it.
    """
    return compare(task, strategies, budgets, seeds, settings or TextSettings(), progress, run=run_text)
