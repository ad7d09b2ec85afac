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
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tlcourse/tlcourse/blob/main/notebooks/08_when_to_use.ipynb) On Colab, run `%pip install "tlcourse @ git+https://github.com/tlcourse/tlcourse@main"` in a new cell first.
#
# # 08 · When to use transfer learning, from the course's own measurements
#
# Every notebook so far compared transfer strategies with training from scratch on one
# target. This one puts those tables side by side and asks the practical question: **given my
# labels, my source and my compute, what should I do?** Three things decide it, and the
# course measured all three:
#
# * **labels per class**: how much the target can teach a network by itself;
# * **how near the source is**: letters for handwritten digits is near, ImageNet photos for
#   solar-cell scans is far;
# * **compute**: a probe on cached features costs a fraction of a second a run, fine-tuning
#   every layer of a large network can cost minutes.
#
# No rule of thumb here is typed in: the map and the advice below are computed from the runs
# in the results tables, and you can check every row they rest on. The notebook ends with your
# own images going through the same comparison.

# %%
import tempfile
import time
from pathlib import Path

import pandas as pd
from tlcourse import get_profile, seed_everything
from tlcourse.data import load, load_image_folder, save_image_folder
from tlcourse.evidence import SOURCES, course_results, decision_map, evidence
from tlcourse.experiments import Settings, accuracy_table, compare, gain
from tlcourse.plots import decision_heatmap, image_grid
from tlcourse.tasks import own_task
from tlcourse.widgets import AdvicePanel

notebook_start = time.perf_counter()
profile = get_profile()
seed_everything(0)
print(f"profile {profile.name}: seeds {profile.seeds}, {profile.finetune_steps} steps per trained run")

# %% [markdown]
# ## The course's results, loaded or measured
#
# Notebooks 02 to 06 each save the table of their main comparison when they run (a cell right
# after it calls `record(...)`; the files live in `cache_dir()/results/<profile>/`). Here they
# are loaded. A notebook you have not run in this profile is measured now in a **compact**
# form instead: the same tasks and `compare(...)`, with one seed, fewer strategies and
# budgets, and smaller pools and test sets, so this notebook stays short. The compact tables
# are kept too, and running a source notebook replaces its compact table with the full one.
# The line for each notebook says which it is.

# %%
start = time.perf_counter()
results = course_results(profile)
print(f"{len(results)} runs from {results['notebook'].nunique()} notebooks in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ## How near is each source?
#
# Each source-target pair gets one of three labels, with the reason. It is a judgement, made
# once, in `tlcourse.evidence.SOURCES`; the measurements then say whether it was a useful one.

# %%
SOURCES[["notebook", "task", "similarity", "reason"]].style.hide(axis="index")

# %% [markdown]
# ## The gain of every transfer strategy over no transfer
#
# For every source, transfer strategy and budget: the mean accuracy over the seeds, the best
# run **without** a pretrained source on the same target and labels (`baseline`: the network
# from scratch, or TF-IDF for tweets when it does better), the **gain** in percentage points,
# and what one run cost: seconds (on the machine that measured it) and trainable parameters.
# Label-free runs (domain adaptation without target labels, the random-feature probe, the
# all-labels oracle) are not choices with a label budget, so they are left out.

# %%
rows = evidence(results)
shown = rows[["similarity", "task", "strategy", "labels_per_class", "seeds", "accuracy", "baseline", "gain",
              "seconds", "trainable_parameters"]]
shown.style.format({"accuracy": "{:.1%}", "baseline": "{:.1%}", "gain": "{:+.1f}", "seconds": "{:.2f}",
                    "trainable_parameters": "{:,}"}).hide(axis="index")

# %% [markdown]
# ## The map: labels per class x source similarity, with the cost
#
# Each cell keeps the transfer strategy with the largest gain among the runs in that cell,
# with its seconds per run and trainable parameters. Green: transfer won; red: even the best
# transfer strategy measured there lost to training without a source. An empty cell was not
# measured: the course has no run there, and the map does not guess.

# %%
best = decision_map(rows)
decision_heatmap(best, title=f"best transfer vs no transfer ({profile.name} profile)");

# %%
for similarity, part in best.groupby("similarity", observed=True):
    cells = ", ".join(f"{row.budget}: {row.gain:+.1f} ({row.strategy}, {row.task})" for row in part.itertuples())
    print(f"{similarity:>8} sources, best gain in points by labels per class: {cells}")

# %% [markdown]
# Read the printed lines above, row by row, with the notebooks they come from in mind:
#
# * **near sources** pay most with the fewest labels, and the gain shrinks as labels grow:
#   a network trained on enough target labels learns what the source knew (notebooks 02, 03 and 06);
# * **a moderate source** (ImageNet for handwritten digits) pays less than a near one at the
#   same budget (notebook 02);
# * **far sources** are where transfer is least predictable: compare the scans and the
#   spectrograms rows, and look at which strategy wins there.
#
# The same data, one row per run instead of per cell, is `rows` above; sort it by
# `seconds` to see what each gain cost.

# %% [markdown]
# ## What should I do? The advice panel
#
# Set your project's **labels per class**, how **near** your source is to your data, and how
# much **compute** one run may take. The rule, in `tlcourse.evidence.recommend`, only reads the
# table above:
#
# 1. keep the evidence rows of the same similarity (the nearest one measured, if none), and
#    among them the budget nearest yours on a log scale (5 is as near 10 as 20 is);
# 2. drop the runs that took longer than the compute allows;
# 3. group the rest by kind of strategy (probe, partial fine-tune, full fine-tune, domain
#    adaptation) and advise the one with the **highest mean gain** over no transfer, or
#    **training from scratch** when none gains at least `MARGIN` points.
#
# The table under the advice shows the rows it rests on.

# %%
panel = AdvicePanel(rows, labels_per_class=5, similarity="near", compute="CPU, a minute per run")
panel

# %%
for question in [(1, "near", "CPU, seconds per run"), (50, "near", "GPU"), (10, "far", "CPU, seconds per run"),
                 (50, "far", "GPU"), (1, "moderate", "GPU")]:
    print(f"labels per class {question[0]}, {question[1]} source, {question[2]}:\n    {panel.ask(*question)}")

# %% [markdown]
# The advice is only as good as the evidence behind it: a handful of targets, the course's
# budgets, one machine's seconds. It tells you where to **start**; the next section measures
# your own data, which is the only way to be sure.

# %% [markdown]
# ## Your own images through the same comparison
#
# `load_image_folder(path)` reads a folder with one sub-folder per class (the layout of
# torchvision's `ImageFolder`) with Pillow, and `own_task(data, source)` makes it a task that
# `compare(...)` runs like every comparison of the course: a class-balanced test set held out,
# label budgets drawn from the rest. Two sources are offline:
#
# * `"imagenet"`: EfficientNet-Lite0 pretrained on ImageNet photos, for any images; its
#   baseline `small_scratch` is the course's SmallCNN from scratch at 32 pixels;
# * `"letters"`: the SmallCNN pretrained on rendered letters, for small grey images.
#
# To show it, this cell writes a folder itself: scikit-image's faces and non-face patches, one
# PNG per image. **Set `MY_FOLDER` to your own folder** to measure yours instead: a few dozen
# images per class are enough to start. A file Pillow cannot read stops the load and names the
# file (`skip_unreadable=True` leaves such files out instead); files that are not images are
# left out with a warning.

# %%
MY_FOLDER = None  # e.g. "~/Pictures/my_classes": one sub-folder per class

folder = Path(MY_FOLDER) if MY_FOLDER else save_image_folder(load("faces"), Path(tempfile.mkdtemp()) / "faces")
mine = load_image_folder(folder, size=64)
print(f"{folder}: {len(mine)} images, classes {mine.classes}, "
      f"{mine.labels.bincount().tolist()} per class, {tuple(mine.images.shape[1:])} each")
some = mine.subset(range(0, len(mine), max(1, len(mine) // 16))[:16])  # 16 images across the classes
image_grid(some.images, titles=[mine.classes[y] for y in some.labels]);

# %%
imagenet, letters = own_task(mine, "imagenet", profile), own_task(mine, "letters", profile)
imagenet.features(True), letters.features(True)  # the probes' one-off feature pass, kept out of seconds per run
fewest = int(imagenet.pool.labels.bincount().min())
own_budgets = [b for b in profile.finetune_labels_per_class if b <= fewest][:2]
own_seeds = profile.seeds[:2]
settings = Settings.for_profile(profile)
start = time.perf_counter()
own = pd.concat([
    compare(imagenet, ["small_scratch", "linear_probe", "finetune_last_k"], own_budgets, own_seeds, settings),
    compare(letters, ["linear_probe", "finetune_last_k"], own_budgets, own_seeds, settings),
])
own["strategy"] = own["task"].str.split("->").str[0] + " " + own["strategy"]
own.loc[own["strategy"] == "imagenet small_scratch", "strategy"] = "scratch"
print(f"{len(own)} runs in {time.perf_counter() - start:.0f} s: budgets {own_budgets} labels per class, "
      f"seeds {list(own_seeds)}; test set {len(imagenet.test)} images")
accuracy_table(own)

# %% [markdown]
# Your decision table: each strategy's gain over the SmallCNN from scratch, in points, at each
# budget, and what one run cost. Both sources saw the same labelled images for a given budget
# and seed.

# %%
decision = pd.DataFrame({s: gain(own, s) for s in own["strategy"].unique() if s != "scratch"}).T
decision.columns = [f"gain at {b} labels/class" for b in decision.columns]
decision["seconds per run"] = own.groupby("strategy")["seconds"].mean()
decision["trainable parameters"] = own.groupby("strategy")["trainable_parameters"].max()
decision.round(2)

# %% [markdown]
# Set the panel to your project (faces from ImageNet photos: a moderate source, say) and
# compare its advice, read off the course's targets, with the table you just measured on yours.
# Where they disagree, trust your measurement: it is on your data.

# %%
print(panel.ask(own_budgets[-1], "moderate", "CPU, a minute per run"))

# %% [markdown]
# ## Summary
#
# * The course's measurements, from notebooks 02 to 06, make one map: labels per class by how
#   near the source is, each cell with the best transfer strategy's gain over no transfer and
#   what a run of it cost (the lines printed under the map).
# * Near sources pay most with few labels, and their gain shrinks as labels grow; with few
#   labels (up to ten per class) a moderate or far source gains less than a near one, and which
#   strategy wins there depends on the target.
# * The advice panel applies one stated rule to those rows (nearest evidence, within your
#   compute, highest mean gain, or scratch when nothing gains enough) and shows the rows.
# * Your own folder goes through the same `compare(...)`; its decision table is the answer for
#   your data.

# %%
print(f"notebook run in {time.perf_counter() - notebook_start:.0f} s")

# %% [markdown]
# ## Practice
#
# `exercises/08_when_to_use.ipynb` has four questions: read the map (at which budget does a
# near source stop paying?), produce the decision table for a small folder, justify a strategy
# for a described project with the course's own numbers, and advise that project's team in words
# (graded by your instructor). Each answer is checked as you
# go (`q1.check(...)`), with hints (`q1.hint()`) and the reference solution (`q1.solution()`).
