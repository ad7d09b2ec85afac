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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tlcourse/tlcourse/blob/main/notebooks/07_limits.ipynb) On Colab, run `%pip install "tlcourse @ git+https://github.com/tlcourse/tlcourse@main"` in a new cell first.
#
# # 07 · The limits of transfer: when a pretrained start hurts, overfits or forgets
#
# Notebooks 02 to 06 measured transfer that helped. This one measures where it stops helping,
# on the same target (real handwritten digits) and the same network (the SmallCNN), always
# against the same network trained **from scratch**:
#
# 1. **negative transfer**: a source that taught the network something *false*;
# 2. **overfitting**: a few labels, every layer trained at a high learning rate, and what cures it;
# 3. **catastrophic forgetting**: what the network still knows about letters after it learned digits.
#
# **You will be able to:** test whether a source is worse than nothing; read train and validation
# curves and choose a cure on the validation split, not the test set; measure forgetting, and
# keep a fine-tuned network close to its pretrained weights with L2-SP.
#
# **Before this:** notebooks 02 (probes) and 03 (fine-tuning). **Time:** under a minute in the
# `smoke` profile, a few minutes in `cpu` (the last cell prints this run's time).

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
from tlcourse import get_profile, seed_everything
from tlcourse.experiments import Settings, accuracy_table, compare, describe, gain, summarize
from tlcourse.limits import (HIGH_LR, L2SP_ALPHA, VAL_PER_CLASS, compare_cures, cures, letters_test_set,
                             limits_task, misleading_cnn, misleading_task, overfitting_history)
from tlcourse.plots import data_efficiency, image_grid, train_and_validation
from tlcourse.pretrain import load_pretrained_cnn
from tlcourse.train import evaluate
from tlcourse.widgets import FreezePanel

notebook_start = time.perf_counter()
profile = get_profile()
settings = Settings.for_profile(profile)
seed_everything(0)
digits = limits_task(profile)  # letters SmallCNN -> handwritten digits, as in notebooks 02 and 03
print(f"profile {profile.name}: {len(digits.pool)} pool digits to draw budgets from, {len(digits.test)} "
      f"test digits; {settings.steps} steps per run; seeds {profile.seeds}")

# %% [markdown]
# ## 1 · Negative transfer: a source that taught something false
#
# Transfer can only carry over what the source taught. So build a source that taught nothing
# true: the same rendered letters as notebook 01, but with every label **shuffled** (an "A"
# is called "Q" in one image and "F" in the next). The network is pretrained on them exactly as
# the letters network was (same architecture, optimizer and epochs) and cached after the first
# run. Can such a start be *worse than no pretraining at all*?

# %%
_, shuffled_meta = misleading_cnn(profile)
misleading = misleading_task(profile)
print(f"shuffled-letters CNN: {shuffled_meta['epochs']} epochs on {shuffled_meta['samples']} letters, "
      f"{100 * shuffled_meta['source_accuracy']:.1f}% on held-out letters with shuffled labels "
      f"(chance: {100 / 26:.1f}%); trained in {shuffled_meta['seconds']:.0f} s, cached for later runs")

# %% [markdown]
# Two ways to use each source, as in notebooks 02 and 03: its frozen features under a linear
# probe (against the probe on a **random**, untrained SmallCNN: the architecture alone), and
# fine-tuning every block (against **scratch**). Probes are cheap, so they run at every budget;
# the networks at the fewest and the most labels the profile fine-tunes with.

# %%
probe_budgets, network_budgets = profile.labels_per_class, profile.finetune_labels_per_class
network_budgets = sorted({network_budgets[0], network_budgets[-1]})
negative = pd.concat([
    compare(digits, ["linear_probe", "random_probe"], probe_budgets, profile.seeds, settings),
    compare(misleading, ["linear_probe"], probe_budgets, profile.seeds, settings),
    compare(digits, ["scratch"], network_budgets, profile.seeds, settings),
    compare(misleading, ["finetune_all"], network_budgets, profile.seeds, settings),
])
negative["strategy"] = negative["task"].str.split("->").str[0].str.replace("shuffled letters", "shuffled") \
    + " " + negative["strategy"]
negative["strategy"] = negative["strategy"].str.replace("letters random_probe", "random_probe") \
    .str.replace("letters scratch", "scratch")
accuracy_table(negative)

# %% [markdown]
# Test accuracy (%) as mean ± std over seeds; "-" where a strategy was not run at that budget.

# %%
fig, ax = plt.subplots(figsize=(7, 4))
data_efficiency(summarize(negative.assign(task="digits")), ax=ax, title="a true source, a false one, none")
plt.show()
print(describe(negative, "shuffled linear_probe", "random_probe"), "\n")
print(describe(negative, "shuffled finetune_all", "scratch"))

# %% [markdown]
# ### What the measurement says
#
# Read the table and the sentences above it: they are this run's numbers, and the points below
# say only what the claim tests (`tests/test_claims_07.py`, `cpu` profile settings, three seeds)
# hold every time.
#
# * **As frozen features, the misleading source is worse than nothing.** The probe on the
#   shuffled-letters network trails the probe on a *random*, untrained SmallCNN at every budget
#   from 2 labels per class on, by more than 1 point each time. Fitting labels that mean nothing
#   has not left the network blank: it has bent its features towards memorising noise, and digits
#   are harder to read off them than off random filters. That is **negative transfer**, measured.
# * **Fine-tuning washes it out, and gains nothing.** Fine-tuning every block of the same
#   misleading network ends within 3 points of scratch at both budgets: the steps on digits move
#   its weights far enough that the false source barely matters, for good or for bad.
# * **A true source is another story**: the letters network's probe beats the random one by more
#   than 25 points with one label per class (notebook 02 measured why).
#
# So "worse than nothing" took a source that taught something false *and* a way of using it
# that keeps what it taught (a frozen backbone). A source is a hypothesis: test it against a
# random network and against scratch before you trust it.

# %% [markdown]
# ## 2 · Overfitting when fine-tuned badly
#
# Take the letters network, few labels, and a learning rate ten times the course's fine-tuning
# rate (`HIGH_LR`), every block trained. To *see* overfitting we need data the network does not
# train on: a **validation** split of other pool digits (`VAL_PER_CLASS` per class, drawn with
# `tlcourse.data.train_and_validation_indices`). The test set stays untouched until the final
# comparison: choosing a cure by the test set would make its number a lie.

# %%
few = network_budgets[0]
badly = Settings.for_profile(profile, lr_finetune=HIGH_LR)
history = overfitting_history(digits, few, profile.seeds[0], badly)
train_and_validation(history, title=f"every block at lr {HIGH_LR:g}, {few} label(s) per class")
plt.show()
frame = history.to_frame()
curve = frame.dropna(subset=["val_accuracy"])  # the validated epochs
print(f"train accuracy reaches 100% at epoch {int(frame.loc[frame['train_accuracy'] == 1, 'epoch'].min())}; "
      f"validation: {100 * curve['val_accuracy'].iloc[0]:.0f}% at the first check, best "
      f"{100 * curve['val_accuracy'].max():.0f}% (epoch {int(curve.loc[curve['val_accuracy'].idxmax(), 'epoch'])}), "
      f"{100 * curve['val_accuracy'].iloc[-1]:.0f}% at the end")

# %% [markdown]
# Read the two lines. The training accuracy reaches 100% within a few epochs: the network has
# memorised its labelled digits. The validation accuracy climbs far more slowly and ends below
# 60% (on average over the seeds the claim test runs): everything between the two lines was
# memorised, not learned. That gap *is* overfitting. Notice what the curve hardly does: fall
# back after its best, as textbook curves do (by less than 3 points on average over seeds). With
# a learning rate decayed along a cosine and a handful of images, validation accuracy climbs,
# then stays flat, so there is little to gain by stopping earlier. (At the first checks the validation loss is huge: BatchNorm's running statistics
# still describe letters while the weights have already moved on.)
#
# ### Try it: freeze blocks against the high rate
#
# The FreezePanel of notebook 03 on the same labels and validation split, set to the high rate:
# toggle blocks off (frozen) and press **Train**; each run is drawn on the validation digits
# over the from-scratch baseline.

# %%
panel = FreezePanel.from_task(digits, few, VAL_PER_CLASS, lr=HIGH_LR)
panel

# %% [markdown]
# ### The cures, measured
#
# Each cure changes **one** thing in the bad recipe (every block, high rate), and each is scored
# on the test set once, at the end:
#
# * **freeze**: a linear probe (every block frozen), or only the last two blocks trained;
# * **a lower rate**: the course's fine-tuning rate, ten times lower;
# * **early stopping**: validate as training goes, stop after `PATIENCE` checks without a better
#   validation accuracy and keep the best weights (`fit(..., val=..., patience=...)`);
# * **augmentation**: every labelled digit also shifted by 2 pixels each way (not flipped or
#   turned: a turned 6 is a 9);
# * **L2-SP** (Li, Grandvalet & Davoine, 2018): add `alpha/2 · ||w − w_pretrained||²` to the loss,
#   so a weight leaves its pretrained value only as far as the data are worth
#   (`tlcourse.train.l2sp_penalty`, `Settings(l2sp=alpha)`).

# %%
letters = letters_test_set(profile)
source, _ = load_pretrained_cnn()
runs = compare_cures(digits, cures(settings), few, profile.seeds, letters, source)
cure_table = runs.groupby("cure", sort=False)[["digits_accuracy", "letters_accuracy", "seconds"]].mean()
cure_table[["digits_accuracy", "letters_accuracy"]] *= 100
cure_table.round(1)

# %% [markdown]
# Mean over seeds, accuracies in %: `digits_accuracy` on the digits test set, `letters_accuracy`
# on rendered letters (next section).
#
# * **The cures that keep the weights near the pretrained ones work.** A lower rate, training only
#   the last two blocks, the probe and L2-SP each beat the bad recipe by at least 5 points on the
#   test digits. The probe is best with so few labels, and L2-SP comes within 5 points of it while
#   still training every block.
# * **Early stopping and augmentation do not help here** (each within 3 points of the bad
#   recipe). Early stopping can only pick the best moment, and the validation curve above has no
#   better moment to pick. Shifted copies give more images but no new *handwriting*: the damage
#   comes from how far the rate moves the pretrained weights, not from too few pixels.
# * The table is scored on the test set once, after the fact, to teach. In a project, choose the
#   cure by its **validation** accuracy (the FreezePanel shows it), then report the test score of
#   the one you chose, once.

# %% [markdown]
# ## 3 · Catastrophic forgetting
#
# The letters network read letters almost perfectly. After it learned digits, can it still? Keep
# its old **letters head**, put it back on the fine-tuned backbone, and score letters it never
# saw in pretraining (`letters_test_set`: rendered with another seed). Those are the table's
# `letters_accuracy` column, from the same runs.

# %%
before = evaluate(source, letters)["accuracy"]
image_grid(letters.images[:8], [letters.classes[i] for i in letters.labels[:8]], columns=8)
plt.show()
print(f"the letters network before any fine-tuning: {100 * before:.1f}% on {len(letters)} unseen letters")
forgotten = (100 * before - cure_table["letters_accuracy"]).rename("letters forgotten (points)")
forgotten.round(1)

# %% [markdown]
# * **Fine-tuning every block at the high rate forgets almost everything.** The letters network
#   read every one of the unseen letters right before (printed above); afterwards it loses more
#   than 80 points on them, near chance for 26 letters. Early stopping and shifted copies, which
#   trained every block at the same rate, forget as much.
# * **Even the course's careful rate forgets**: more than 10 points of letters, after fine-tuning
#   on the same few digits.
# * **Freezing the lower blocks is not enough**: training only the last two at the high rate
#   still loses more than 20 points.
# * **The probe forgets nothing**, exactly: its backbone never changed, and the old head still fits it.
# * **L2-SP forgets almost nothing** (less than 2 points) while training every block at the high
#   rate, and it was also among the best cures for the digits. Pulling each weight towards its
#   pretrained value keeps both tasks. Continual-learning methods build on the same idea: EWC
#   (Kirkpatrick et al., 2017) weighs the pull on each weight by how much the old task needs it.

# %% [markdown]
# ## What we measured
#
# Every number above was computed in this run. `tests/test_claims_07.py` re-measures the
# statements in the text with the `cpu` profile's settings and fixed seeds.

# %%
print(f"this notebook ran in {time.perf_counter() - notebook_start:.0f} s ({profile.name} profile)")

# %% [markdown]
# ## Takeaways
#
# * A source can hurt: features pretrained on something false were worse than random ones. Keep
#   a random-feature probe and scratch as baselines, and compare every source with both.
# * With few labels, overfitting shows as a gap between training and validation accuracy, not
#   always as a falling curve. The cures that worked here move the pretrained weights less (a
#   lower rate, freezing, L2-SP); stopping earlier did not.
# * Fine-tuning forgets the source task. A frozen backbone forgets nothing, and L2-SP kept it
#   while training every block.
# * Choose with the validation split; report the test set once.
#
# ## Try this
#
# * Sweep L2-SP's pull: `compare(digits, ["finetune_all"], [few], profile.seeds, settings)` with
#   `settings = Settings.for_profile(profile, lr_finetune=HIGH_LR, l2sp=alpha)` for `alpha` from
#   0.01 to 100. Where does the pull start to cost digits accuracy?
# * Pretrain the misleading source longer (`get_profile(pretrain_epochs=10)`): does it memorise
#   more of the shuffled labels, and do its features get worse still?
# * Give the cures 5 labels per class instead of 1: which of them still matter?
#
# ## Practice
#
# `exercises/07_limits.ipynb`: read train and validation curves and cure overfitting on the
# validation split, measure what fine-tuning makes a network forget, and test a misleading
# source against scratch.
