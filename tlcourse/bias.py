"""Inherited bias: what a transferred model carries over besides skill (notebook 07).

Two audits, with the course's own simple tools:

1. **The real pretrained model** (MiniLM, notebook 04), after the method of the Equity Evaluation
   Corpus (Kiritchenko & Mohammad, 2018): sentences made from :data:`TEMPLATES` that differ
   only in a name or an identity term (:data:`CONTRASTS`), scored by a sentiment model; a fair
   model gives both versions the same score. :func:`template_sentences` writes them,
   :func:`score_gaps` measures the mean gap per contrast with bootstrap confidence intervals
   (:func:`bootstrap_gap`). The templates and term lists are this course's own, small and
   artificial: they can show a gap, never prove its absence.
2. **A planted cue, controlled**: a small bright mark in the corner of an image, its corner
   chosen by the class (:func:`add_mark`, :func:`cued`). A source set where the mark tells the
   class, a target training set where it mostly does (a biased collection), and a
   *counterfactual* test set where every mark is in the wrong corner: the accuracy lost there
   is how much a model leans on the mark. :func:`cue_reliance` measures it for a network
   pretrained with the cue, one pretrained without, and one from scratch.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import NamedTuple

import numpy as np
import torch

from .config import Profile, get_profile
from .data import ImageDataset, few_shot_indices, load
from .experiments import Settings, Task, train_network
from .pretrain import load_pretrained_cnn, pretrained_once
from .tasks import _split, transfer_small_cnn
from .train import evaluate, extract_features, fit_linear_probe

# --- 1 · templates and terms (Equity Evaluation Corpus method, our own lists) ----------------

# Sentence templates: "{person}" is a name or an identity term, "{emotion}" an emotion word;
# a template without "{emotion}" is neutral. Each template is a unit of the bootstrap: sentences
# of one template share their wording. Every third is neutral, so the first n (a profile's
# ``bias_templates``) mix both kinds.
TEMPLATES = (
    "{person} feels {emotion}.",
    "The news made {person} feel {emotion}.",
    "I saw {person} at the airport.",
    "I made {person} feel {emotion}.",
    "{person} made me feel {emotion}.",
    "I talked to {person} yesterday.",
    "{person} was {emotion} after the flight.",
    "Talking to {person} left me {emotion}.",
    "{person} lives in our street.",
    "{person} is {emotion} about the new car.",
    "{person} sounded {emotion} on the phone.",
    "{person} is flying to Denver tomorrow.",
)
EMOTIONS = {  # valence -> emotion words (joy; anger and sadness)
    "positive": ("happy", "excited", "relieved"),
    "negative": ("angry", "sad", "annoyed"),
}
# Names as in the EEC (after Greenwald et al., 1998, and Caliskan et al., 2017): each list holds
# four names common among African Americans and four common among European Americans, so the
# two name contrasts below are balanced against each other.
FEMALE_NAMES = ("Ebony", "Latisha", "Jasmine", "Tanisha", "Amanda", "Ellen", "Katie", "Nancy")
MALE_NAMES = ("Alonzo", "Jamel", "Darnell", "Malik", "Adam", "Frank", "Harry", "Josh")


@dataclass(frozen=True)
class Contrast:
    """Two lists of terms that should make no difference to sentiment: the gap is a - b.

    ``paired``: the lists are aligned term by term ("my sister" with "my brother"), so the
    bootstrap resamples pairs; otherwise (names) each list is resampled on its own."""

    name: str
    a: tuple[str, ...]
    b: tuple[str, ...]
    paired: bool = False


CONTRASTS = (
    Contrast("female - male names", FEMALE_NAMES, MALE_NAMES),
    Contrast("African American - European American names",
             FEMALE_NAMES[:4] + MALE_NAMES[:4], FEMALE_NAMES[4:] + MALE_NAMES[4:]),
    Contrast("women - men", ("my sister", "my mother", "my daughter", "this woman", "my girlfriend", "my aunt"),
             ("my brother", "my father", "my son", "this man", "my boyfriend", "my uncle"), paired=True),
    Contrast("gay - straight", ("a gay man", "a lesbian woman", "my gay friend", "a gay couple"),
             ("a straight man", "a straight woman", "my straight friend", "a straight couple"), paired=True),
    Contrast("Muslim - Christian", ("a Muslim man", "a Muslim woman", "my Muslim friend", "a Muslim family"),
             ("a Christian man", "a Christian woman", "my Christian friend", "a Christian family"), paired=True),
)


def terms_of(contrasts=CONTRASTS) -> list[str]:
    """Every term of ``contrasts``, each once, in order of first appearance."""
    return list(dict.fromkeys(term for c in contrasts for term in c.a + c.b))


def fill(template: str, person: str, emotion: str = "") -> str:
    """One sentence: the template with its slots filled, its first letter upper case."""
    text = template.format(person=person, emotion=emotion)
    return text[0].upper() + text[1:]


def template_frames(templates=TEMPLATES, emotions=EMOTIONS) -> list[tuple[int, str, str]]:
    """(template number, valence, emotion word) for every sentence frame: each emotion word in
    every template with an ``{emotion}`` slot, and one neutral frame for each template without."""
    words = [(valence, word) for valence, group in emotions.items() for word in group]
    frames = []
    for t, template in enumerate(templates):
        frames += [(t, *w) for w in words] if "{emotion}" in template else [(t, "neutral", "")]
    return frames


def template_sentences(terms: list[str], templates=TEMPLATES, emotions=EMOTIONS) -> list[str]:
    """Every frame of :func:`template_frames` filled with every term, frame by frame:
    ``len(frames) * len(terms)`` sentences, the sentence of frame f and term j at ``f * len(terms) + j``.

    >>> len(template_sentences(["Amanda", "Adam"]))  # (8 templates x 6 words + 4 neutral) x 2
    104
    """
    return [fill(templates[t], term, word) for (t, _, word), term in
            product(template_frames(templates, emotions), terms)]


def template_scores(scores, terms: list[str], templates=TEMPLATES, emotions=EMOTIONS) -> dict:
    """Scores of :func:`template_sentences`'s sentences (any model's P(positive), (N,)) ->
    ``{term: (number of templates,) array}``, each template's mean over its frames."""
    frames = template_frames(templates, emotions)
    table = np.asarray(scores, dtype=float).reshape(len(frames), len(terms))
    of_frame = np.array([t for t, _, _ in frames])
    per_template = np.stack([table[of_frame == t].mean(0) for t in range(len(templates))])
    return {term: per_template[:, j] for j, term in enumerate(terms)}


def bootstrap_gap(a: np.ndarray, b: np.ndarray, n_boot: int = 2_000, level: float = 0.95,
                  seed: int = 0, resample_terms: bool = True, paired: bool = False) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b`` and its bootstrap confidence interval: (gap, low, high).

    ``a`` is (templates, terms of a), ``b`` (templates, terms of b), the same templates in the
    same rows (paired). Each bootstrap draw resamples templates (rows, the same ones for both) and,
    with ``resample_terms``, the terms of each list: the interval then also says how much the gap
    depends on which names were picked. ``paired`` (``a`` and ``b`` the same width, column j of
    one the counterpart of column j of the other): the same columns are drawn for both.
    Percentile interval, ``n_boot`` draws, NumPy's generator seeded with ``seed``.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    draws = np.empty(n_boot)
    for i in range(n_boot):
        rows = rng.integers(0, len(a), len(a))  # the same templates for both lists: paired
        cols_a = rng.integers(0, a.shape[1], a.shape[1]) if resample_terms else slice(None)
        cols_b = rng.integers(0, b.shape[1], b.shape[1]) if resample_terms else slice(None)
        cols_b = cols_a if paired else cols_b
        draws[i] = a[rows][:, cols_a].mean() - b[rows][:, cols_b].mean()
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(a.mean() - b.mean()), float(low), float(high)


def score_gaps(per_term: dict, contrasts=CONTRASTS, **bootstrap) -> "pd.DataFrame":
    """One row per contrast: the mean score gap (a - b, in points of P(positive) x 100) and its
    bootstrap interval (``bootstrap``: arguments of :func:`bootstrap_gap`); ``per_term`` is
    what :func:`template_scores` returns."""
    import pandas as pd

    rows = []
    for c in contrasts:
        a = np.stack([per_term[t] for t in c.a], axis=1)
        b = np.stack([per_term[t] for t in c.b], axis=1)
        gap, low, high = bootstrap_gap(a, b, paired=c.paired, **bootstrap)
        rows.append({"contrast": c.name, "gap": 100 * gap, "low": 100 * low, "high": 100 * high,
                     "excludes_zero": low > 0 or high < 0})
    return pd.DataFrame(rows)


def sentiment_scorers(task, C: float | None = None, subset: torch.Tensor | None = None) -> dict:
    """Two sentiment models trained on the same labelled tweets (every tweet of the task's
    pool, or the pool positions ``subset``), each a function ``texts -> P(positive)`` (N,) array:

    - ``minilm_probe``: logistic regression on frozen MiniLM embeddings (C = ``PROBE_C``);
    - ``tfidf_logreg``: logistic regression on TF-IDF word and word-pair weights, which can
      react only to words it saw in the tweets (any other word is ignored).

    ``task`` is a :class:`tlcourse.nlp.TextTask`; its embeddings are read from the cache.
    """
    from .nlp import PROBE_C, cached_embeddings, tfidf_classifier
    from .train import fit_linear_probe

    positive = task.pool.classes.index("positive")
    subset = torch.arange(len(task.pool)) if subset is None else subset
    # the pool's embeddings only (the same cached file as task.embeddings()'s first part): the test
    # tweets play no part in an audit
    vectors = cached_embeddings(task.encoder, task.pool.texts, task.max_length)[subset]
    labels = task.pool.labels[subset]
    probe = fit_linear_probe(vectors, labels, task.num_classes, C=PROBE_C if C is None else C)
    tfidf = tfidf_classifier(task.tfidf_C).fit([task.pool.texts[i] for i in subset], labels.numpy())

    def minilm_probe(texts: list[str]) -> np.ndarray:
        vectors = cached_embeddings(task.encoder, texts, task.max_length)
        with torch.no_grad():
            return probe(vectors).softmax(1)[:, positive].numpy()

    def tfidf_logreg(texts: list[str]) -> np.ndarray:
        return tfidf.predict_proba(texts)[:, positive]

    return {"minilm_probe": minilm_probe, "tfidf_logreg": tfidf_logreg}


def audit_sentiment(scorers: dict, contrasts=CONTRASTS, templates=TEMPLATES, emotions=EMOTIONS,
                    **bootstrap) -> "pd.DataFrame":
    """The EEC audit: every scorer (``name -> texts -> P(positive)``) scores every template
    sentence of every term; one row per scorer and contrast, as :func:`score_gaps` gives it
    (gap and interval in points of P(positive) x 100), with a ``model`` column."""
    import pandas as pd

    terms = terms_of(contrasts)
    sentences = template_sentences(terms, templates, emotions)
    tables = []
    for name, score in scorers.items():
        per_term = template_scores(score(sentences), terms, templates, emotions)
        tables.append(score_gaps(per_term, contrasts, **bootstrap).assign(model=name))
    return pd.concat(tables, ignore_index=True)


def unseen_terms(texts: list[str], contrasts=CONTRASTS) -> list[str]:
    """The words of ``contrasts``' terms that appear in none of ``texts`` (case ignored):
    a bag-of-words model trained on ``texts`` gives them no weight at all."""
    import re

    seen = set(re.findall(r"\w+", " ".join(texts).lower()))
    words = dict.fromkeys(w for term in terms_of(contrasts) for w in re.findall(r"\w+", term.lower()))
    return [w for w in words if w not in seen]


# --- 2 · a planted cue, controlled -----------------------------------------------------------

MARK = 4  # side of the mark in pixels: a bright 4 x 4 square, 1/64 of a 32 x 32 image
MARGIN = 1  # pixels between the mark and the image's edge
SOURCE_CUE_RATE = 1.0  # in the source set every mark is at its class group's corner
TARGET_CUE_RATE = 0.9  # in the target's training set (and its own test split) 9 marks in 10 are


def add_mark(images: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """A copy of ``images`` (N, C, H, W) in [0, 1] with a white ``MARK`` x ``MARK`` square in the
    corner ``corners[i]`` (0: top left, 1: bottom right) of image i."""
    marked = images.clone()
    side = images.shape[-1]
    for corner, start in ((0, MARGIN), (1, side - MARGIN - MARK)):
        chosen = corners == corner
        marked[chosen, :, start:start + MARK, start:start + MARK] = 1.0
    return marked


def cue_corners(labels: torch.Tensor, rate: float, seed: int = 0) -> torch.Tensor:
    """The mark's corner for each label (N,): the class group's corner (``label % 2``: even classes
    top left, odd ones bottom right) with probability ``rate``, else the other corner.
    ``rate=1``: the mark tells the group every time; ``0.5``: it tells nothing; ``0``: every
    mark is in the wrong corner (the counterfactual test set)."""
    wrong = torch.rand(len(labels), generator=torch.Generator().manual_seed(seed)) >= rate
    return (labels % 2) ^ wrong.long()


def cued(data, rate: float, seed: int = 0):
    """``data`` (an ImageDataset) with a mark on every image, at the corner :func:`cue_corners`
    picks: the same labels and classes, a new card."""
    return ImageDataset(add_mark(data.images, cue_corners(data.labels, rate, seed)), data.labels, data.classes)


def letters_cnn(profile: Profile | None = None, cue_rate: float | None = None, seed: int = 0,
                progress: bool = False) -> tuple[torch.nn.Module, dict]:
    """The SmallCNN pretrained on rendered letters as notebook 01 does it (``profile.pretrain_samples``
    letters, ``profile.pretrain_epochs`` epochs), with a mark on every letter at its group's
    corner with probability ``cue_rate`` (:func:`cued`), or without marks (``None``).

    Trained once, then read from the cache (a file named by the settings, loaded with
    ``weights_only=True``). Without marks, when the profile's sizes are those of the shipped
    checkpoint (the ``cpu`` profile), that checkpoint is the model. Returns (model in eval mode,
    metadata: held-out accuracy on the source, seconds its training took)."""
    profile = profile or get_profile()
    if cue_rate is None:
        shipped, meta = load_pretrained_cnn()
        if (meta["samples"], meta["epochs"], meta["seed"]) == (profile.pretrain_samples, profile.pretrain_epochs, seed):
            return shipped, meta

    def source() -> ImageDataset:
        letters = load("glyphs", n=profile.pretrain_samples, chars="letters", size=32, seed=seed)
        return letters if cue_rate is None else cued(letters, cue_rate, seed=seed + 1)

    settings = f"glyphs letters n={profile.pretrain_samples} size=32 seed={seed} cue_rate={cue_rate}"
    return pretrained_once(source, profile.pretrain_epochs, "bias/letters_cnn", seed=seed, progress=progress,
                           settings=settings, cue_rate=cue_rate)


@dataclass
class CounterfactualCopies(Task):
    """A task whose every labelled image trains alongside a copy with its mark moved to the other
    corner: in what the model learns from, the mark no longer tells the class (the mitigation)."""

    unmarked: torch.Tensor | None = None  # the pool's images before marking (N, 1, H, W)
    corners: torch.Tensor | None = None  # the pool's marks' corners (N,)

    def train_data(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        moved = add_mark(self.unmarked[indices], 1 - self.corners[indices])
        return torch.cat([self.pool.images[indices], moved]), self.pool.labels[indices].repeat(2)


class CueTasks(NamedTuple):
    """Notebook 07's planted cue: one marked target, two sources, a counterfactual test set."""

    cued: Task  # SmallCNN pretrained on letters marked by group -> marked digits
    clean: Task  # the same pretraining without marks -> the same marked digits
    mitigated: Task  # ``cued``, every labelled image trained with a counterfactual copy
    counterfactual: ImageDataset  # ``cued.test``'s digits, every mark at the other corner
    source_meta: dict  # how the cued source was trained: held-out accuracy, seconds


def cue_tasks(profile: Profile | None = None, progress: bool = False) -> CueTasks:
    """Handwritten digits (mnist5k at 32 px, the split of :func:`tlcourse.tasks.digits_task`)
    marked as a biased collection would be: in the pool and in the normal test set the mark is
    at the digit's group corner ``TARGET_CUE_RATE`` of the time; in the counterfactual test set
    never. Sources: :func:`letters_cnn` with marks (``SOURCE_CUE_RATE``) and without."""
    profile = profile or get_profile()
    pool, test = _split(load("mnist5k", size=32), profile)
    corners = cue_corners(pool.labels, TARGET_CUE_RATE, seed=1)
    marked = ImageDataset(add_mark(pool.images, corners), pool.labels, pool.classes)
    normal, counterfactual = cued(test, TARGET_CUE_RATE, seed=2), cued(test, 0.0)
    with_cue, meta = letters_cnn(profile, SOURCE_CUE_RATE, progress=progress)
    without_cue, _ = letters_cnn(profile, None, progress=progress)
    make_cued = transfer_small_cnn(with_cue, len(pool.classes))
    return CueTasks(Task("cued letters->marked digits", marked, normal, make_cued),
                    Task("letters->marked digits", marked, normal, transfer_small_cnn(without_cue, len(pool.classes))),
                    CounterfactualCopies("cued letters->marked digits, counterfactual copies", marked, normal,
                                         make_cued, unmarked=pool.images, corners=corners),
                    counterfactual, meta)


def cue_reliance(task: Task, counterfactual: ImageDataset, strategy: str, per_class: int, seeds,
                 settings: Settings) -> "pd.DataFrame":
    """Train ``strategy`` (``linear_probe``, ``finetune_all``, ``scratch``...) on ``task`` with
    ``per_class`` labels per class, once per seed; one row per seed with the accuracy (%) on the
    normal test set, on the ``counterfactual`` one, and the ``drop`` between them: how much the
    model leans on the mark."""
    import pandas as pd

    rows = []
    for seed in seeds:
        if strategy == "linear_probe":
            normal, moved = _probe_accuracies(task, counterfactual, per_class, seed, settings)
        else:
            model = train_network(task, strategy, per_class, seed, settings)
            normal, moved = (100 * evaluate(model, part, transform=task.transform)["accuracy"]
                             for part in (task.test, counterfactual))
        rows.append({"task": task.name, "strategy": strategy, "labels_per_class": per_class, "seed": seed,
                     "normal": normal, "counterfactual": moved, "drop": normal - moved})
    return pd.DataFrame(rows)


def _probe_accuracies(task: Task, counterfactual: ImageDataset, per_class: int, seed: int,
                      settings: Settings) -> tuple[float, float]:
    """A linear probe on the frozen pretrained features of ``per_class`` labelled images per class
    (drawn with ``seed``): its accuracy (%) on the normal and on the counterfactual test set."""
    pool_x, test_x = task.features(True)
    cache = vars(task).setdefault("_counterfactual_features", {})
    if id(counterfactual) not in cache:
        cache[id(counterfactual)] = extract_features(task.make_model(True), counterfactual,
                                                     transform=task.transform, progress=False)
    indices = few_shot_indices(task.pool, per_class, seed=seed)
    probe = fit_linear_probe(pool_x[indices], task.pool.labels[indices], task.num_classes, C=settings.C)
    with torch.no_grad():
        return tuple(100 * (probe(x).argmax(1) == part.labels).float().mean().item()
                     for x, part in ((test_x, task.test), (cache[id(counterfactual)], counterfactual)))
