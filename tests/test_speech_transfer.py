"""Notebook 06's package pieces: spectrogram images, SpecAugment copies, the words CNN (trained
once, then read back), the three speech tasks, and the players and spectrogram plots."""
from __future__ import annotations

import math

import matplotlib
import pytest
import torch

from tlcourse import get_profile
from tlcourse.data import AudioDataset, ImageDataset, log_mel, spectrogram_images
from tlcourse.data.audio import SPECTROGRAM, TOP_DB, specaugment_copies
from tlcourse.data.core import DataArgumentError
from tlcourse.experiments import Settings, _training_set, run_one
from tlcourse.plots import players, spectrogram_grid
from tlcourse.pretrain import load_pretrained_cnn
from tlcourse.tasks import speech_tasks, words_cnn

matplotlib.use("Agg")
SMOKE = get_profile("smoke")


def tone_clips() -> AudioDataset:
    """Three 1 s clips: a loud tone, the same tone 3x quieter (10 dB, the spread of the speech
    sets' loudness), and silence with one click."""
    t = torch.arange(16_000) / 16_000
    tone = 0.8 * torch.sin(2 * math.pi * 1_000 * t)
    click = torch.zeros(16_000)
    click[8_000] = 0.5
    return AudioDataset(torch.stack([tone, tone / 3, click]), [0, 1, 1], ["loud", "quiet"], ["a", "b", "c"])


def test_spectrogram_images_are_32_by_32_scaled_to_each_clips_loudest_cell():
    clips = tone_clips()
    images = spectrogram_images(clips)
    assert isinstance(images, ImageDataset) and images.images.shape == (3, 1, 32, 32)
    assert images.images.amax(dim=(1, 2, 3)).tolist() == [1.0, 1.0, 1.0]  # each clip's loudest cell
    heard = images.images[0] > 0.3  # what stands out of the silence looks the same 10 dB quieter
    assert torch.allclose(images.images[0][heard], images.images[1][heard], atol=0.02)
    assert torch.equal(images.labels, clips.labels) and images.classes == clips.classes
    mel = log_mel(clips.waveforms[:1], **SPECTROGRAM)
    nats = TOP_DB / 10 * math.log(10)
    expected = ((mel - mel.max()) / nats + 1).clamp(0, 1)
    assert torch.allclose(images.images[:1], expected)
    band = images.images[0, 0].mean(dim=1).argmax()  # the 1 kHz band is the loudest row
    assert 0 < band < 31 and (images.images[0, 0, band] > 0.9).all()
    assert "log-mel" in images.card.name


def test_spectrogram_images_want_audio():
    with pytest.raises(DataArgumentError, match="AudioDataset"):
        spectrogram_images(torch.zeros(3, 16_000))


def test_specaugment_copies_keep_the_originals_and_mask_small_stretches():
    images = torch.rand(8, 1, 32, 32) + 1  # no cell equals the fill by chance
    out = specaugment_copies(images, copies=3, seed=0)
    assert out.shape == (32, 1, 32, 32) and torch.equal(out[:8], images)
    assert torch.equal(out, specaugment_copies(images, copies=3, seed=0))
    assert not torch.equal(out, specaugment_copies(images, copies=3, seed=1))
    masked = out[8:] != images.repeat(3, 1, 1, 1)
    bands, frames = masked.all(dim=3)[:, 0], masked.all(dim=2)[:, 0]
    assert bands.sum(1).max() <= 2 * 6 and frames.sum(1).max() <= 2 * 3  # 32 // 5 bands, 32 // 10 frames
    assert bands.any() and frames.any()


def test_settings_specaugment_trains_on_the_masked_copies():
    class Tiny:
        pool = ImageDataset(torch.rand(6, 1, 32, 32), [0, 1, 0, 1, 0, 1], ["a", "b"])

        def train_data(self, indices):
            return self.pool.subset(indices)

    inputs, labels = _training_set(Tiny(), torch.arange(6), Settings(augment="specaugment"))
    assert inputs.shape == (24, 1, 32, 32) and torch.equal(labels, Tiny.pool.labels.repeat(4))


@pytest.fixture(scope="module")
def smoke_speech():
    return speech_tasks(SMOKE, progress=False)


@pytest.mark.slow
def test_speech_tasks_share_one_pool_and_test_set_and_differ_in_their_source(smoke_speech):
    words, letters, imagenet = smoke_speech.words, smoke_speech.letters, smoke_speech.imagenet
    assert words.pool is letters.pool is imagenet.pool and words.test is imagenet.test
    assert words.pool.images.shape[1:] == (1, 32, 32) and len(words.test) == len(smoke_speech.audio.test)
    assert torch.equal(words.pool.labels, smoke_speech.audio.pool.labels)
    near, far = words.make_model(True), letters.make_model(True)
    source, _ = words_cnn(smoke_speech.source, SMOKE, progress=False)
    assert torch.equal(near.block3[0].weight, source.block3[0].weight)
    assert torch.equal(far.block3[0].weight, load_pretrained_cnn()[0].block3[0].weight)
    assert near.head.out_features == far.head.out_features == 10
    scratch = words.make_model(False)
    assert not torch.equal(scratch.block3[0].weight, source.block3[0].weight)
    assert imagenet.make_model(True)(imagenet.transform(words.pool.images[:2])).shape == (2, 10)
    row = run_one(words, "linear_probe", 1, 0, Settings.for_profile(SMOKE))
    assert 0 <= row["accuracy"] <= 1 and row["labels"] == 10


@pytest.mark.slow
def test_the_words_cnn_is_trained_once_then_read_back(smoke_speech, monkeypatch):
    import tlcourse.pretrain as pretrain

    def no_training(*args, **kwargs):
        raise AssertionError("the words CNN was trained again instead of read from the cache")

    monkeypatch.setattr(pretrain, "pretrain_on", no_training)
    model, meta = words_cnn(smoke_speech.source, SMOKE, progress=False)
    assert meta["classes"] == list(smoke_speech.source.classes) and 0 <= meta["source_accuracy"] <= 1
    assert not model.training
    other = smoke_speech.source.subset(torch.arange(len(smoke_speech.source) - 25))
    with pytest.raises(AssertionError, match="trained again"):
        words_cnn(other, SMOKE, progress=False)  # other data: another checkpoint


def test_players_give_one_audio_element_per_clip_with_its_caption():
    html = players(torch.zeros(5, 1_600), 16_000, ["a", "b", "<c>", "d", "e"]).data
    assert html.count("<audio") == 5 and "&lt;c&gt;" in html and html.count("<tr>") == 2
    with pytest.raises(ValueError, match="N captions"):
        players(torch.zeros(2, 100), 16_000, ["only one"])


def test_spectrogram_grid_draws_low_frequencies_at_the_bottom():
    fig = spectrogram_grid(torch.rand(3, 1, 32, 32), titles=["a", "b", "c"], columns=2)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 3 and shown[0].images[0].origin == "lower" and shown[2].get_title() == "c"
    with pytest.raises(ValueError, match="bands, frames"):
        spectrogram_grid(torch.rand(3, 32, 32))
