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
#     exercise: '07'
# ---

# %% [markdown]
# # Exercise 07 · The limits of transfer
#
# The letters SmallCNN fine-tuned on handwritten digits, badly: one label per class and every
# block at a high learning rate. You read its train and validation curves, measure what it forgot
# about letters, and write the L2-SP penalty that keeps fine-tuned weights near the pretrained
# ones. Answer in the cells marked `# qN` (replace the `raise NotImplementedError` line), then
# run the check below each. `qN.hint()` helps, `qN.solution()` shows the reference answer.

# %%
import matplotlib.pyplot as plt
import torch

from tlcourse import get_profile, seed_everything
from tlcourse.exercises.ex07 import BUDGET, THRESHOLD, bad_settings, q1, q2, q3, q4, q5
from tlcourse.experiments import Settings, train_network
from tlcourse.limits import letters_test_set, limits_task, overfitting_history, with_source_head
from tlcourse.plots import train_and_validation
from tlcourse.pretrain import load_pretrained_cnn
from tlcourse.train import evaluate

profile = get_profile()
seed_everything(0)
digits = limits_task(profile)
letters = letters_test_set(profile)
source, _ = load_pretrained_cnn()
history = overfitting_history(digits, BUDGET, 0, bad_settings(profile))
train_and_validation(history, title=f"every block at lr {bad_settings(profile).lr_finetune:g}, {BUDGET} label per class")
plt.show()

# %% [markdown]
# ## q1 · Read the curves (2 points)
#
# `history` is the run plotted above: `history.to_frame()` has one row per epoch, with
# `train_accuracy` and, on the epochs that were validated, `val_accuracy` (other pool digits).
# Set `memorised_at` to the first epoch at which the training accuracy reaches 100% (the run
# has memorised its labelled digits), and `final_gap` to the training accuracy minus the
# validation accuracy at the last validated epoch, as a fraction.

# %%
# q1
memorised_at = final_gap = None
### BEGIN SOLUTION
frame = history.to_frame()
memorised_at = int(frame.loc[frame["train_accuracy"] == 1, "epoch"].min())
last = frame.dropna(subset=["val_accuracy"]).iloc[-1]
final_gap = float(last["train_accuracy"] - last["val_accuracy"])
### END SOLUTION
print(f"memorised at epoch {memorised_at}; at the end, train - validation = {final_gap:.1%}")

# %%
q1.check(memorised_at, final_gap)
# q1.hint()
# q1.solution()

# %% [markdown]
# ## q2 · Measure what fine-tuning forgot (2 points)
#
# Fine-tune every block of the letters network on `BUDGET` digits per class (strategy
# `"finetune_all"`, seed 0, `Settings.for_profile(profile)`) into `digit_model`. Then measure
# what it still knows about letters: put the letters network's own head back on its backbone
# (`with_source_head(digit_model, source)`) and score it on `letters`, rendered letters the
# network never saw. Set `letters_kept` to that accuracy (a fraction).

# %%
# q2
digit_model = letters_kept = None
### BEGIN SOLUTION
digit_model = train_network(digits, "finetune_all", BUDGET, 0, Settings.for_profile(profile))
letters_kept = evaluate(with_source_head(digit_model, source), letters)["accuracy"]
### END SOLUTION
print(f"letters before: {evaluate(source, letters)['accuracy']:.1%}; after fine-tuning on digits: {letters_kept:.1%}")

# %%
q2.check(digit_model, letters_kept)
# q2.hint()
# q2.solution()

# %% [markdown]
# ## q3 · L2-SP by hand (3 points)
#
# Write `l2sp_by_hand(model, start, alpha)`: the L2-SP penalty `alpha/2 · Σ ||w − w_start||²`,
# summed over every parameter named in `start` (a dict name -> pretrained tensor; the new head
# is not in it, so it stays free). It must return a scalar tensor that carries a gradient, so
# that adding it to the loss pulls each weight back towards its pretrained value. The check
# compares it with `tlcourse.train.l2sp_penalty` on weights it moves itself. Do not call that
# function.

# %%
# q3
l2sp_by_hand = None
### BEGIN SOLUTION
def l2sp_by_hand(model, start, alpha):
    moved = [(p - start[name]).pow(2).sum() for name, p in model.named_parameters() if name in start]
    return alpha / 2 * torch.stack(moved).sum()
### END SOLUTION
start = {n: p.detach().clone() for n, p in source.named_parameters() if not n.startswith("head.")}
print(f"penalty at the start: {l2sp_by_hand(source, start, 1.0).item():g}")

# %%
q3.check(l2sp_by_hand)
# q3.hint()
# q3.solution()

# %% [markdown]
# Try `train_network(digits, "finetune_all", BUDGET, 0, Settings.for_profile(profile, l2sp=1.0))`:
# does the pull towards the pretrained weights keep more letters? Measure it as in q2.

# %% [markdown]
# ## q4 · Audit a model for a planted cue (2 points)
#
# Notebook 07's section 5 planted a mark in a corner of every letter and of most digits, its
# corner set by the class. `cue = cue_tasks(profile)` holds its tasks: `cue.cued` (the cued source
# on the marked digits), `cue.counterfactual` (the test digits with every mark moved to the other
# corner). The cell below fine-tunes the cued source on 5 marked digits per class. Measure how
# much `model` leans on the mark: set `drop` to its accuracy on the normal test set
# (`cue.cued.test`) minus that on `cue.counterfactual`, in percentage points, and `leans_on_mark`
# to whether the drop is larger than `THRESHOLD` points (the clean source stays under it). The
# check measures your model again itself.

# %%
from tlcourse.bias import cue_tasks

cue = cue_tasks(profile)  # the first run pretrains the cued source (cached after)
model = train_network(cue.cued, "finetune_all", 5, 0, Settings.for_profile(profile))

# %%
# q4
drop = leans_on_mark = None
### BEGIN SOLUTION
normal = 100 * evaluate(model, cue.cued.test)["accuracy"]
moved = 100 * evaluate(model, cue.counterfactual)["accuracy"]
drop = normal - moved
leans_on_mark = drop > THRESHOLD
### END SOLUTION
print(f"drop: {drop:.1f} points; leans on the mark: {leans_on_mark}")

# %%
q4.check(model, drop, leans_on_mark)
# q4.hint()
# q4.solution()

# %% [markdown]
# ## q5 · Advise a team about to fine-tune on 1 label per class (2 points, graded by your instructor)
#
# A team has one labelled image per class and a pretrained network, and plans to fine-tune every
# layer at a high learning rate. Write your advice in `advice`, a string of a few sentences: which
# recipe to use instead and what to watch, the numbers of q1, q2 and q4 that support it (quote
# them), and what those numbers do not tell you about the team's case.
#
# Your instructor grades this answer, out of 2 points. `q5.check(advice)` only sees whether it
# is complete: at least 40 words, with at least one number quoted.

# %%
# q5
advice = None
### BEGIN SOLUTION
advice = (
    f"Do not fine-tune every layer at a high rate: in q1 that run memorised its labels at epoch "
    f"{memorised_at} and ended {100 * final_gap:.0f} points above its own validation accuracy, and in q2 the "
    f"network kept only {letters_kept:.1%} of its letters. Probe first, or fine-tune at a lower rate with an "
    f"L2-SP pull towards the pretrained weights, and choose on a validation split of the pool. Check for "
    f"shortcuts as well: the model of q4 lost {drop:.1f} points when the mark moved. These are one target, one "
    f"small network and one label per class, so the team should measure the same things on their own data."
)
### END SOLUTION

# %%
q5.check(advice)
# q5.hint()
# q5.solution()
