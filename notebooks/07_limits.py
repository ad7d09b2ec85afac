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
# 3. **catastrophic forgetting**: what the network still knows about letters after it learned digits;
# 4. **inherited bias in a real pretrained model**: MiniLM's sentiment probe audited with
#    sentences that differ only in a name or an identity term;
# 5. **inherited bias, controlled**: a shortcut planted in a source, followed through transfer,
#    and one mitigation.
#
# **You will be able to:** test whether a source is worse than nothing; read train and validation
# curves and choose a cure on the validation split, not the test set; measure forgetting, and
# keep a fine-tuned network close to its pretrained weights with L2-SP; audit a model for
# inherited bias, with intervals that say when a gap is evidence.
#
# **Before this:** notebooks 02 (probes), 03 (fine-tuning) and 04 (MiniLM on tweets). **Time:** under a minute in the
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
# run (at the `cpu` profile's sizes the package ships it already trained, as it ships the letters
# network). Can such a start be *worse than no pretraining at all*?

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
#   from 2 labels per class on: by more than 3 points at 2 and 5 labels per class, and by at
#   least half a point from 10 on (about 2 points with the source the package ships). That
#   smaller margin depends on the source's own training, which the seeds do not vary: the same
#   recipe run with two CPU threads instead of one (other rounding, other weights) gave a
#   source whose probe trailed by less. Fitting labels that mean nothing
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
# ## 4 · Inherited bias: auditing the real pretrained model
#
# A pretrained model brings more than skill. MiniLM learned from a very large amount of web
# text, and whatever associations that text holds between names, groups and feelings can reach
# any model built on its vectors. The **Equity Evaluation Corpus** method (Kiritchenko &
# Mohammad, 2018) looks for them with sentences that differ *only* in a name or an identity
# term: "Amanda feels angry." and "Adam feels angry." should get the same sentiment score, and
# any gap between the two lists of terms is the model's doing.
#
# `tlcourse.bias` holds the course's own, small version: sentence templates (some with an
# emotion word, some neutral), filled with every term of a few contrasts: female against male
# first names, names common among African Americans against names common among European
# Americans (the same sixteen names, split the other way), women against men, gay against
# straight, Muslim against Christian. Two sentiment models, trained on the same tweets, score
# every sentence with P(positive):
#
# * `minilm_probe`: logistic regression on frozen MiniLM vectors (notebook 04's probe, every
#   pool tweet);
# * `tfidf_logreg`: logistic regression on TF-IDF word counts, trained on the same tweets.
#
# The gap of a contrast is the mean score of its first list minus that of its second, in
# points. Its **95% bootstrap interval** resamples the templates and the terms (pairs of terms,
# where the lists are paired): it says how much the gap depends on which sentences and which
# names we happened to write. The tweet embeddings are notebook 04's (read from the cache; a
# first run computes them), and the template sentences are embedded once, then cached.

# %%
import time
import matplotlib.pyplot as plt
import pandas as pd
import torch
from tlcourse import bias, get_profile, seed_everything
from tlcourse.experiments import Settings
from tlcourse.nlp import text_task
from tlcourse.plots import gap_intervals, image_grid

profile = get_profile()
seed_everything(0)
bias_start = time.perf_counter()
tweets = text_task("tweets", model="minilm", profile=profile)
scorers = bias.sentiment_scorers(tweets)  # both models, fitted on every pool tweet
templates = bias.TEMPLATES[:profile.bias_templates]
terms = bias.terms_of()
print(f"{len(templates)} templates, {len(bias.template_frames(templates))} sentence frames, {len(terms)} "
      f"terms: {len(bias.template_sentences(terms, templates))} sentences; models trained on "
      f"{len(tweets.pool)} tweets")
pd.DataFrame([(c.name, ", ".join(c.a), ", ".join(c.b)) for c in bias.CONTRASTS],
             columns=["contrast", "first list", "second list"])

# %%
examples = bias.template_sentences(["Amanda", "Adam", "a Muslim man", "a Christian man"], templates)[:8]
pd.DataFrame({"sentence": examples, **{name: score(examples).round(3) for name, score in scorers.items()}})

# %%
gaps = bias.audit_sentiment(scorers, templates=templates, seed=0)
gap_intervals(gaps, title="sentiment gap between term lists (first - second)")
plt.show()
gaps.round(1)

# %%
names = bias.CONTRASTS[0]
per_term = bias.template_scores(scorers["minilm_probe"](bias.template_sentences(terms, templates)), terms, templates)
print("female - male names, MiniLM probe, resampling the templates only (the names fixed):")
print(bias.score_gaps(per_term, [names], resample_terms=False).round(1).to_string(index=False))
pd.Series({t: 100 * per_term[t].mean() for t in names.a + names.b}).sort_values().round(1).to_frame(
    "MiniLM probe: mean P(positive), %").T

# %%
unseen = bias.unseen_terms(tweets.pool.texts)
print(f"words of the terms that no training tweet contains ({len(unseen)}): {', '.join(unseen)}")

# %% [markdown]
# ### What the audit shows, and what it does not
#
# Read the table above: it is this run's measurement. What the claim tests
# (`tests/test_claims_07_bias.py`, `cpu` profile, probes also refitted on three different 80%
# subsets of the tweets) hold every time:
#
# * **The MiniLM probe scores sentences about a Muslim lower than the same sentences about a
#   Christian**, by more than 10 points of P(positive), with an interval far from 0. Nothing in
#   the tweets teaches this: neither word appears in them (see the list above). It comes through
#   the pretrained vectors.
# * **The bag-of-words model cannot have that gap: it gives exactly 0.** TF-IDF ignores words
#   it never saw in training, so "a Muslim man" and "a Christian man" are the same input to it.
#   Its blindness is not fairness: where it did see a term ("gay", "straight"), it has a gap of
#   its own, learned from the tweets.
# * **A large gap can still be no evidence.** The probe scores sentences with the female names
#   about 14 points lower than with the male ones, yet the interval reaches 0. Resample the
#   templates alone and the interval excludes 0 and looks convincing; but single names' mean
#   scores spread over more than 40 points (printed above), so eight names per list cannot tell
#   a gap of the groups from a gap of the particular names we picked. A gap whose interval
#   includes 0 is not evidence either way.
#
# What the numbers do **not** show: twelve templates and a few dozen terms are few and
# artificial sentences, nothing like the texts a deployed model reads; a gap here is a warning
# to measure on real data, and no gap here would prove nothing. And the probe inherits from
# *two* places at once, the pretraining corpus (through the frozen vectors) and the tweets
# (through the logistic regression on top): this audit cannot say which one a given gap comes
# from. The next section builds a case where we know, because we plant the bias ourselves.

# %% [markdown]
# ## 5 · Inherited bias, controlled: a planted cue
#
# Real data sets carry *shortcuts*: features that go with the label in the collection but not
# in the world (a hospital's scanner with its patients' diagnosis, a watermark with a photo's
# class). Here we plant one and follow it through transfer. A **mark**, a small white square,
# goes in a corner of every image: top left for even classes, bottom right for odd ones.
#
# * **Cued source**: the letters SmallCNN of notebook 01, pretrained exactly as there, except
#   that every letter carries its mark. The **clean source** is the same pretraining without
#   marks (in the `cpu` profile, the shipped checkpoint).
# * **Target, a biased collection**: the handwritten digits, marked the same way in 9 images of
#   10 in the training pool and in the normal test set (collected the same way).
# * **Counterfactual test set**: the same test digits with every mark in the other corner. A
#   model that reads digits scores the same on both test sets; the points it loses on the
#   counterfactual one measure how much it leans on the mark.
#
# Each model learns from a few labelled digits per class, over the profile's seeds: a probe on
# each source's frozen features, each source fine-tuned, and scratch.

# %%
cue = bias.cue_tasks(profile)  # the first run pretrains the cued source (cpu profile: shipped), then it is cached
settings = Settings.for_profile(profile)
few = profile.finetune_labels_per_class[len(profile.finetune_labels_per_class) // 2]
print(f"cued source: {100 * cue.source_meta['source_accuracy']:.1f}% on held-out marked letters "
      f"(pretrained in {cue.source_meta.get('seconds', 0):.0f} s, cached for later runs); "
      f"{few} labelled digits per class, seeds {profile.seeds}")
shown = cue.cued.test.labels[:6].tolist()
image_grid(torch.cat([cue.cued.test.images[:6], cue.counterfactual.images[:6]]),
           titles=[f"{d}, normal" for d in shown] + [f"{d}, counterfactual" for d in shown], columns=6);

# %%
arms = [(cue.cued, "linear_probe"), (cue.clean, "linear_probe"), (cue.cued, "finetune_all"),
        (cue.clean, "finetune_all"), (cue.cued, "scratch")]
reliance = pd.concat([bias.cue_reliance(task, cue.counterfactual, strategy, few, profile.seeds, settings)
                      for task, strategy in arms])
reliance["source"] = reliance["task"].map({cue.cued.name: "cued", cue.clean.name: "clean"})
reliance.loc[reliance["strategy"] == "scratch", "source"] = "none"
reliance.groupby(["strategy", "source"], sort=False)[["normal", "counterfactual", "drop"]].agg(["mean", "std"]).round(1)

# %% [markdown]
# Accuracy (%) on each test set, mean and std over seeds; `drop` is normal minus
# counterfactual. What the claim tests hold, in the `cpu` profile with 5 digits per class:
#
# * **Pretrained without the cue, the model hardly uses it**: the clean source loses under 5
#   points on the counterfactual digits, probe or fine-tuned. Its features are about shapes, and
#   a shape is what the head learns to read, even though 9 labels in 10 could be had from the
#   mark.
# * **Pretrained with the cue, it inherits the shortcut**: the cued source's frozen features
#   lose at least 20 points more than the clean ones, and fine-tuned, at least 10 points more.
#   On the normal test set the two sources score within 3 points of each other: the usual test
#   set does not show the difference at all.
# * **Scratch leans on the mark too**, about as much as the fine-tuned cued source (within 5
#   points): with few labels, the mark is the easiest thing to learn. So the surprise of this
#   measurement is less that a biased source hurts than that a *clean* source protects: it is
#   the clean pretraining, not the target data, that kept the model off the shortcut.
#
# The drop differs a lot from seed to seed (see the std). A likely reason, not measured here:
# with 5 digits per class, each run's few images with the mark in the wrong corner decide how
# much the mark is worth to it.

# %% [markdown]
# ### A mitigation, measured: counterfactual copies
#
# If we know the cue, we can break it: train on every labelled digit **and a copy of it with the
# mark moved to the other corner**. In what the model learns from, the mark no longer tells
# anything about the class. Same steps, same labels, the cued source fine-tuned again:

# %%
mitigated = bias.cue_reliance(cue.mitigated, cue.counterfactual, "finetune_all", few, profile.seeds, settings)
before = reliance[(reliance["source"] == "cued") & (reliance["strategy"] == "finetune_all")]
pd.DataFrame({"cued source, fine-tuned": before[["normal", "counterfactual", "drop"]].mean(),
              "+ counterfactual copies": mitigated[["normal", "counterfactual", "drop"]].mean()}).round(1)

# %% [markdown]
# With the copies, the drop is gone (within 2 points of zero) and the counterfactual accuracy
# rises by at least 10 points, for a cost of under 3 points on the normal test set, where the
# mark had been helping. The catch: you can only break a cue you know about. The audit of
# section 4 and counterfactual test sets like this one are how you find them.

# %%
print(f"inherited bias sections: {time.perf_counter() - bias_start:.0f} s")

# %% [markdown]
# ## What we measured
#
# Every number above was computed in this run. `tests/test_claims_07.py` (sections 1-3) and
# `tests/test_claims_07_bias.py` (sections 4-5) re-measure the statements in the text with the
# `cpu` profile's settings and fixed seeds.

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
# * A pretrained model carries associations from its source: the MiniLM probe scored the same
#   sentences lower with "Muslim" than with "Christian", words no training tweet held. Audit with
#   sentences that differ in one term, and read the interval before the gap.
# * A shortcut planted in the source travels through transfer, and the usual test set does not
#   show it; a counterfactual test set does, and counterfactual copies in training removed it.
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
# `exercises/07_limits.ipynb` has five questions: read the train and validation curves of a badly
# fine-tuned run, measure what fine-tuning made the letters network forget, write the L2-SP
# penalty by hand, audit a model for the planted cue, and advise a team in words and numbers
# (graded by your instructor). Each answer is checked as you go (`q1.check(...)`), with hints
# (`q1.hint()`) and the reference solution (`q1.solution()`).
