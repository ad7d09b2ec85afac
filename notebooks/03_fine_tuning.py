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
# 3. **what BatchNorm layers do** in frozen blocks: keep their pretrained running statistics
#    (notebook 01), or re-estimate them on the new data.
#
# Target: real handwritten digits; source: the SmallCNN pretrained on rendered letters.
#
# **You will be able to**
#
# * choose which blocks of a pretrained network learn, and check the choice in a table of
#   trainable parameters;
# * tune a fine-tuning run on validation data with the FreezePanel, keeping the test set for the
#   final numbers;
# * compare full and partial fine-tuning, gradual unfreezing, the frozen probe and scratch across
#   label budgets, and say which to use with how many labels;
# * set discriminative learning rates and a BatchNorm policy for frozen blocks, and read a
#   confusion matrix before you save and reuse the model.
#
# **Before you start**: notebooks 01 and 02 (state dicts, BatchNorm running statistics, the linear
# probe, data-efficiency curves). PyTorch: `requires_grad`, and what an optimiser's learning rate
# does. The panel needs JupyterLab's widgets; without them, the scripted cells below do the same.
#
# **Time**: a few minutes on a laptop CPU in the `cpu` profile (the README's Notebooks table
# lists the measured time); seconds in the `smoke` profile.

# %%
import matplotlib.pyplot as plt
import pandas as pd
from tlcourse import cache_dir, get_profile, seed_everything
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
# ## Data augmentation: more versions of the same few images
#
# With five labelled digits per class, a network sees the same fifty images over and over.
# **Augmentation** shows it a slightly different version of each at every step: turned by up to
# 10 degrees, shifted by up to a tenth of its side, scaled by up to 10% (torchvision's
# `transforms.v2.RandomAffine`, a new draw per image and per step: `Settings(augment="affine")`,
# which `fit` applies to training batches only). It builds in what we know about digits, that
# a slightly turned 7 is still a 7, without a single new label. Which strategy gains more from
# it: the network that starts from nothing, or the one that starts from letters?

# %%
few = budgets[-1]
augmented = compare(digits, ["scratch", "finetune_all"], [few], profile.seeds,
                    Settings.for_profile(profile, augment="affine"))
plain = results[results["strategy"].isin(["scratch", "finetune_all"]) & (results["labels_per_class"] == few)]
with_and_without = pd.concat([plain, augmented.assign(strategy=augmented["strategy"] + "+affine")])
print(describe(with_and_without, "scratch+affine", "scratch"))
print(describe(with_and_without, "finetune_all+affine", "finetune_all"))
print(describe(with_and_without, "finetune_all+affine", "scratch+affine"))

# %% [markdown]
# Measured with the `cpu` profile (5 labels per class, seeds 0-2): augmentation lifts scratch by
# 12 points (76.5% to 88.8%) and fine-tuning by 3 (86.8% to 89.6%), so most of what the letters
# gave the fine-tuned network, augmentation gives scratch too. Both are ways to bring in what the
# few labels cannot teach: pretraining brings it from another data set, augmentation from what
# we know about the images. They add up, but the second is free, so try it before you conclude
# that you need a pretrained model. (The lines above show this run's numbers.)

# %% [markdown]
# ## Look at the mistakes, then keep the model
#
# Accuracy says how often the model is wrong, not *how*. `train_network` returns the very model
# `compare` trained for one run (full fine-tuning, `budgets[-1]` labels per class, seed 0). The
# **confusion matrix** counts each kind of mistake (rows: the true digit, columns: the
# prediction); the misclassified test images show whether the mistakes are ones a person would
# make, or ones that point at a fault (a class never learned, a bias towards one answer).

# %%
from tlcourse.data import load
from tlcourse.experiments import train_network
from tlcourse.plots import confusion_matrix, image_grid
from tlcourse.pretrain import load_pretrained_cnn, save_checkpoint
from tlcourse.train import predict

model = train_network(digits, "finetune_all", budgets[-1], profile.seeds[0], settings)
predicted = predict(model, digits.test.images).argmax(1)
confusion_matrix(digits.test.labels, predicted, digits.test.classes,
                 title=f"fine-tuned on {budgets[-1]} labels per class")
wrong = (predicted != digits.test.labels).nonzero().flatten()
print(f"{len(wrong)} of {len(predicted)} test digits misclassified")
image_grid(digits.test.images[wrong[:16]],
           titles=[f"{digits.test.labels[i].item()} as {predicted[i].item()}" for i in wrong[:16]]);

# %% [markdown]
# To use the model later, save its weights (its *state dict*, as in notebook 01) with the class
# names, load them into a fresh network, and
# predict an image it has never seen: here digits rendered from fonts, not handwritten.
# `weights_only=True` (inside `load_pretrained_cnn`) loads tensors and plain values only, so a
# checkpoint from someone else cannot run code on your machine.

# %%
path = save_checkpoint(model, {"classes": digits.pool.classes, "trained_on": "mnist5k digits"},
                       cache_dir() / "models" / "digits_finetuned.pt")
reloaded, meta = load_pretrained_cnn(path)
new_digits = load("glyphs", n=10, chars="digits", size=32, seed=7)
guesses = predict(reloaded, new_digits.images).argmax(1)
image_grid(new_digits.images, titles=[f"{meta['classes'][g]}" for g in guesses], columns=10)
print(f"{(guesses == new_digits.labels).sum().item()} of 10 rendered digits read correctly; "
      f"{path.name} holds {path.stat().st_size / 1e6:.1f} MB")

# %% [markdown]
# ## What we measured
#
# Every number above was computed in this run. `tests/test_claims_03.py` re-measures the
# statements with the `cpu` profile's settings and fixed seeds.
#
# ### Takeaways
#
# * Training only the head runs more images per second than full fine-tuning: frozen blocks need
#   no backward pass.
# * With one label per class the frozen probe was best; with five, fine-tuning beat both the
#   probe and scratch; with many labels its gain over scratch shrank to almost nothing.
# * Gradual unfreezing and discriminative learning rates both keep the new head's first, noisy
#   gradients away from the pretrained early blocks, and both helped where labels were scarcest.
# * The BatchNorm policy of the frozen blocks barely mattered here, because letters and digits
#   look alike to them; keep `frozen_eval` for targets that look different.
# * Augmentation gave scratch most of what pretraining gave fine-tuning, for free: try it before
#   concluding that you need a pretrained model.
# * Choose settings on validation data, keep the test set for the final numbers, and read the
#   mistakes, not only the accuracy.
#
# ### Try this
#
# Predict first, then run and check:
#
# 1. Make the discriminative rates steeper: in that section, pass
#    `Settings.for_profile(profile, decay=0.1)` instead of `decay=0.3`. With one label per class,
#    does `finetune_all` move towards the frozen probe? With five, does anything change?
# 2. Train one block more: `compare(digits, ["finetune_last_k"], budgets, profile.seeds,
#    Settings.for_profile(profile, k=3))` trains block2, block3 and the head. Where does it fall
#    between `finetune_last_k` (two blocks) and `finetune_all`?
# 3. Give the panel one labelled digit per class, `FreezePanel.from_task(digits, 1, 15)`, and run
#    the three scripted runs again. Does training every block still beat training only the head?

# %% [markdown]
# ## Practice
#
# `exercises/03_fine_tuning.ipynb` has four questions: train only the last two blocks, build the discriminative-learning-rate optimizer, keep frozen BatchNorm layers in eval mode, and fine-tune without moving the frozen blocks. Each answer is checked as you go (`q1.check(...)`), with
# hints (`q1.hint()`) and the reference solution (`q1.solution()`).
