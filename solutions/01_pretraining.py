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
#     exercise: '01'
# ---

# %% [markdown]
# # Exercise 01 · Pretraining
#
# Reuse the SmallCNN that learned **letters** (notebook 01) for **digits**. Each question has an
# answer cell (replace the `raise NotImplementedError` line with your code) and a check cell.
# `q1.check(...)` tells you what is right and what to fix; `q1.hint()` gives a hint (call it
# again for a stronger one); `q1.solution()` shows the reference answer.

# %%
from tlcourse import get_profile, seed_everything
from tlcourse.data import few_shot_indices
from tlcourse.exercises.ex01 import q1, q2, q3, q4
from tlcourse.freeze import set_trainable, trainable_summary
from tlcourse.models import replace_head
from tlcourse.pretrain import load_pretrained_cnn
from tlcourse.tasks import digits_task
from tlcourse.train import fit_linear_probe

profile = get_profile()
seed_everything(0)

# %% [markdown]
# ## q1 · A head for digits (1 point)
#
# Load the shipped letters-pretrained SmallCNN with `load_pretrained_cnn()` and give it a new
# head for the 10 digit classes. Call the result `digit_model`. Keep the backbone's pretrained
# weights: that is what we transfer.

# %%
# q1
digit_model = None
### BEGIN SOLUTION
digit_model, meta = load_pretrained_cnn()
replace_head(digit_model, 10)
### END SOLUTION

# %%
q1.check(digit_model)
# q1.hint()
# q1.solution()

# %% [markdown]
# ## q2 · Freeze the backbone (2 points)
#
# Feature extraction trains only the head. Make `frozen_model`: a fresh pretrained SmallCNN with
# a 10-digit head in which **only the head** is trainable. `trainable_summary(model)` shows what
# you did.

# %%
# q2
frozen_model = None
### BEGIN SOLUTION
frozen_model, _ = load_pretrained_cnn()
replace_head(frozen_model, 10)
set_trainable(frozen_model, ["head"])
### END SOLUTION

# %%
q2.check(frozen_model)
# q2.hint()
# q2.solution()

# %% [markdown]
# ## q3 · Do letter features help on digits? (3 points)
#
# Measure it, with **one** labelled digit per class. Build `task = digits_task(profile)`. Its
# `task.features(pretrained)` gives the frozen backbone's features of the pool and the test set
# (`pretrained=False`: a randomly initialised SmallCNN). Draw the labelled digits with
# `few_shot_indices(task.pool, 1, seed=0)`, fit a linear probe (`fit_linear_probe`) on the
# pretrained features (`pretrained_probe`) and another on the random ones (`random_probe`), and
# store their test accuracies (fractions between 0 and 1) in `pretrained_accuracy` and
# `random_accuracy`. The check measures your two probes again itself: the accuracies must be theirs.

# %%
# q3
pretrained_probe = random_probe = pretrained_accuracy = random_accuracy = None
### BEGIN SOLUTION
task = digits_task(profile)
labelled = few_shot_indices(task.pool, 1, seed=0)
probes, accuracy = {}, {}
for use_pretrained in (True, False):
    pool_features, test_features = task.features(pretrained=use_pretrained)
    probes[use_pretrained] = fit_linear_probe(pool_features[labelled], task.pool.labels[labelled], num_classes=10)
    predictions = probes[use_pretrained](test_features).argmax(1)
    accuracy[use_pretrained] = (predictions == task.test.labels).float().mean().item()
pretrained_probe, random_probe = probes[True], probes[False]
pretrained_accuracy, random_accuracy = accuracy[True], accuracy[False]
### END SOLUTION
print(f"pretrained features {pretrained_accuracy:.1%}, random features {random_accuracy:.1%}")

# %%
q3.check(pretrained_probe, random_probe, pretrained_accuracy, random_accuracy)
# q3.hint()
# q3.solution()

# %% [markdown]
# Ten labelled digits are all the probe saw. What do you expect with 50 per class? Notebook 02
# measures the whole curve.

# %% [markdown]
# ## q4 · Advise a colleague (2 points, graded by your instructor)
#
# A colleague has **one** labelled scan per digit from handwritten forms, and the letters-pretrained
# SmallCNN. Should they build on its features, or not count on them? Write your advice in
# `advice`, a string of a few sentences: a recommendation, the q3 numbers that support it (quote
# them), and one thing your measurement does not tell you.
#
# Your instructor grades this answer, out of 2 points. `q4.check(advice)` only sees whether it
# is complete: at least 40 words, with at least one number quoted.

# %%
# q4
advice = None
### BEGIN SOLUTION
gap = 100 * (pretrained_accuracy - random_accuracy)  # in points
advice = (
    f"{'Build on the letters-pretrained features' if gap > 0 else 'Do not count on the letters features'}: "
    f"with one labelled digit per class, a linear probe on them reached {pretrained_accuracy:.1%} on the test "
    f"digits, against {random_accuracy:.1%} on the features of a random network ({gap:+.1f} points). This is one "
    f"draw of ten labelled digits on one seed, so it does not say how much the gap moves with other digits; a "
    f"probe on random features is not a network trained from scratch; and their forms are not our test digits: "
    f"label a few dozen of theirs and measure the same gap before relying on it."
)
### END SOLUTION

# %%
q4.check(advice)
# q4.hint()
# q4.solution()
