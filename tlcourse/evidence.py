"""When to use transfer learning, from the course's own measurements (notebook 08).

Notebooks 02-06 each save the table of their main comparison (:func:`record`, one CSV per
notebook and profile under ``cache_dir()/results/<profile>/``). :func:`course_results` loads
them; where a notebook has not been run in this profile it measures a compact version of that
comparison instead (one seed, fewer strategies and budgets, smaller pools: ``COMPACT``) with the
same tasks and :func:`tlcourse.experiments.compare`, and keeps it apart (``<notebook>.compact.csv``)
so that running the source notebook replaces it with the full table.

:func:`evidence` turns the runs into one row per source, transfer strategy and budget: its
gain over the best run without a pretrained source on the same target and labels
(``NO_TRANSFER``: scratch, and TF-IDF for text), with the seconds and trainable parameters
one run took. ``SOURCES`` labels every source-target pair near, moderate or far, with the
reason. :func:`decision_map` keeps the best strategy per similarity and budget, and
:func:`recommend` is the rule behind notebook 08's advice widget.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd

from .config import Profile, cache_dir, get_profile
from .experiments import Settings, compare, load_results, save_results

COLUMNS = ("task", "strategy", "labels_per_class", "labels", "seed", "accuracy", "seconds", "trainable_parameters")
NOTEBOOKS = ("02_feature_extraction", "03_fine_tuning", "04_nlp_transfer", "05_domain_adaptation", "06_speech")
SIMILARITIES = ("near", "moderate", "far")

# Every (notebook, task) whose rows are evidence: the target it shares with the other tasks of
# that notebook's table (the no-transfer baseline is the target's), and how near its source is.
SOURCES = pd.DataFrame([
    ("02_feature_extraction", "letters->digits", "handwritten digits", "near",
     "rendered letters -> handwritten digits: white strokes on black at 32 px; it never saw a digit"),
    ("02_feature_extraction", "imagenet->mnist5k", "handwritten digits", "moderate",
     "colour photos -> grey handwritten digits: edges and blobs carry over, strokes on black do not"),
    ("03_fine_tuning", "letters->digits", "handwritten digits", "near",
     "rendered letters -> handwritten digits (as in notebook 02), now fine-tuned"),
    ("04_nlp_transfer", "minilm->tweets", "tweets", "near",
     "MiniLM read a billion sentence pairs of web English; tweets are short web English"),
    ("05_domain_adaptation", "fonts->handwriting", "handwritten digits", "near",
     "the same ten digits rendered from fonts (and the letters CNN) -> handwriting: a change of style"),
    ("05_domain_adaptation", "imagenet->solar_cells", "solar-cell scans", "far",
     "colour photos of objects -> grey electroluminescence scans of solar cells"),
    ("06_speech", "words->digits", "spoken digits", "near",
     "25 other spoken words by the same voices -> spoken digits: the same kind of spectrogram"),
    ("06_speech", "letters->digits", "spoken digits", "far",
     "rendered letters -> spectrograms: images to audio, the same network"),
    ("06_speech", "imagenet->digits", "spoken digits", "far",
     "colour photos -> spectrograms: images to audio, 11x the parameters"),
], columns=["notebook", "task", "target", "similarity", "reason"])

# What a strategy is, as advice. A strategy missing here (random_probe, oracle, the label-free
# adaptation runs) is no evidence for a choice with labels: it is left out.
FAMILIES = {
    "linear_probe": "probe",
    "finetune_last_k": "partial fine-tune",
    "gradual_unfreeze": "partial fine-tune",
    "finetune_all": "full fine-tune",
    "adabn_probe": "domain adaptation",
    "self_training+labels": "domain adaptation",
}
NO_TRANSFER = ("scratch", "small_scratch", "tfidf_logreg")  # no pretrained source: the baseline
SCRATCH = "train from scratch"
# Names a notebook gives a strategy so its plot can show two sources side by side; the task
# column already says which source it is.
RENAMED = {"imagenet_probe": "linear_probe"}


def results_path(notebook: str, profile: str | Profile | None = None, compact: bool = False):
    """Where notebook ``notebook``'s table of the profile is kept: ``cache_dir()/results/<profile>/<notebook>.csv``
    (``.compact.csv``: notebook 08's compact stand-in)."""
    name = profile.name if isinstance(profile, Profile) else (profile or get_profile().name)
    return cache_dir() / "results" / name / f"{notebook}{'.compact' if compact else ''}.csv"


def record(results: pd.DataFrame, notebook: str, profile: str | Profile | None = None):
    """Save a notebook's runs (its :data:`COLUMNS`; others such as ``source_accuracy`` are left
    out) for notebook 08. Returns the path."""
    missing = [c for c in COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(f"record() needs the columns {list(COLUMNS)} that compare(...) returns; missing {missing}.")
    path = save_results(results[list(COLUMNS)], results_path(notebook, profile))
    print(f"saved {len(results)} runs for notebook 08: {path}")
    return path


def _compact_profile(profile: Profile) -> Profile:
    """The profile with one seed and smaller pools and test sets, for the compact stand-ins. The
    sources stay as they are (a words CNN pretrained on fewer words would understate near transfer)."""
    return replace(profile, seeds=profile.seeds[:1], max_eval=min(profile.max_eval, 400),
                   max_pool_per_class=min(profile.max_pool_per_class, 60),
                   text_samples=min(profile.text_samples, 1_200),
                   speech_target_samples=min(profile.speech_target_samples, 600))  # 60 a digit: budgets to 50


def _with_features(task):
    """``task`` with its pretrained features computed, so that, as in the notebooks that cache
    them first, the probes' seconds per run leave out the one-off feature pass."""
    task.features(True)
    return task


@lru_cache(maxsize=2)
def _digit_runs(profile: Profile) -> pd.DataFrame:
    """Notebook 03 compact, whose scratch and probe runs notebook 02's compact shares: the letters
    SmallCNN on handwritten digits (``finetune_all`` and gradual unfreezing are in notebook 03's
    full table only)."""
    from .tasks import digits_task

    return compare(_with_features(digits_task(profile)), ["scratch", "linear_probe", "finetune_last_k"],
                   profile.finetune_labels_per_class, profile.seeds, Settings.for_profile(profile), progress=False)


def _compact_feature_extraction(profile: Profile) -> pd.DataFrame:
    """Notebook 02 compact: the letters probe and scratch, and the ImageNet probe, on the same digits."""
    from .tasks import lite0_task

    digits = _digit_runs(profile)
    imagenet = compare(_with_features(lite0_task("mnist5k", profile)), ["linear_probe"],
                       profile.finetune_labels_per_class, profile.seeds, Settings.for_profile(profile), progress=False)
    return pd.concat([digits[digits["strategy"].isin(["scratch", "linear_probe"])], imagenet])


def _compact_text(profile: Profile) -> pd.DataFrame:
    """Notebook 04 compact: the frozen MiniLM probe against TF-IDF at two budgets (the scratch
    transformer and fine-tuning, a minute or more a run on a CPU, are in notebook 04's full table)."""
    from .nlp import text_settings, text_task

    task = _with_features(text_task("tweets", model="minilm", profile=profile))
    pool_per_class = int(task.pool.labels.bincount().min())
    budgets = [b for b in profile.text_labels_per_class if b <= pool_per_class][:2]
    return compare(task, ["tfidf_logreg", "linear_probe"], budgets, profile.seeds, text_settings(profile),
                   progress=False)


def _compact_scans(profile: Profile) -> pd.DataFrame:
    """Notebook 05 compact: ImageNet Lite0 on solar-cell scans (the fonts -> handwriting
    adaptation runs are in notebook 05's full table only)."""
    from .tasks import scans_task

    return compare(_with_features(scans_task(profile)), ["small_scratch", "linear_probe", "adabn_probe", "finetune_last_k"],
                   profile.scan_labels_per_class, profile.seeds, Settings.for_profile(profile), progress=False)


def _compact_speech(profile: Profile) -> pd.DataFrame:
    """Notebook 06 compact: spoken digits from other words, letters and ImageNet."""
    from .tasks import speech_tasks

    speech, settings = speech_tasks(profile, progress=False), Settings.for_profile(profile)
    fewest = int(speech.words.pool.labels.bincount().min())
    budgets = [b for b in profile.finetune_labels_per_class if b <= fewest]
    return pd.concat([
        compare(_with_features(speech.words), ["scratch", "linear_probe", "finetune_all"], budgets, profile.seeds, settings,
                progress=False),
        compare(_with_features(speech.letters), ["linear_probe"], budgets, profile.seeds, settings, progress=False),
        compare(_with_features(speech.imagenet), ["linear_probe"], budgets, profile.seeds, settings, progress=False)])


COMPACT = {  # notebook -> its compact stand-in, measured when the notebook's own table is missing
    "02_feature_extraction": _compact_feature_extraction,
    "03_fine_tuning": _digit_runs,
    "04_nlp_transfer": _compact_text,
    "05_domain_adaptation": _compact_scans,
    "06_speech": _compact_speech,
}


def course_results(profile: Profile | None = None, notebooks=NOTEBOOKS) -> pd.DataFrame:
    """Every notebook's table for the profile, one row per run with a ``notebook`` and an
    ``origin`` column: "saved" (the notebook's own run), "compact, saved" (measured by an earlier
    call) or "compact, measured now". Prints which is which."""
    profile = profile or get_profile()
    tables = []
    for notebook in notebooks:
        full, compact = results_path(notebook, profile), results_path(notebook, profile, compact=True)
        start = time.perf_counter()
        if full.exists():
            table, origin = load_results(full), "saved"
        elif compact.exists():
            table, origin = load_results(compact), "compact, saved"
        else:
            table, origin = COMPACT[notebook](_compact_profile(profile)), "compact, measured now"
            save_results(table[list(COLUMNS)], compact)
        print(f"{notebook:>22}: {origin:<22} {len(table):4d} runs in {time.perf_counter() - start:5.1f} s"
              + ("" if origin == "saved" else f" (run notebooks/{notebook}.ipynb for the full table)"))
        tables.append(table[list(COLUMNS)].assign(notebook=notebook, origin=origin))
    return pd.concat(tables, ignore_index=True)


def _base_strategy(strategy: str) -> str:
    """A strategy's shared name: notebook 06 prefixes its source ("words linear_probe")."""
    name = strategy.split(" ")[-1]
    return RENAMED.get(name, name)


def evidence(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (notebook, task, strategy, labels per class) of a transfer strategy: its mean
    accuracy over seeds, the best no-transfer mean on the same target and budget (``baseline``),
    ``gain`` (points), mean ``seconds`` per run, ``trainable_parameters``, ``family`` and the
    source's ``similarity``. Budgets with no baseline run are left out."""
    runs = results.assign(strategy=results["strategy"].map(_base_strategy)).merge(
        SOURCES[["notebook", "task", "target", "similarity"]], on=["notebook", "task"])
    keys = ["notebook", "target", "labels_per_class"]
    baseline = (runs[runs["strategy"].isin(NO_TRANSFER)].groupby(keys + ["strategy"])["accuracy"].mean()
                .groupby(keys).max().rename("baseline"))
    transfer = runs[runs["strategy"].isin(FAMILIES)]
    rows = (transfer.groupby(["notebook", "task", "target", "similarity", "strategy", "labels_per_class"])
            .agg(accuracy=("accuracy", "mean"), seeds=("seed", "nunique"), seconds=("seconds", "mean"),
                 trainable_parameters=("trainable_parameters", "max")).reset_index()
            .join(baseline, on=keys, how="inner"))
    rows["gain"] = (rows["accuracy"] - rows["baseline"]) * 100
    rows["family"] = rows["strategy"].map(FAMILIES)
    return rows.sort_values(["similarity", "labels_per_class", "gain"], ascending=[True, True, False],
                            ignore_index=True)


BUDGET_BINS = (("1-2", 2), ("3-10", 10), ("11-50", 50), ("over 50", math.inf))  # labels per class


def budget_bin(labels_per_class: int) -> str:
    """The map's column of a budget: "1-2", "3-10", "11-50" or "over 50" labels per class."""
    return next(name for name, top in BUDGET_BINS if labels_per_class <= top)


def decision_map(rows: pd.DataFrame) -> pd.DataFrame:
    """For every similarity x budget bin, the evidence row with the largest gain: its task,
    strategy, gain (points), seconds per run and trainable parameters."""
    binned = rows.assign(budget=rows["labels_per_class"].map(budget_bin))
    best = binned.loc[binned.groupby(["similarity", "budget"])["gain"].idxmax()]
    order = {"similarity": SIMILARITIES, "budget": [name for name, _ in BUDGET_BINS]}
    best = best.assign(**{k: pd.Categorical(best[k], v, ordered=True) for k, v in order.items()})
    return best.sort_values(["similarity", "budget"])[
        ["similarity", "budget", "task", "strategy", "labels_per_class", "gain", "seconds",
         "trainable_parameters"]].reset_index(drop=True)


# The compute a learner has, as the longest one run may take (seconds on the 2-core CPU that
# measured the course's tables). "GPU": no limit, every strategy the tables hold is affordable.
COMPUTE = {"CPU, seconds per run": 5.0, "CPU, a minute per run": 60.0, "GPU": math.inf}
MARGIN = 1.0  # points: a strategy whose mean gain is below this is not worth a source


@dataclass
class Recommendation:
    """What :func:`recommend` advises, the mean gain of each affordable family and the rows behind it."""

    choice: str  # a family of FAMILIES or SCRATCH
    reason: str
    gains: pd.Series  # mean gain (points) per family, within the compute limit
    rows: pd.DataFrame  # the evidence rows the advice rests on

    def __str__(self) -> str:
        return f"{self.choice}: {self.reason}"


def nearest_rows(rows: pd.DataFrame, labels_per_class: float, similarity: str) -> pd.DataFrame:
    """The evidence nearest the question: rows of the nearest similarity the table holds (the
    same if it can), and among them those at the budget nearest ``labels_per_class`` (on a log
    scale: 5 is as near 10 as 20 is)."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity={similarity!r}: choose one of {list(SIMILARITIES)}.")
    if rows.empty:
        raise ValueError("No evidence rows: run course_results() and evidence() first.")
    step = rows["similarity"].map(SIMILARITIES.index) - SIMILARITIES.index(similarity)
    rows = rows[step.abs() == step.abs().min()]
    distance = (np.log(rows["labels_per_class"]) - math.log(labels_per_class)).abs()
    return rows[np.isclose(distance, distance.min())]


def recommend(rows: pd.DataFrame, labels_per_class: float, similarity: str,
              max_seconds: float = math.inf) -> Recommendation:
    """The rule: among :func:`nearest_rows`, keep the runs that took at most ``max_seconds``;
    advise the family with the highest mean gain over no transfer, or training from scratch when
    no affordable family gains at least ``MARGIN`` points."""
    near = nearest_rows(rows, labels_per_class, similarity)
    affordable = near[near["seconds"] <= max_seconds]
    gains = affordable.groupby("family")["gain"].mean().sort_values(ascending=False)
    where = (f"{', '.join(sorted(near['task'].unique()))} ({near['similarity'].iloc[0]} sources), labels per "
             f"class {', '.join(str(b) for b in sorted(near['labels_per_class'].unique()))}")
    limit = "with no limit on compute" if math.isinf(max_seconds) else f"within {max_seconds:g} s per run"
    if gains.empty:
        return Recommendation(SCRATCH, f"no measured transfer run of {where} fits {limit}.",
                              gains, affordable)
    if gains.iloc[0] < MARGIN:
        return Recommendation(SCRATCH, f"on {where} the best affordable transfer ({gains.index[0]}) gained "
                              f"{gains.iloc[0]:+.1f} points over no transfer {limit}, under the "
                              f"{MARGIN:g}-point margin.", gains, affordable)
    best = gains.index[0]
    return Recommendation(best, f"on {where} it gained {gains.iloc[0]:+.1f} points over no transfer on "
                          f"average, the most of any family {limit}.", gains,
                          affordable[affordable["family"] == best])
