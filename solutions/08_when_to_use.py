# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: tlcourse,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   tlcourse:
#     exercise: 08
# ---

# %% [markdown]
# # Exercise 08 · When to use transfer learning
#
# The course's measurements, from notebooks 02 to 06, are your evidence: read the map they
# make, measure a small folder of images yourself, and justify a strategy for a project with
# rows of the evidence table. Answer in the cells marked `# qN` (replace the
# `raise NotImplementedError` line), then run the check below each. `qN.hint()` helps,
# `qN.solution()` shows the reference answer.

# %%
import tempfile
from pathlib import Path

from tlcourse import get_profile, seed_everything
from tlcourse.data import load_image_folder
from tlcourse.evidence import COMPUTE, MARGIN, course_results, evidence, nearest_rows, recommend
from tlcourse.exercises.ex08 import BUDGET, NONE_BELOW, PROJECT, THRESHOLD, q1, q2, q3, q4, write_folder
from tlcourse.experiments import Settings, compare
from tlcourse.tasks import own_task

profile = get_profile()
seed_everything(0)
results = course_results(profile)  # the saved tables of notebooks 02-06 (compact ones where missing)
rows = evidence(results)
rows[["similarity", "task", "strategy", "labels_per_class", "gain", "seconds"]].head()

# %% [markdown]
# ## q1 · Read the map: where does a near source stop paying? (2 points)
#
# For **near** sources, take at each budget (labels per class) the **best** gain over no
# transfer among the near rows of `rows`. Set `budget_below` to the first (smallest) budget
# where that best gain is under `THRESHOLD` points, or to `NONE_BELOW` if no measured budget
# falls under it. The check computes it again from your `results`.

# %%
# q1
budget_below = None
### BEGIN SOLUTION
near_best = rows[rows["similarity"] == "near"].groupby("labels_per_class")["gain"].max()
below = near_best[near_best < THRESHOLD]
budget_below = int(below.index.min()) if len(below) else NONE_BELOW
### END SOLUTION
print(f"best near gain per budget: {near_best.round(1).to_dict()}; first under {THRESHOLD:g} points: {budget_below}")

# %%
q1.check(results, budget_below)
# q1.hint()
# q1.solution()

# %% [markdown]
# ## q2 · The decision table of a small folder (3 points)
#
# `write_folder(path)` writes a small folder in the ImageFolder layout: handwritten digits of
# three classes, 8 x 8 pixels each. Load it with `load_image_folder(folder, size=32)`, make it a
# task from the **letters** SmallCNN (`own_task(data, "letters", profile)`), and measure
# `scratch` and `linear_probe` with `BUDGET` labels per class over `profile.seeds` with
# `Settings.for_profile(profile)`, in one table `folder_results`. Then set `best_strategy` to
# the strategy with the better mean accuracy. The check runs both strategies again itself.

# %%
folder = write_folder(Path(tempfile.mkdtemp()) / "digits")
print(sorted(p.name for p in folder.iterdir()))

# %%
# q2
folder_results = best_strategy = None
### BEGIN SOLUTION
data = load_image_folder(folder, size=32)
task = own_task(data, "letters", profile)
folder_results = compare(task, ["scratch", "linear_probe"], [BUDGET], profile.seeds, Settings.for_profile(profile))
best_strategy = folder_results.groupby("strategy")["accuracy"].mean().idxmax()
### END SOLUTION
print(f"best with {BUDGET} labels per class: {best_strategy}")
folder_results[["task", "strategy", "seed", "accuracy", "seconds"]]

# %%
q2.check(folder_results, best_strategy)
# q2.hint()
# q2.solution()

# %% [markdown]
# ## q3 · Justify a strategy for a project with the course's numbers (3 points)
#
# The project (`PROJECT`): 20 labelled images per class of a kind nothing like photos, an
# ImageNet model as the only source (far), and a laptop CPU on which one run may take up to a
# minute. Set `support` to the rows of `rows` the decision rests on (the rows nearest the
# project: `nearest_rows(...)`, without those that took longer than the compute allows) and
# `choice` to what they say: the family (`rows["family"]`) with the highest mean gain, or
# `"train from scratch"` when none gains at least `MARGIN` points.

# %%
# q3
choice = support = None
### BEGIN SOLUTION
nearest = nearest_rows(rows, PROJECT["labels_per_class"], PROJECT["similarity"])
support = nearest[nearest["seconds"] <= COMPUTE[PROJECT["compute"]]]
gains = support.groupby("family")["gain"].mean()
choice = gains.idxmax() if len(gains) and gains.max() >= MARGIN else "train from scratch"
### END SOLUTION
print(f"{choice}, resting on {len(support)} row(s); the advice function says: "
      f"{recommend(rows, PROJECT['labels_per_class'], PROJECT['similarity'], COMPUTE[PROJECT['compute']])}")
support[["task", "strategy", "labels_per_class", "gain", "seconds"]] if support is not None else None

# %%
q3.check(results, choice, support)
# q3.hint()
# q3.solution()

# %% [markdown]
# ## q4 · Advise the project's team (2 points, graded by your instructor)
#
# Write your advice to the team of q3's project in `advice`, a string of a few sentences: what to
# try first, the numbers behind it (q3's rows and their mean gain; q2's own-folder table as an
# example of measuring on one's own data), and what the course's evidence does not cover.
#
# Your instructor grades this answer, out of 2 points. `q4.check(advice)` only sees whether it
# is complete: at least 40 words, with at least one number quoted.

# %%
# q4
advice = None
### BEGIN SOLUTION
folder_means = folder_results.groupby("strategy")["accuracy"].mean()
advice = (
    f"Try {choice} first: the course's {len(support)} evidence row(s) nearest the project "
    f"({PROJECT['labels_per_class']} labels per class, a {PROJECT['similarity']} source, within the compute) "
    f"come from {support['task'].nunique()} target(s), with a mean gain of "
    f"{support['gain'].mean() if len(support) else 0.0:+.1f} points over no transfer. That is where to start, "
    f"not proof: the course measured a handful of targets, at its own budgets, on one machine. On the small "
    f"folder of q2, measuring took seconds and gave {folder_means['linear_probe']:.1%} for the probe against "
    f"{folder_means['scratch']:.1%} for scratch, so the team should run the same compare on a validation "
    f"split of their own images before committing."
)
### END SOLUTION

# %%
q4.check(advice)
# q4.hint()
# q4.solution()
