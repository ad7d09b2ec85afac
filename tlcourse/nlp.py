"""Transfer learning for text: a pretrained language model against from-scratch baselines.

A :class:`TextTask` is a sentiment target (real tweets offline; SST-2 or IMDB online): a pool
of labelled texts to draw label budgets from, a fixed test set, and the pretrained encoder to
adapt (``text_model`` name: ``minilm`` offline, ``distilbert-base-uncased``, ``roberta-base``,
``gpt2``... online). It follows the same protocol as the image tasks, so
:func:`tlcourse.experiments.compare` runs it, budgets in labels per class, and ``summarize``,
``gain``, ``describe`` and ``plots.data_efficiency`` work on the table unchanged;
:func:`text_settings` sizes the runs for text.

Strategies (budgets are balanced: the same number of labels for each class):

- ``tfidf_logreg``: bag of words and word pairs, TF-IDF weighted, logistic regression
  (scikit-learn): the classic from-scratch text baseline;
- ``scratch``: a small transformer, randomly initialised, trained on the same labels;
- ``linear_probe``: the pretrained encoder frozen, every text embedded once (cached on disk),
  logistic regression on the embeddings (:func:`tlcourse.train.fit_linear_probe`);
- ``finetune_all``: the pretrained encoder with a new head, every layer trained;
- ``finetune_last_k``: only the last ``k`` named blocks trained, the head counted as one
  (``k=3``: the top two transformer layers and the head), the embeddings and lower layers
  frozen with :mod:`tlcourse.freeze`.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import torch

from .config import Profile, cache_dir, get_profile
from .data import TextDataset, few_shot_subset, load, stratified_split
from .experiments import Settings
from .models.text import (TextClassifier, TextEncoder, scratch_text_classifier, text_classifier,
                          text_model)
from .train import save_atomic

STRATEGIES = ("tfidf_logreg", "scratch", "linear_probe", "finetune_all", "finetune_last_k")
MAX_LENGTH = 64  # tokens kept per text; about 99% of the tweets have at most 48
_TEST_SPLITS = {"sst2": "validation", "imdb": "test"}  # labelled held-out split of online sets
# The linear probe's inverse L2 strength on MiniLM embeddings. Chosen once by 5-fold
# cross-validation on labelled pool tweets (never the test set), from 0.01-10: on 384
# standardised dimensions C=1 overfits near 1,000 labels.
PROBE_C = 0.01


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
    # Inverse L2 strength of the TF-IDF baseline's logistic regression. Chosen once by 5-fold
    # cross-validation on labelled pool tweets (never the test set), from 0.01-10: TF-IDF rows
    # have length 1, so useful weights are large.
    tfidf_C: float = 10.0
    transform = None  # token ids go to the model as they are
    _cache: dict = field(default_factory=dict, init=False, repr=False)  # token ids and embeddings, once

    @property
    def extra_strategies(self) -> dict:
        """The text-only baseline that :func:`tlcourse.experiments.run_one` also runs."""
        return {"tfidf_logreg": _tfidf_logreg}

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

    def features(self, pretrained: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The task protocol's frozen features: the pretrained encoder's embeddings."""
        if not pretrained:
            raise ValueError("random_probe is for image tasks: a randomly initialised language model "
                             "embeds every text almost alike. Compare with 'tfidf_logreg' or 'scratch'.")
        return self.embeddings()

    def train_data(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and labels of the pool texts ``indices``, as :func:`tlcourse.train.fit` takes them."""
        return self.token_ids("pool")[indices], self.pool.labels[indices]

    def test_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.token_ids("test"), self.test.labels

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
    save_atomic(vectors, path)  # an interrupted run leaves no half-written file to read later
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


def text_settings(profile: Profile | None = None, **overrides) -> Settings:
    """:class:`tlcourse.experiments.Settings` for text runs, sized by a profile, any field
    overridden. Steps are the same for every budget (whole epochs, at least that many steps)."""
    profile = profile or get_profile()
    text = dict(
        steps=profile.text_finetune_steps,  # MiniLM fine-tuning: about 0.7 s a step on 2 CPU cores
        scratch_steps=profile.text_scratch_steps,  # the small scratch transformer is cheap and needs many
        batch_size=16,  # texts per fine-tuning step
        scratch_batch_size=64,  # a step of the small network costs about the same for 16 or 64
        lr_finetune=1e-3,  # the head's rate; lower layers get less (decay)
        decay=0.5,  # each block below the head learns at half the rate of the one above
        lr_scratch=1e-3,  # one rate for every layer of a fresh network
        k=3,  # finetune_last_k: the top two transformer layers and the head
        C=PROBE_C,
    )
    return Settings(**(text | overrides))


def tfidf_classifier(C: float = 10.0):
    """An unfitted scikit-learn pipeline: TF-IDF of words and word pairs, then logistic
    regression. ``fit(texts, labels)``, then ``predict(texts)``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                         LogisticRegression(C=C, max_iter=1000))


def _tfidf_logreg(task: TextTask, indices: torch.Tensor, settings: Settings) -> tuple[float, int]:
    """The ``tfidf_logreg`` strategy: fit on the pool texts ``indices``, score on the test set."""
    classifier = tfidf_classifier(task.tfidf_C)
    classifier.fit([task.pool.texts[i] for i in indices], task.pool.labels[indices].numpy())
    accuracy = float((classifier.predict(task.test.texts) == task.test.labels.numpy()).mean())
    logreg = classifier[-1]
    return accuracy, logreg.coef_.size + logreg.intercept_.size
