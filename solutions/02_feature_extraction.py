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
#     exercise: '02'
# ---

# %% [markdown]
# # Exercise 02 · Feature extraction
#
# A frozen backbone turns each image into a feature vector; a linear head on top is all that
# learns. Answer in the cells marked `# qN` (replace the `raise NotImplementedError` line), then
# run the check below each. `qN.hint()` helps, `qN.solution()` shows the reference answer.

# %%
import torch
import torch.nn.functional as F
from tlcourse import cache_dir, get_profile, seed_everything
from tlcourse.data import few_shot_indices
from tlcourse.exercises.ex02 import q1, q2, q3
from tlcourse.experiments import Settings, compare, summarize, validation_task
from tlcourse.tasks import digits_task
from tlcourse.train import extract_features

profile = get_profile()
settings = Settings.for_profile(profile)
seed_everything(0)
digits = digits_task(profile)  # letters-pretrained SmallCNN -> real handwritten digits
print(f"pool {len(digits.pool)} images, test {len(digits.test)} images")

# %% [markdown]
# ## q1 · Compute the features once (1 point)
#
# Running the backbone is the expensive part; the head trains in milliseconds. Extract the
# features of `digits.pool` with the frozen pretrained backbone (`digits.make_model(True)`)
# **once**, saving them to `feature_file`, so that every later head reads them from disk.

# %%
# q1
feature_file = cache_dir() / "ex02_pool_features.pt"
pool_features = None
### BEGIN SOLUTION
feature_file.unlink(missing_ok=True)  # start fresh: the file is written by extract_features
pool_features = extract_features(digits.make_model(True), digits.pool, cache=feature_file)
### END SOLUTION
print(tuple(pool_features.shape), feature_file.exists())

# %%
q1.check(feature_file, pool_features)
# q1.hint()
# q1.solution()

# %% [markdown]
# ## q2 · Write the linear probe yourself (2 points)
#
# Write `train_probe(features, labels, num_classes)`: it returns a trained model that maps
# `(N, 256)` features to `(N, num_classes)` class scores, with a **single linear layer** (a
# linear probe is logistic regression). The check trains it on 5 labelled digits per class and
# compares its test accuracy with the course's `fit_linear_probe`.

# %%
# q2
train_probe = None
### BEGIN SOLUTION
class Standardized(torch.nn.Module):
    """Standardise the features with the training set's mean and std, then one linear layer."""

    def __init__(self, features, num_classes):
        super().__init__()
        self.register_buffer("mean", features.mean(0))
        self.register_buffer("std", features.std(0) + 1e-6)
        self.linear = torch.nn.Linear(features.shape[1], num_classes)

    def forward(self, features):
        return self.linear((features - self.mean) / self.std)


def train_probe(features, labels, num_classes, steps=300):
    torch.manual_seed(0)
    probe = Standardized(features, num_classes)
    optimizer = torch.optim.Adam(probe.parameters(), lr=0.01, weight_decay=1e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(probe(features), labels).backward()
        optimizer.step()
    return probe.eval()
### END SOLUTION


# %%
q2.check(train_probe)
# q2.hint()
# q2.solution()

# %% [markdown]
# ## q3 · One label per class: probe or scratch? (3 points)
#
# A colleague has **one** labelled digit per class and asks whether to train the SmallCNN from
# scratch or to put a linear probe on the frozen letters features. Do not guess: measure both
# with `compare` over the profile's seeds (`profile.seeds`), keep the table in `results`, and
# set `best_strategy` to the strategy your measurement supports (`"scratch"` or `"linear_probe"`).
#
# Measure on a **validation split**, not on the test set: `validation_task(digits)` holds out
# some pool digits of every class and scores every run on them. A choice made on the test set
# has looked at the test set, and its accuracy there is no longer an honest final number. The
# check repeats every run of your table itself, so the numbers must come from your own `compare`.

# %%
# q3
results = best_strategy = None
### BEGIN SOLUTION
results = compare(validation_task(digits), ["scratch", "linear_probe"], [1], profile.seeds, settings)
best_strategy = results.groupby("strategy")["accuracy"].mean().idxmax()
### END SOLUTION
summarize(results)[["strategy", "labels_per_class", "accuracy_mean", "accuracy_std", "runs"]]

# %%
q3.check(results, best_strategy)
# q3.hint()
# q3.solution()

# %% [markdown]
# Now, and only now, the chosen strategy's test accuracy is the honest final number:
# `compare(digits, [best_strategy], [1], profile.seeds, settings)`. Would you give the same
# advice with 50 labels per class? Notebook 02's data-efficiency
# curve says where the answer changes.
