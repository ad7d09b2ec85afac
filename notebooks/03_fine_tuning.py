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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tlcourse/tlcourse/blob/main/notebooks/03_fine_tuning.ipynb) On Colab, run `%pip install "tlcourse @ git+https://github.com/tlcourse/tlcourse@main"` in a new cell first.
#
# # 03 · Fine-tuning: which blocks should learn?
#
# Feature extraction (notebook 02) freezes the whole backbone. **Fine-tuning** lets some or all
# of it learn on the target task, usually with a small learning rate so that what was learned
# in pretraining is adjusted rather than erased. Three knobs matter:
#
# 1. **which blocks learn** (the rest stay frozen);
# 2. **the learning rate**, possibly smaller for blocks near the input (*discriminative*
#    learning rates: early blocks hold generic features, late blocks task-specific ones);
# 3. **what BatchNorm layers do** in frozen blocks: keep their pretrained statistics, or
#    re-estimate them on the new data.
#
# Target: real handwritten digits; source: the SmallCNN pretrained on rendered letters.

# %%
import matplotlib.pyplot as plt
import pandas as pd
from tlcourse import get_profile, seed_everything
from tlcourse.experiments import Settings, compare, describe, summarize
from tlcourse.freeze import named_blocks, set_trainable, trainable_summary
from tlcourse.plots import compare_strategies, data_efficiency
from tlcourse.tasks import digits_task
from tlcourse.widgets import FreezePanel

profile = get_profile()
settings = Settings.for_profile(profile)
seed_everything(0)
digits = digits_task(profile)

# %% [markdown]
# ## The blocks of the network
#
# Each named block can be frozen or trained. The table counts the parameters in each.

# %%
model = digits.make_model(True)
set_trainable(model, ["block3", "head"])
trainable_summary(model)

# %% [markdown]
# ## Try it: the FreezePanel
#
# Toggle blocks on (trainable) and off (frozen), choose a learning rate, a discriminative decay
# and a BatchNorm mode, and press **Train**. Every run starts from the same pretrained weights
# with 5 labelled digits per class and takes the same number of gradient steps as each run of
# the comparison below (`profile.finetune_steps`, whatever the number of labels). Its
# **validation** curve is drawn over a network trained **from scratch** on the same images,
# and over your earlier runs. The validation digits (15 per class) are other digits of the
# pool: choose blocks, rates and steps by them, never by the test set, which is kept for the
# final numbers below. The table below the plot grows with every run.

# %%
panel = FreezePanel.from_task(digits, 5, 15)  # train on 5 pool digits per class, validate on 15 others
panel

# %% [markdown]
# The same panel can be scripted. Three runs: only the head, the last block and the head, and
# everything. Watch the trainable-parameter count and the images per second too.

# %%
for blocks in (["head"], ["block3", "head"], panel.blocks):
    panel.train(trainable=blocks)
panel.plot()
panel.table(["run", "trainable_blocks", "trainable_params", "steps", "final_val_accuracy", "seconds",
             "images_per_second"])

# %%
head_only, everything = panel.results.iloc[0], panel.results.iloc[-1]
print(f"after {head_only['steps']} steps, validation accuracy: head only {head_only['final_val_accuracy']:.1%}, "
      f"every block {everything['final_val_accuracy']:.1%}")
print(f"head only trains {head_only['images_per_second'] / everything['images_per_second']:.1f}x as many "
      f"images per second as full fine-tuning ({head_only['images_per_second']:,.0f} vs "
      f"{everything['images_per_second']:,.0f} images/s): frozen blocks need no backward pass.")

# %% [markdown]
# Two things to notice. Training only the head is much cheaper per image: the frozen blocks
# need no backward pass. And every run gets the same number of gradient steps, whichever
# blocks learn and however many labels there are, so the runs differ only in what learns; the
# scratch curve gets the same steps too. Run 3 (every block) is exactly `finetune_all`'s run
# with seed 0 in the comparison below. The accuracies above are **validation** accuracies, on
# pool digits the runs never train on: choose settings by them. Slide the learning rate up to
# 1e-2 and train the head again, or halve the steps, and see which way the curve moves.

# %% [markdown]
# ## Full vs partial fine-tuning vs feature extraction vs scratch
#
# One run proves little, so here is the comparison over label budgets and seeds, as in
# notebook 02: `finetune_last_k` trains the last two blocks (block3 and the head),
# `finetune_all` everything; `linear_probe` is the frozen feature extractor of notebook 02.
# `gradual_unfreeze` is ULMFiT's schedule (Howard & Ruder, 2018): the head learns alone
# first, then every `steps / 5` steps one more block from the top joins, until all five learn;
# a block starts moving only once the blocks above it fit the new head.
#
# From here on the accuracies are on the **test set**: every run has fixed settings, nothing
# is chosen by looking at its test accuracy, and each run's is measured once, at its end.

# %%
results = compare(digits, ["scratch", "linear_probe", "finetune_last_k", "finetune_all", "gradual_unfreeze"],
                  profile.finetune_labels_per_class, profile.seeds, settings)
summary = summarize(results)
data_efficiency(summary, title="fine-tuning the letters-pretrained SmallCNN on digits");

# %%
from tlcourse.evidence import record

record(results, "03_fine_tuning");  # kept for notebook 08, which maps every notebook's results

# %%
print(describe(results, "finetune_all", "scratch"))
print()
print(describe(results, "linear_probe", "finetune_all"))
print()
print(describe(results, "gradual_unfreeze", "finetune_all"))

# %% [markdown]
# What the curve says, measured with the `cpu` profile:
#
# * **With one label per class**, the frozen probe is best: fine-tuning 390k parameters on ten
#   images moves the pretrained features towards those ten images. Training fewer blocks
#   (`finetune_last_k`) is on the plot too: see where it falls in this run.
# * **With five labels per class, fine-tuning wins** over both the frozen probe and
#   scratch: the backbone adapts from letters to digits.
# * **With many labels the gain over scratch shrinks to almost nothing**: fifty real digits per
#   class are enough to learn strokes from scratch. Transfer pays most when labels are scarce.
# * **Gradual unfreezing helps where fine-tuning everything at once hurts**: with one label per
#   class it beats `finetune_all`, yet stays below the frozen probe; with five labels per class
#   the two are about level, and with fifty the schedule makes no difference. The new head's
#   first gradients come from random weights; unfreezing from the top keeps them away from the
#   pretrained early blocks, as the discriminative rates below do by other means.

# %% [markdown]
# ## Discriminative learning rates
#
# With `decay = 0.3`, the head learns at the full rate, block3 at 0.3 times that, block2 at
# 0.09 times, and so on: the blocks nearest the input, whose features are the most generic,
# move least.

# %%
budgets = profile.finetune_labels_per_class[:2]
one_rate = results[(results["strategy"] == "finetune_all") & results["labels_per_class"].isin(budgets)]
decayed = compare(digits, ["finetune_all"], budgets, profile.seeds, Settings.for_profile(profile, decay=0.3))
both = pd.concat([one_rate, decayed.assign(strategy="finetune_all_decay0.3")])
print(describe(both, "finetune_all_decay0.3", "finetune_all"))

# %% [markdown]
# Measured with the `cpu` profile: with **one** label per class, the decayed rates protect the
# pretrained early blocks from ten images' worth of noise and help clearly; with **five**, the
# data already steer the early blocks well and the decay makes no difference. Discriminative
# rates are insurance for the scarcest data.

# %% [markdown]
# ## BatchNorm in frozen blocks
#
# A frozen block's BatchNorm layers hold the mean and variance of *letters* activations. With
# the default `frozen_eval` policy they keep them; with `train_all` they re-estimate them from
# the few target images in each batch, even though their weights are frozen.

# %%
bn = compare(digits, ["finetune_last_k"], budgets, profile.seeds,
             Settings.for_profile(profile, bn_policy="train_all"))
frozen_bn = results[(results["strategy"] == "finetune_last_k") & results["labels_per_class"].isin(budgets)]
both = pd.concat([frozen_bn, bn.assign(strategy="finetune_last_k_bn_train_all")])
print(describe(both, "finetune_last_k_bn_train_all", "finetune_last_k"))

# %% [markdown]
# The measurement contradicts the usual warning: here the BatchNorm policy of the frozen blocks
# barely matters (measured with the `cpu` profile: less than two points apart, either way).
# Rendered letters and handwritten digits are both white strokes on black, so the statistics a
# frozen block sees barely change between source and target. The policy matters when they do
# change: a distant domain (photos to scans), very small or unbalanced batches, or inference on
# single images where train-mode statistics would be computed from one example. Keep
# `frozen_eval` as the default: here the two policies are level, and `frozen_eval` is the safe
# one when the domains differ.

# %% [markdown]
# ## What we measured
#
# Every number above was computed in this run. `tests/test_claims_03.py` re-measures the
# statements with the `cpu` profile's settings and fixed seeds.

# %% [markdown]
# ## Practice
#
# `exercises/03_fine_tuning.ipynb` has four questions: train only the last two blocks, build the discriminative-learning-rate optimizer, keep frozen BatchNorm layers in eval mode, and fine-tune without moving the frozen blocks. Each answer is checked as you go (`q1.check(...)`), with
# hints (`q1.hint()`) and the reference solution (`q1.solution()`).
