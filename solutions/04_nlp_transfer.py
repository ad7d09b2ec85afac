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
#     exercise: '04'
# ---

# %% [markdown]
# # Exercise 04 · NLP transfer
#
# A pretrained sentence encoder (all-MiniLM-L6-v2, a 6-layer BERT) against a bag of words, on
# real tweets (negative vs positive). Answer in the cells marked `# qN` (replace the
# `raise NotImplementedError` line), then run the check below each. `qN.hint()` helps,
# `qN.solution()` shows the reference answer.

# %%
from tlcourse import get_profile, seed_everything
from tlcourse.data import few_shot_indices
from tlcourse.exercises.ex04 import q1, q2, q3
from tlcourse.experiments import compare, validation_task
from tlcourse.freeze import last_blocks, named_blocks, set_trainable, trainable_summary
from tlcourse.nlp import text_settings, text_task
from tlcourse.train import fit_linear_probe

profile = get_profile()
seed_everything(0)
task = text_task(profile=profile)  # MiniLM -> tweets: a balanced pool and test set
print(f"pool {len(task.pool)} tweets, test {len(task.test)} tweets; blocks {list(named_blocks(task.make_model(True)))}")

# %% [markdown]
# ## q1 · Only the top of the transformer learns (1 point)
#
# `task.make_model(True)` is MiniLM with a new two-class head. Make `top_model`: such a model in
# which only the **top two transformer layers** (`layer4`, `layer5`) and the head can learn;
# the embeddings and `layer0`-`layer3` stay frozen.

# %%
# q1
top_model = None
### BEGIN SOLUTION
top_model = task.make_model(True)
set_trainable(top_model, last_blocks(top_model, 3))  # layer4, layer5 and the head
### END SOLUTION
trainable_summary(top_model)

# %%
q1.check(top_model)
# q1.hint()
# q1.solution()

# %% [markdown]
# ## q2 · Embed once, then a linear probe (2 points)
#
# Take the frozen encoder's sentence embeddings of the pool and of the test set from
# `task.embeddings()` (computed once, then read from the cache) and keep the pool's in
# `pool_embeddings`. Fit a linear probe (`fit_linear_probe`) on **100** labelled tweets,
# `few_shot_indices(task.pool, 50, seed=0)` (50 per class), with notebook 04's regularisation
# `C=text_settings(profile).C` (strong: chosen by cross-validation on pool tweets, because a
# probe on 384 dimensions overfits a hundred tweets), keep it in `probe`, and store its test
# accuracy (a fraction) in `probe_accuracy`. The check measures your probe itself.

# %%
# q2
pool_embeddings = probe = probe_accuracy = None
### BEGIN SOLUTION
pool_embeddings, test_embeddings = task.embeddings()
labelled = few_shot_indices(task.pool, 50, seed=0)
probe = fit_linear_probe(pool_embeddings[labelled], task.pool.labels[labelled], C=text_settings(profile).C)
probe_accuracy = (probe(test_embeddings).argmax(1) == task.test.labels).float().mean().item()
### END SOLUTION
print(f"{tuple(pool_embeddings.shape)} embeddings; probe accuracy {probe_accuracy:.1%}")

# %%
q2.check(pool_embeddings, probe, probe_accuracy)
# q2.hint()
# q2.solution()

# %% [markdown]
# ## q3 · Bag of words or pretrained encoder? (3 points)
#
# With 100 labelled tweets, should a team use TF-IDF + logistic regression (`tfidf_logreg`) or
# the probe on MiniLM embeddings (`linear_probe`)? Measure both with `compare` (50 labels per
# class) over the profile's seeds, keep the table in `results`, and set `best_strategy` to what the
# measurement supports. Measure on a validation split of the pool, `validation_task(task)`, not on
# the test set: the check repeats every run of your table itself.

# %%
# q3
results = best_strategy = None
### BEGIN SOLUTION
results = compare(validation_task(task), ["tfidf_logreg", "linear_probe"], [50], profile.seeds,
                  text_settings(profile))
best_strategy = results.groupby("strategy")["accuracy"].mean().idxmax()
### END SOLUTION
results[["strategy", "labels", "seed", "accuracy"]]

# %%
q3.check(results, best_strategy)
# q3.hint()
# q3.solution()

# %% [markdown]
# Notebook 04 measures the same question from 50 to 5,000 labels: where does the bag of words
# catch up?
