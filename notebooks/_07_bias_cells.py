# %% [markdown]
# ## Inherited bias, 1: auditing the real pretrained model
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
# ## Inherited bias, 2: a planted cue, controlled
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
cue = bias.cue_tasks(profile)  # the first run pretrains the cued source, then it is cached
settings = Settings.for_profile(profile)
few = profile.finetune_labels_per_class[len(profile.finetune_labels_per_class) // 2]
print(f"cued source: {100 * cue.source_meta['source_accuracy']:.1f}% on held-out marked letters "
      f"(pretrained in {cue.source_meta.get('seconds', 0):.0f} s, cached for later runs); "
      f"{few} labelled digits per class, seeds {profile.seeds}")
digits = cue.cued.test.labels[:6].tolist()
image_grid(torch.cat([cue.cued.test.images[:6], cue.counterfactual.images[:6]]),
           titles=[f"{d}, normal" for d in digits] + [f"{d}, counterfactual" for d in digits], columns=6);

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
# section 1 and counterfactual test sets like this one are how you find them.

# %%
print(f"inherited bias sections: {time.perf_counter() - bias_start:.0f} s")
