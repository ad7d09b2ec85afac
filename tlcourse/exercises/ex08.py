"""Exercise 08 · when to use transfer learning.

q1 read the map: the first budget at which the best near source gains less than ``THRESHOLD``
points over no transfer; q2 the decision table of a small folder of images, measured with
``compare``; q3 a strategy for a described project, justified by the course's evidence rows;
q4 advise the project's team in words and numbers from q2 and q3 (a judgement question, graded
by the instructor).
q1 and q3 work on the learner's own ``results`` (from ``course_results``): the checks compute
the evidence from it again. q2's check measures the folder's table itself.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..evidence import COLUMNS, COMPUTE, FAMILIES, MARGIN, SCRATCH, evidence, nearest_rows, recommend
from . import checks
from .core import Judgement, Mistake, Problem, Requirement

# --- q1 · read the map ---------------------------------------------------------------------------

THRESHOLD = 5.0  # q1: points of gain over no transfer below which a near source stops paying
NONE_BELOW = 0  # q1: the answer when every measured budget stays at or above THRESHOLD


def _course_table(results) -> None:
    checks.expect_results_table(results, COLUMNS + ("notebook",), "course_results(profile)")
    if evidence(results).empty:
        raise Mistake("`results` holds no run of a known source with a baseline: keep the table "
                      "course_results(profile) returned.")


def near_budget_below(results: pd.DataFrame) -> int:
    """The answer of q1 from ``results``: the smallest labels per class whose best near-source
    gain is under ``THRESHOLD`` points (``NONE_BELOW`` if none)."""
    rows = evidence(results)
    best = rows[rows["similarity"] == "near"].groupby("labels_per_class")["gain"].max()
    below = best[best < THRESHOLD]
    return int(below.index.min()) if len(below) else NONE_BELOW


def _budget_right(results, budget_below) -> None:
    if isinstance(budget_below, bool) or not isinstance(budget_below, (int, float)):
        raise Mistake(f"`budget_below` should be a number of labels per class, got {type(budget_below).__name__}.")
    right = near_budget_below(results)
    if budget_below == right:
        return
    rows = evidence(results)
    best = rows[rows["similarity"] == "near"].groupby("labels_per_class")["gain"].max()
    if budget_below in best.index and best[budget_below] < THRESHOLD:
        raise Mistake(f"at {budget_below:g} labels per class the best near gain is {best[budget_below]:+.1f} points, "
                      f"under {THRESHOLD:g}, but it is not the first budget where that happens: sort the budgets.")
    raise Mistake(f"the best near-source gain per budget is {best.round(1).to_dict()} (points): take the best "
                  f"strategy's gain at each budget (max over the near rows), then the first budget under "
                  f"{THRESHOLD:g}.")


q1 = Problem(
    name="q1", exercise="08", title="Read the map: where does a near source stop paying?",
    variables=("results", "budget_below"), points=2,
    requirements=[
        Requirement("results is the course's table", lambda r, b: _course_table(r), gate=True),
        Requirement("budget_below is the first budget under the threshold", _budget_right),
    ],
    hints=[
        "evidence(results) has one row per source, strategy and budget, with `similarity` and `gain` "
        "(points over no transfer).",
        "Keep the near rows, then the best gain per budget: "
        "rows[rows['similarity'] == 'near'].groupby('labels_per_class')['gain'].max().",
        f"best = ...; below = best[best < THRESHOLD]; budget_below = int(below.index.min()) if len(below) "
        f"else NONE_BELOW",
    ],
)


# --- q2 · the decision table of a small folder ----------------------------------------------------

BUDGET = 5  # q2: labels per class
CLASSES = 3  # q2: digits 0, 1, 2 of scikit-learn's 8x8 digits
PER_CLASS = 30  # q2: images per class in the folder
STRATEGIES = ("scratch", "linear_probe")  # q2: on own_task(data, "letters")
RUN_TOLERANCE = 0.03  # q2: |your run's accuracy - the check's run|, seed 0


def write_folder(path) -> Path:
    """q2's folder: ``PER_CLASS`` of scikit-learn's 8x8 digits of each of ``CLASSES`` classes, as PNGs
    in the ImageFolder layout (``path/0/``, ``path/1/`` ...). Returns ``path``."""
    from ..data import ImageDataset, few_shot_subset, load, save_image_folder

    digits = load("digits")
    keep = digits.subset(digits.labels < CLASSES)
    data = ImageDataset(keep.images, keep.labels, digits.classes[:CLASSES])
    return save_image_folder(few_shot_subset(data, PER_CLASS, seed=0), path)


def _reference(strategy: str) -> float:
    """The check's own seed-0 run of ``strategy`` on q2's folder (written to a temporary folder)."""
    import tempfile

    from ..config import get_profile
    from ..data import load_image_folder
    from ..experiments import Settings, run_one
    from ..tasks import own_task

    profile = get_profile()
    with tempfile.TemporaryDirectory() as tmp:
        data = load_image_folder(write_folder(Path(tmp) / "digits"), size=32)
    task = own_task(data, "letters", profile)
    return run_one(task, strategy, BUDGET, 0, Settings.for_profile(profile))["accuracy"]


def _folder_table(folder_results, best_strategy) -> None:
    checks.expect_results_table(folder_results, ("task", "strategy", "labels_per_class", "seed", "accuracy"),
                                "compare(own_task(data, 'letters'), ...)", "folder_results")
    if not folder_results["task"].astype(str).str.startswith("letters->").all():
        raise Mistake("`folder_results` should come from own_task(data, 'letters'): its task names start with "
                      "'letters->'.")
    at_budget = folder_results[folder_results["labels_per_class"] == BUDGET]
    for strategy in STRATEGIES:
        if not ((at_budget["strategy"] == strategy) & (at_budget["seed"] == 0)).any():
            raise Mistake(f"`folder_results` has no {strategy} run with {BUDGET} labels per class and seed 0.")


def _folder_measured(folder_results, best_strategy) -> None:
    at_budget = folder_results[(folder_results["labels_per_class"] == BUDGET) & (folder_results["seed"] == 0)]
    for strategy in STRATEGIES:
        yours = float(at_budget.loc[at_budget["strategy"] == strategy, "accuracy"].mean())
        checks.expect_close(yours, _reference(strategy), RUN_TOLERANCE, f"{strategy} (seed 0) in `folder_results`",
                            "load the folder with load_image_folder(folder, size=32), make own_task(data, 'letters') "
                            "and measure with Settings.for_profile(profile).")


def _folder_choice(folder_results, best_strategy) -> None:
    checks.expect_choice_follows(folder_results, best_strategy, STRATEGIES, ("labels_per_class", BUDGET),
                                 f"{BUDGET} labels per class")


q2 = Problem(
    name="q2", exercise="08", title="The decision table of a small folder",
    variables=("folder_results", "best_strategy"), points=3,
    requirements=[
        Requirement("folder_results is compare's table on the folder", _folder_table, gate=True),
        Requirement("its runs match the check's own", _folder_measured),
        Requirement("best_strategy follows the table", _folder_choice),
    ],
    hints=[
        "data = load_image_folder(folder, size=32); task = own_task(data, 'letters', profile).",
        f"folder_results = compare(task, {list(STRATEGIES)}, [BUDGET], profile.seeds, Settings.for_profile(profile))",
        "means = folder_results.groupby('strategy')['accuracy'].mean(); best_strategy = means.idxmax()",
    ],
)


# --- q3 · a strategy for a described project, with the course's evidence ---------------------------

# q3: the project: 20 labelled scans per class, an ImageNet model (a far source), a laptop CPU.
PROJECT = {"labels_per_class": 20, "similarity": "far", "compute": "CPU, a minute per run"}
CHOICES = tuple(sorted(set(FAMILIES.values()))) + (SCRATCH,)


def _support_rows(results, choice, support) -> None:
    checks.expect_type(support, "`support`", pd.DataFrame, "rows of evidence(results)")
    rows = evidence(results)
    near = nearest_rows(rows, PROJECT["labels_per_class"], PROJECT["similarity"])
    keys = ["notebook", "task", "strategy", "labels_per_class"]
    missing = [c for c in keys + ["seconds", "gain"] if c not in support.columns]
    if missing:
        raise Mistake(f"`support` lacks {missing}: keep whole rows of evidence(results).")
    if support.empty and choice != SCRATCH:
        raise Mistake("`support` is empty: the choice should rest on at least one measured row.")
    known = set(map(tuple, near[keys].to_numpy().tolist()))
    strays = [tuple(r) for r in support[keys].to_numpy().tolist() if tuple(r) not in known]
    if strays:
        raise Mistake(f"{strays[0]} is not among the rows nearest the project (similarity "
                      f"{near['similarity'].iloc[0]}, {sorted(near['labels_per_class'].unique())} labels per class): "
                      "use nearest_rows(rows, labels_per_class, similarity).")
    if (support["seconds"] > COMPUTE[PROJECT["compute"]]).any():
        raise Mistake(f"some rows of `support` took more than {COMPUTE[PROJECT['compute']]:g} s a run, more than "
                      "the project's compute allows: drop them.")


def _choice_follows(results, choice, support) -> None:
    if choice not in CHOICES:
        raise Mistake(f"`choice` should be one of {CHOICES}, got {choice!r}.")
    right = recommend(evidence(results), PROJECT["labels_per_class"], PROJECT["similarity"],
                      COMPUTE[PROJECT["compute"]])
    if choice != right.choice:
        gains = ", ".join(f"{k} {v:+.1f}" for k, v in right.gains.items())
        raise Mistake(f"the affordable rows nearest the project gain, on average by family: {gains} points; "
                      f"the rule picks the highest, or {SCRATCH!r} when none gains {MARGIN:g} point(s): {right.choice!r}.")


q3 = Problem(
    name="q3", exercise="08", title="Justify a strategy for a project with the course's numbers",
    variables=("results", "choice", "support"), points=3,
    requirements=[
        Requirement("results is the course's table", lambda r, c, s: _course_table(r), gate=True),
        Requirement("support holds affordable evidence rows nearest the project", _support_rows),
        Requirement("choice is what those rows say", _choice_follows),
    ],
    hints=[
        "nearest_rows(evidence(results), PROJECT['labels_per_class'], PROJECT['similarity']) gives the rows "
        "of the nearest similarity and budget; keep those with seconds <= COMPUTE[PROJECT['compute']].",
        "The choice is the family (rows['family']) with the highest mean gain in those rows, or "
        "'train from scratch' when none gains at least MARGIN points.",
        "advice = recommend(evidence(results), PROJECT['labels_per_class'], PROJECT['similarity'], "
        "COMPUTE[PROJECT['compute']]); choice, support = advice.choice, advice.rows",
    ],
)

q4 = Judgement(
    name="q4", exercise="08", title="Advise the project's team: follow the rule, or measure first?",
    variables=("advice",), requirements=(), min_words=40, instructor_points=2,
    hints=[
        "Start with a recommendation for the project: the strategy to try first, and whether to trust it "
        "before measuring on the team's own images.",
        "Support it with numbers: q3's mean gain and the rows it rests on (how many, from which targets), and "
        "q2's own-folder table as an example of measuring on your own data.",
        "Say what the evidence does not cover: the course's few targets, its budgets, one machine's seconds, "
        "and compact tables where a notebook was not run.",
    ],
)

QUESTIONS = (q1, q2, q3, q4)
