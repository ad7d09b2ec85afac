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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tlcourse/tlcourse/blob/main/notebooks/04_nlp_transfer.ipynb) On Colab, run `%pip install "tlcourse @ git+https://github.com/tlcourse/tlcourse@main"` in a new cell first.
#
# # 04 · NLP transfer: a pretrained language model on real tweets
#
# Language models learn from huge amounts of *unlabelled* text by predicting words:
#
# * **BERT** (Devlin et al., 2019) and **RoBERTa** (Liu et al., 2019) are *encoders*: they read
#   the whole sentence in both directions and learn to fill in masked words;
# * **GPT** models (Radford et al., 2018, 2019) are *decoders*: they read left to right and
#   learn to predict the next word.
#
# To predict words well, a model must learn what words mean in their context, and that
# knowledge transfers. Adapting it to a task such as **sentiment analysis** is the move of
# notebooks 02 and 03: keep the pretrained body, put a small head on top, and either freeze
# the body (feature extraction) or let it learn (fine-tuning).
#
# Offline, our pretrained model is **all-MiniLM-L6-v2**: a 6-layer BERT (22.7M parameters),
# distilled from a larger one (trained to reproduce the larger model's outputs) and then trained
# *contrastively* on a very large collection of sentence pairs (a question and its answer, a post
# and its title) to give similar vectors to sentences with similar meanings. That second training is why its frozen sentence vectors make
# such a strong probe below: do not expect the same of a plain BERT, whose averaged token vectors
# were never trained to be compared (online, the last section lets you try `bert-base-uncased`).
# The target: **real tweets** that crowd workers labelled negative or
# positive. On the same labelled tweets we compare:
#
# | strategy | what learns | pretrained? |
# | --- | --- | --- |
# | `tfidf_logreg` | logistic regression on word and word-pair counts (TF-IDF) | no |
# | `scratch` | a small transformer, every weight from random | no |
# | `linear_probe` | logistic regression on frozen MiniLM sentence vectors | yes, frozen |
# | `finetune_all` | MiniLM with a new head, every layer | yes |
# | `finetune_last_k` | MiniLM with a new head, only its last `k=3` blocks: the top 2 layers and the head | yes |
#
# **TF-IDF** (term frequency times inverse document frequency) describes a tweet by its words
# and word pairs: each scores higher the more often it occurs in the tweet and lower the more
# tweets contain it, so "the" counts for little and "delayed" for much. It knows nothing about a
# word it has not seen in the labelled tweets: the classic baseline with no pretraining.
#
# **You will be able to**
#
# * turn text into token ids with a pretrained tokenizer and embed sentences with a frozen
#   language model, cheaply (dynamic padding, a cache);
# * compare a probe on frozen sentence vectors with a bag of words and a transformer trained from
#   scratch, across label budgets;
# * freeze transformer layers with the same helpers as for CNNs, and weigh fine-tuning all layers
#   or the top two against the frozen probe, in accuracy and in cost;
# * use sentence vectors with no training at all, for answer retrieval and one-sentence
#   summaries, against word-matching baselines.
#
# **Before you start**: notebooks 02 and 03 (the linear probe, data-efficiency curves, the freeze
# helpers and FreezePanel, discriminative learning rates). No NLP background is needed. The last
# section needs a network connection; offline, its cells say what to do instead.
#
# **Time**: a few minutes on a laptop CPU in the `cpu` profile, longer the first time, while
# MiniLM embeds the tweets and caches them (the README's Notebooks table lists the measured
# time with an empty cache); seconds in the `smoke` profile.

# %%
import time
import pandas as pd
from tlcourse import get_profile, seed_everything
from tlcourse.data import few_shot_indices
from tlcourse.errors import OfflineError
from tlcourse.experiments import accuracy_table, compare, describe, summarize
from tlcourse.freeze import last_blocks, set_trainable, trainable_summary
from tlcourse.nlp import embedding_speed, text_settings, text_task
from tlcourse.plots import data_efficiency
from tlcourse.widgets import FreezePanel

profile = get_profile()
settings = text_settings(profile)
seed_everything(0)
task = text_task("tweets", model="minilm", profile=profile)
print(f"profile {profile.name}: pool {len(task.pool)} tweets, test {len(task.test)} tweets (both half "
      f"negative, half positive); budgets {[2 * n for n in profile.text_labels_per_class]} labelled "
      f"tweets in all ({profile.text_labels_per_class} per class); seeds {profile.seeds}")

# %% [markdown]
# ## The data: real tweets
#
# About 38,000 tweets on self-driving cars, US airlines, festivals and more, labelled by
# CrowdFlower workers. Neutral tweets are dropped, retweets and copies removed (22,035 left,
# 70% negative). A fixed, balanced test set is held out; each run draws its labelled tweets,
# half of each class, from the rest (the *pool*). Chance is 50%.

# %%
sample = few_shot_indices(task.pool, 3, seed=0)
pd.DataFrame({"tweet": [task.pool.texts[i] for i in sample],
              "label": [task.pool.classes[task.pool.labels[i]] for i in sample]})

# %% [markdown]
# ## From text to tokens
#
# A transformer reads **token ids**. MiniLM's **tokenizer** (the fixed procedure, shipped with the
# model, that turns text into the ids it was trained on) splits text into WordPiece tokens from
# a 30,522-entry vocabulary learned along with the model: frequent words stay whole, rare ones
# break into pieces (`##` marks a continuation). `[CLS]` and `[SEP]` open and close every text.
# A batch must be a rectangle, so shorter texts are filled with `[PAD]`; the **attention mask**
# (1 = real token, 0 = padding) tells the model to ignore the filling.

# %%
examples = [task.test.texts[0], task.test.texts[len(task.test) // 2]]  # the shortest, a typical one
batch = task.encoder.tokenize(examples, max_length=task.max_length)
for ids in batch["input_ids"]:
    print(task.encoder.tokenizer.convert_ids_to_tokens(ids))
print(batch["attention_mask"])

# %% [markdown]
# ### Dynamic padding, measured
#
# Padding every batch to the longest *possible* text (here 64 tokens) makes the model compute
# on `[PAD]` tokens that are then thrown away, and most tweets are far shorter. The encoder
# instead sorts texts by length and pads each batch only to *its own* longest text, and runs
# under `torch.inference_mode()`, which skips the bookkeeping that training would need. Same
# vectors, less work:

# %%
lengths = (task.token_ids("pool") != task.encoder.tokenizer.pad_token_id).sum(dim=1).float()
print(f"pool tweets: {lengths.mean():.0f} tokens on average, {lengths.max():.0f} at most")
speed = embedding_speed(task.encoder, task.pool.texts[:256], max_length=task.max_length)
for way, rate in speed.items():
    print(f"{way:>22}: {rate:6.0f} sentences/s")
print(f"dynamic padding embeds {speed['dynamic_padding'] / speed['padded_to_max_length']:.1f}x as many "
      "sentences per second on this machine")

# %% [markdown]
# ## Feature extraction: embed every tweet once
#
# An **embedding** is a vector of numbers that stands for a token or a whole text, learned so
# that related meanings get nearby vectors; to *embed* a tweet is to compute its vector.
# The frozen probe needs one vector per tweet: the mean of MiniLM's last-layer token vectors
# (384 numbers). They are computed once for the pool and the test set and **cached on disk**
# (`cached_embeddings`), so every probe below, and a re-run of this notebook, reads them back.

# %%
start = time.perf_counter()
pool_vectors, test_vectors = task.embeddings(progress=True)
print(f"embeddings {tuple(pool_vectors.shape)} and {tuple(test_vectors.shape)} ready in "
      f"{time.perf_counter() - start:.1f} s (a first run computes them; later runs read the cache)")

# %% [markdown]
# ## Bag of words vs scratch vs the frozen probe, across label budgets
#
# Each strategy sees the same labelled tweets for a given budget and seed. TF-IDF and the probe
# are logistic regressions fitted to convergence; the scratch transformer trains for a fixed
# number of steps whatever the budget. The table shows test accuracy (%) as mean ± std over
# seeds, and the wall time of one run. The largest budget is the whole pool, so there every
# seed fits TF-IDF and the probe to the same tweets (std 0).

# %%
results = compare(task, ["tfidf_logreg", "scratch", "linear_probe"], profile.text_labels_per_class,
                       profile.seeds, settings)
accuracy_table(results, budget="labels")

# %% [markdown]
# ### Which tweets does the probe get wrong?
#
# The probe trained on the second budget's labels (seed 0), and the test tweets it misreads. Read
# them and sort them yourself: is it sarcasm, mixed feelings, a negation, or a label you would
# dispute? A pattern in the mistakes says what to collect or label next; a label you would
# dispute says how far any model can get on this data.

# %%
from tlcourse.plots import confusion_matrix
from tlcourse.train import fit_linear_probe

pool_vectors, test_vectors = task.features(pretrained=True)
chosen = few_shot_indices(task.pool, profile.text_labels_per_class[1], seed=0)
probe = fit_linear_probe(pool_vectors[chosen], task.pool.labels[chosen], task.num_classes, C=settings.C)
predicted = probe(test_vectors).argmax(1)
confusion_matrix(task.test.labels, predicted, task.test.classes,
                 title=f"MiniLM probe, {profile.text_labels_per_class[1]} labels per class")
wrong = (predicted != task.test.labels).nonzero().flatten()
pd.DataFrame({"tweet": [task.test.texts[i] for i in wrong[:10]],
              "label": [task.test.classes[task.test.labels[i]] for i in wrong[:10]],
              "probe says": [task.test.classes[predicted[i]] for i in wrong[:10]]})

# %% [markdown]
# ## Freezing transformer layers
#
# The same freeze helpers as for the CNNs name MiniLM's blocks from input to output:
# `embeddings` (token and position vectors), `layer0` ... `layer5` (the transformer layers)
# and `head` (our new linear layer). `finetune_last_k` with `k=3` trains only the last three
# blocks: the top two layers and the head; everything below keeps its pretrained weights and needs no backward pass.
#
# Frozen layers also give the same output for a tweet at every step, so the runner computes
# them **once**: the token vectors coming out of `layer3` are kept for the run's labelled tweets
# (and for the test set, once for the whole notebook), and only `layer4`, `layer5` and the head
# run, forward and backward, at each step (`tlcourse.prefix`). Same training, less work; the
# one difference is that the frozen layers run in eval mode, without dropout.

# %%
model = task.make_model(pretrained=True)
set_trainable(model, last_blocks(model, settings.k))
trainable_summary(model)

# %% [markdown]
# ### Try it: the FreezePanel on MiniLM
#
# The panel of notebook 03 works on any model the freeze helpers can name. Toggle layers,
# pick a learning rate and press **Train**. The panel starts at 1e-3 for every layer you
# unfreeze; the comparisons below give the new head 1e-3 and halve the rate at each layer below
# it, so the lowest layers learn at under 2e-5. BERT-family models are usually fine-tuned at
# 2e-5 to 5e-5 for every layer (Devlin et al., 2019), over a few epochs of thousands of examples;
# here the CPU budget is a few dozen steps, and the head starts from random weights with only
# those steps to learn: try 2e-5 in the panel and compare its curve with 1e-3's. Each run
# fine-tunes a fresh copy of MiniLM on the labelled tweets of the smallest fine-tuning budget below (100 per class in the `cpu` profile), for the same number
# of steps as those runs, and draws its **validation** curve on 50 other pool tweets per class.
# The test set stays out of it: it is kept for the final numbers of the comparisons. Every
# epoch is a few seconds per trainable layer on a laptop CPU.

# %%
panel = FreezePanel.from_task(task, profile.text_finetune_labels_per_class[0], 50, scratch=False,
                              steps=settings.steps, lr=1e-3, batch_size=16)
panel

# %% [markdown]
# ## Fine-tuning: all layers vs the top two
#
# Fine-tuning a 22.7M-parameter transformer costs far more than a probe, so it runs at fewer
# budgets (`profile.text_finetune_labels_per_class`), for a fixed number of steps, with a learning rate
# that halves at every block below the head (the discriminative rates of notebook 03): the
# new head learns fast, the pretrained layers move gently.

# %%
finetuned = compare(task, ["finetune_all", "finetune_last_k"], profile.text_finetune_labels_per_class,
                    profile.seeds, settings)
everything = pd.concat([results, finetuned])
accuracy_table(everything, budget="labels")

# %%
seconds = finetuned.groupby("strategy")["seconds"].mean()
print(f"one run: every layer {seconds['finetune_all']:.0f} s, top two layers on the cached frozen "
      f"output {seconds['finetune_last_k']:.0f} s ({seconds['finetune_all'] / seconds['finetune_last_k']:.1f}x "
      "faster, testing included)")

# %%
data_efficiency(summarize(everything), title="sentiment of tweets: pretrained MiniLM vs from scratch");

# %%
print(describe(everything, "linear_probe", "tfidf_logreg"))
print()
print(describe(everything, "linear_probe", "scratch"))
print()
print(describe(everything, "finetune_all", "linear_probe"))
print()
print(describe(everything, "finetune_last_k", "finetune_all"))

# %% [markdown]
# ## What the measurements say
#
# Measured with the `cpu` profile (pool of 5,000 tweets, 1,000 test tweets, seeds 0-2; budgets
# are labelled tweets in all, half per class; the x axis of the plot counts labels per class):
#
# * **With few labels, the pretrained model wins.** With 50 labelled tweets the frozen MiniLM
#   probe beats TF-IDF by 6 points (74.4% vs 68.4%), and by 4 with 200 (79.7% vs 75.7%). The
#   encoder brings what it learned about words from its pretraining text; a bag of words must
#   learn every word from the few labelled tweets it happens to see.
# * **Bag of words catches up as labels grow.** The gap shrinks to 1.5 points at 1,000 labels,
#   and at 5,000 TF-IDF is level with the probe (85.1% vs 84.7%). Enough labels teach the
#   sentiment words directly, while a linear head can only use what the frozen vectors hold.
# * **The scratch transformer needs even more labels.** It trails the probe by 7 points with 50
#   and with 200 labels (67.8% and 72.6%), yet with 5,000 it is level with both (84.8%).
# * **Fine-tuning all layers gave no gain over the frozen probe with 200 labels** (79.0% vs
#   79.7%; still 3 points above TF-IDF), and each run took far longer than a probe's: the
#   table's seconds per run compare them (a probe's leave out embedding the tweets, done once
#   for every probe and timed further up). With 200 noisy labels and a CPU-sized budget of 26
#   steps, fine-tuning did not improve on the pretrained features: here transfer paid through
#   the *features*. Whether it pays with more
#   labels and steps is not measured at this budget; the `gpu` profile fine-tunes with 50 to
#   5,000 labels and 300 steps per run.
# * **Top two layers vs all.** Training only `layer4`, `layer5` and the head (3.5M of 22.6M
#   parameters) on the frozen layers' cached output made a run faster (the ratio for this
#   run is printed above the plot): the frozen layers ran once instead of at every step, and
#   no backward pass went below `layer4`. The table shows what it cost in
#   accuracy at 200 labels in this run.
# * **Dynamic padding** embeds more tweets per second than padding every batch to 64 tokens:
#   this run's ratio is printed above (`benchmarks/text_costs.py` measures it on your machine).

# %% [markdown]
# ## Offline: answering questions and summing up, with the same MiniLM
#
# Sentence vectors do more than feed a classifier. Without any training at all:
#
# * **answer retrieval** (extractive question answering at the level of sentences): embed the
#   question and every sentence of a passage, and answer with the sentence nearest in meaning;
# * **extractive summary** (the centroid method): embed every sentence and keep the one nearest
#   their mean, the most typical sentence of the passage.
#
# The course wrote twelve short passages with three questions each and marked, for every
# passage, the sentence that sums it up (`tlcourse.data.passages`). Some questions reuse a word
# of their answer, others ask in other words ("Can I take my bike on board?" for a sentence about
# bicycles): the table splits them, mechanically, by shared words. The baselines count words
# only: TF-IDF vectors in place of MiniLM's, and for summaries, the first sentence.

# %%
from tlcourse.data.passages import PASSAGES
from tlcourse.nlp_apps import central_sentence, retrieval_comparison, retrieve_answer

passage = PASSAGES[2]["sentences"]
question = "Can I take my bike on board?"
print("MiniLM:", passage[retrieve_answer(question, passage, task.encoder)])
print("TF-IDF:", passage[retrieve_answer(question, passage)])
retrieval_comparison(task.encoder)

# %% [markdown]
# Read the table (accuracy in percent; `items` counts what each row scores; the numbers are
# printed above and do not depend on a seed, since nothing is trained):
#
# * When the question uses its answer's words, word matching already does well; when it asks
#   **in other words**, TF-IDF has nothing to match, while the pretrained vectors still place
#   "bike" near "bicycles": this is what pretraining on sentence pairs bought.
# * For **summaries**, the first sentence beats the centroid here. The course's passages, like
#   news articles, mostly open with the sentence that sums them up, and "most typical sentence"
#   is not the same thing as "summary". A strong, dumb baseline is worth running before any
#   model: summarisation research reports the first sentences ("lead") for exactly this reason.
#   `tests/test_claims_04.py` holds both findings.
#
# %% [markdown]
# ## Online: BERT, RoBERTa, DistilBERT, GPT-2, and other tasks
#
# With a network, the same code runs the models the field is built on: pass a Hugging Face
# name to `text_task` (`"distilbert-base-uncased"`, `"bert-base-uncased"`, `"roberta-base"`,
# `"gpt2"`, or any Hub id) and an online data set (`"sst2"`: movie-review sentences, `"imdb"`:
# full reviews). GPT-2 works as a backbone too: the classifier averages its token vectors as it
# does MiniLM's, and the freeze helpers name its layers the same way. Downloads are cached, so
# the second time is offline. Without a network, each cell below prints what to do instead.

# %%
try:
    sst2 = text_task("sst2", model="distilbert-base-uncased", profile=profile)
    online = compare(sst2, ["tfidf_logreg", "linear_probe", "finetune_last_k"],
                     profile.text_finetune_labels_per_class, profile.seeds[:1], settings)
    display(accuracy_table(online, budget="labels"))
except OfflineError as err:
    print(err)

# %% [markdown]
# Pretrained language models do much more than classify. Three short demos with models that
# were fine-tuned for each job: **extractive question answering** (DistilBERT fine-tuned on
# SQuAD picks the span of the text that answers the question), **summarization** (T5-small,
# an encoder-decoder) and **generation** (GPT-2 continues a prompt, one sampled token at a time).

# %%
from tlcourse.nlp_apps import answer_question, generate_text, summarize_text

article = ("Transfer learning reuses a model trained on one task as the starting point for another. "
           "Language models such as BERT and GPT-2 are pretrained on billions of words of text, then "
           "fine-tuned with a few thousand labelled examples, which is far cheaper than training from "
           "scratch and usually more accurate when labels are scarce.")
demos = {
    "question answering": lambda: answer_question("What are language models pretrained on?", article),
    "summarization": lambda: summarize_text(article),
    "generation": lambda: generate_text("Transfer learning is"),
}
for name, demo in demos.items():
    try:
        print(f"{name}: {demo()}")
    except OfflineError as err:
        print(f"{name}: not run. {err}")

# %% [markdown]
# ## What we measured
#
# Every number above was computed in this run; `tests/test_claims_04.py` re-measures the
# statements under *What the measurements say* with the `cpu` profile's settings and fixed
# seeds.
#
# ### Takeaways
#
# * With few labels, the probe on frozen MiniLM vectors beat both the bag of words and the
#   transformer trained from scratch; with the largest budget all three were level.
# * Fine-tuning every layer, with a CPU-sized number of steps, gave no gain over the frozen probe
#   at a far higher cost per run; training only the top two layers on the frozen layers' cached
#   output made a run cheaper.
# * What is frozen need only be computed once and reused (the cached embeddings, the cached
#   output of the frozen layers), and dynamic padding skips the work on padding: that is where
#   the CPU time goes down.
# * With no training, MiniLM's vectors found answers asked in other words that word matching
#   missed, while the first sentence summed a passage up better than the most central one: run
#   the simple baseline before the model.
#
# ### Try this
#
# Predict first, then run and check:
#
# 1. Weaken the probe's regularisation (its `C` is small by default, chosen by cross-validation
#    on pool tweets): rerun the probe alone with `compare(task, ["linear_probe"],
#    profile.text_labels_per_class, profile.seeds, text_settings(profile, C=1.0))`. At which
#    budgets does it help, and at which does it hurt?
# 2. Give fine-tuning more steps: `text_settings(profile, steps=100)` in the fine-tuning
#    comparison (a run takes longer, the more steps it has). Does `finetune_all` now beat the frozen
#    probe, or was the number of steps not what held it back?
# 3. Train one layer fewer: `text_settings(profile, k=2)` leaves only the top layer and the head
#    to `finetune_last_k`. Which moves more, its accuracy or its seconds per run?
#
# With a network, run the same comparison on SST-2 with `text_task("sst2", model="roberta-base",
# profile=profile)`.

# %% [markdown]
# ## Practice
#
# `exercises/04_nlp_transfer.ipynb` has three questions: freeze all but the top two transformer
# layers, probe the cached MiniLM embeddings with 100 labelled tweets, and choose between the
# bag of words and the pretrained encoder by measuring. Each answer is checked as you go
# (`q1.check(...)`), with hints (`q1.hint()`) and the reference solution (`q1.solution()`).
