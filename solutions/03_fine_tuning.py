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
#     exercise: '03'
# ---

# %% [markdown]
# # Exercise 03 · Fine-tuning
#
# Which blocks learn, how fast each one learns, what BatchNorm layers do while the rest is
# frozen, and how much of a network you would advise a colleague to fine-tune. Answer in the
# cells marked `# qN` (replace the `raise NotImplementedError` line), then run the check below
# each. `qN.hint()` helps, `qN.solution()` shows the reference answer.

# %%
import torch
from tlcourse import get_profile, seed_everything
from tlcourse.data import few_shot_subset
from tlcourse.exercises.ex03 import q1, q2, q3, q4, q5
from tlcourse.freeze import apply_bn_policy, last_blocks, param_groups, set_trainable, trainable_summary, unfreeze
from tlcourse.tasks import digits_task
from tlcourse.train import evaluate, fit

profile = get_profile()
seed_everything(0)
digits = digits_task(profile)  # digits.make_model(True): letters-pretrained SmallCNN, new 10-digit head

# %% [markdown]
# ## q1 · Train only the last two blocks (1 point)
#
# Make `partial_model`: a pretrained model (`digits.make_model(True)`) in which only the last
# two blocks (`block3` and the `head`) can learn.

# %%
# q1
partial_model = None
### BEGIN SOLUTION
partial_model = digits.make_model(True)
set_trainable(partial_model, last_blocks(partial_model, 2))
### END SOLUTION
trainable_summary(partial_model)

# %%
q1.check(partial_model)
# q1.hint()
# q1.solution()

# %% [markdown]
# ## q2 · Discriminative learning rates (2 points)
#
# Fine-tune **every** block of a fresh pretrained model `ft_model`, but not at one rate: the
# head learns at `lr = 1e-3`, and each block nearer the input at `0.3` times the rate of the
# block after it. Build the `optimizer` (AdamW) that does this.

# %%
# q2
ft_model = optimizer = None
### BEGIN SOLUTION
ft_model = digits.make_model(True)
unfreeze(ft_model)
optimizer = torch.optim.AdamW(param_groups(ft_model, lr=1e-3, decay=0.3))
### END SOLUTION
[(group["name"], f"{group['lr']:.2g}") for group in optimizer.param_groups]

# %%
q2.check(ft_model, optimizer)
# q2.hint()
# q2.solution()

# %% [markdown]
# ## q3 · BatchNorm in frozen blocks (2 points)
#
# Make `bn_model`: a pretrained model with only the head trainable, ready to train (in training
# mode), whose **frozen** BatchNorm layers keep their pretrained running statistics.

# %%
# q3
bn_model = None
### BEGIN SOLUTION
bn_model = digits.make_model(True)
set_trainable(bn_model, ["head"])
bn_model.train()
apply_bn_policy(bn_model, "frozen_eval")
### END SOLUTION
{name: m.training for name, m in bn_model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}

# %%
q3.check(bn_model)
# q3.hint()
# q3.solution()

# %% [markdown]
# ## q4 · Fine-tune, keep the frozen blocks intact (3 points)
#
# Fine-tune `block3` and the head of a fresh pretrained model on `few_shot_subset(digits.pool,
# 5, seed=0)` (5 labelled digits per class) for about 150 steps at `lr=1e-3`, and call it
# `finetuned_model`. The check verifies that the frozen blocks (weights *and* BatchNorm
# statistics) did not move, that `block3` did, and compares the test accuracy with the reference.

# %%
# q4
finetuned_model = None
### BEGIN SOLUTION
train_5 = few_shot_subset(digits.pool, 5, seed=0)
finetuned_model = digits.make_model(True)
set_trainable(finetuned_model, ["block3", "head"])
fit(finetuned_model, train_5, epochs=75, lr=1e-3, batch_size=32, cosine=True, progress=False)
### END SOLUTION
finetuned_accuracy = evaluate(finetuned_model, digits.test)["accuracy"]
print(f"test accuracy {finetuned_accuracy:.1%}")

# %%
q4.check(finetuned_model)
# q4.hint()
# q4.solution()

# %% [markdown]
# ## q5 · Advise a colleague: how much to fine-tune? (2 points, graded by your instructor)
#
# A colleague will fine-tune a pretrained network on 5 labelled images per class of their own
# task, and asks how much of it to train: the head only, the last block and the head (as in q4),
# or every block at discriminative learning rates (as in q2)? Write your advice in `advice`, a
# string of a few sentences: a recommendation, your numbers that support it (quote them: how
# many parameters your q1 model trains, the test accuracy of your q4 model), and what one
# fine-tuning run does not tell you.
#
# Your instructor grades this answer, out of 2 points. `q5.check(advice)` only sees whether it
# is complete: at least 40 words, with at least one number quoted.

# %%
# q5
advice = None
### BEGIN SOLUTION
trained = sum(p.numel() for p in partial_model.parameters() if p.requires_grad)
total = sum(p.numel() for p in partial_model.parameters())
advice = (
    f"Fine-tune block3 and the head first: that trains {trained:,} of the {total:,} parameters "
    f"({trained / total:.0%}), fewer to fit to 5 labelled images per class than all of them, keeps the first "
    f"blocks as pretrained, and my q4 model reached {finetuned_accuracy:.1%} on the test digits that way. But I "
    f"measured no alternative here (the head only, or every block at the rates of q2), in one run on one seed, "
    f"so the accuracy alone does not show that this choice beats them: compare the three over several seeds on "
    f"a validation split before settling."
)
### END SOLUTION

# %%
q5.check(advice)
# q5.hint()
# q5.solution()
