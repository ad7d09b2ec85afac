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
#     exercise: '06'
# ---

# %% [markdown]
# # Exercise 06 · Speech
#
# Spoken digits (synthetic speech, eSpeak NG), each clip one second at 16 kHz, become small
# images: log-mel spectrograms. You compute one by hand, freeze an ImageNet network to read
# them, and measure which source transfers better with 5 labels per class. Answer in the cells
# marked `# qN` (replace the `raise NotImplementedError` line), then run the check below each.
# `qN.hint()` helps, `qN.solution()` shows the reference answer.

# %%
import pandas as pd
import torch

from tlcourse import get_profile, seed_everything
from tlcourse.data.audio import mel_filterbank
from tlcourse.exercises.ex06 import ARMS, BUDGET, SETTINGS, q1, q2, q3
from tlcourse.experiments import Settings, compare, validation_task
from tlcourse.freeze import apply_bn_policy, set_trainable, trainable_summary
from tlcourse.tasks import speech_tasks

profile = get_profile()
seed_everything(0)
speech = speech_tasks(profile)  # synthesized and pretrained once, then read from the cache
clip, sample_rate = speech.audio.pool.waveforms[0], speech.audio.pool.sample_rate
print(f"{len(speech.audio.pool)} pool and {len(speech.audio.test)} test digits (unseen voices); "
      f"one clip: {len(clip)} samples at {sample_rate} Hz; settings {SETTINGS}")

# %% [markdown]
# ## q1 · A log-mel spectrogram by hand (2 points)
#
# Write `log_mel_by_hand(waveform)`: a 1-D clip at `sample_rate` -> its log-mel spectrogram,
# shape `(n_mels, frames)`, with the settings in `SETTINGS` (a window of `n_fft` = 1024 samples,
# 64 ms; a hop of 32 ms). Frame `k` is centred on sample `k * hop` (pad `n_fft // 2` zeros at
# both ends); each frame times a Hann window, its FFT, the **power** (magnitude squared), the
# mel filterbank (`mel_filterbank(n_mels, n_fft, sample_rate)`), then the **natural** log of
# the mel power + 1e-6. The check runs your function on this clip and two others and compares
# every cell with `tlcourse.data.log_mel` (within 0.001). Do not call `log_mel` yourself.

# %%
# q1
log_mel_by_hand = None
### BEGIN SOLUTION
def log_mel_by_hand(waveform):
    n_fft, n_mels = SETTINGS["n_fft"], SETTINGS["n_mels"]
    hop = round(sample_rate * SETTINGS["hop_ms"] / 1000)  # 512 samples: frames overlap by half
    padded = torch.nn.functional.pad(torch.as_tensor(waveform, dtype=torch.float32), (n_fft // 2, n_fft // 2))
    frames = padded.unfold(0, n_fft, hop)  # (frames, n_fft), frame k centred on sample k * hop
    power = torch.fft.rfft(frames * torch.hann_window(n_fft)).abs() ** 2  # (frames, n_fft // 2 + 1)
    mel = mel_filterbank(n_mels, n_fft, sample_rate) @ power.T  # (n_mels, frames)
    return torch.log(mel + 1e-6)
### END SOLUTION
print(f"spectrogram {tuple(log_mel_by_hand(clip).shape)} (mel bands, frames)")

# %%
q1.check(log_mel_by_hand)
# q1.hint()
# q1.solution()

# %% [markdown]
# ## q2 · Freeze the ImageNet backbone for spectrograms (2 points)
#
# `speech.imagenet.make_model(True)` is EfficientNet-Lite0 with ImageNet weights and a new
# 10-class head (its task resizes each spectrogram and repeats it on 3 channels). Make
# `lite0_model` ready to train **only the head**: every other block frozen, the model in
# training mode, and frozen BatchNorm layers in eval mode so their ImageNet statistics stay.
# The check trains a copy of your model for two steps on spectrograms of its own and looks for
# any pretrained weight or BatchNorm statistic that moved.

# %%
# q2
lite0_model = None
### BEGIN SOLUTION
lite0_model = speech.imagenet.make_model(True)
set_trainable(lite0_model, ["head"])
lite0_model.train()  # the head trains (dropout on)...
apply_bn_policy(lite0_model, "frozen_eval")  # ...but frozen BatchNorm layers keep their statistics
### END SOLUTION
trainable_summary(lite0_model).tail(3)

# %%
q2.check(lite0_model)
# q2.hint()
# q2.solution()

# %% [markdown]
# ## q3 · Near or far source for 5 labels per class? Measure, then choose (3 points)
#
# Near: `speech.words`, a SmallCNN pretrained on other spoken words. Far: `speech.imagenet`,
# ImageNet Lite0 on the same spectrograms. Measure the linear probe of each, and for scale the
# SmallCNN from scratch (`scratch` on `speech.words`), with `BUDGET` = 5 labels per class over
# `profile.seeds` and `Settings.for_profile(profile)`, in one table `results` (two `compare`
# calls joined with `pd.concat`). Then set `best_source` to the key of `ARMS` (`"words"` or
# `"imagenet"`) whose probe has the best mean accuracy. Measure on validation splits of the pool
# (`validation_task(speech.words)`, `validation_task(speech.imagenet)`), not on the test set: a
# choice is made on validation data, and the test set gives the chosen one's final number. The
# check runs both probes again itself.

# %%
# q3
results = best_source = None
### BEGIN SOLUTION
speech_settings = Settings.for_profile(profile)
results = pd.concat([compare(validation_task(speech.words), ["scratch", "linear_probe"], [BUDGET], profile.seeds,
                             speech_settings),
                     compare(validation_task(speech.imagenet), ["linear_probe"], [BUDGET], profile.seeds,
                             speech_settings)])
means = results.groupby(["task", "strategy"])["accuracy"].mean()
best_source = max(ARMS, key=lambda arm: means[ARMS[arm]])
### END SOLUTION
print(f"best source with {BUDGET} labels per class: {best_source}")
results[["task", "strategy", "seed", "accuracy"]]

# %%
q3.check(results, best_source)
# q3.hint()
# q3.solution()

# %% [markdown]
# Which source wins depends on the profile: in `smoke` the words CNN is pretrained for a single
# epoch on 250 words. Run the notebook again with `TLCOURSE_PROFILE=cpu`: does the near source
# overtake ImageNet when it has learned more?
