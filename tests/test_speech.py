"""Speech: eSpeak NG synthesis, the spoken_digits and spoken_words sets, log-mel spectrograms
against librosa, SpecAugment, and Speech Commands from a tiny fake cache in its real layout.

Synthesis is real (the espeakng-loader wheel's library); sets are kept to a few dozen clips.
"""
from __future__ import annotations

import time
import wave

import librosa
import numpy as np
import pytest
import torch

from tlcourse.config import get_profile
from tlcourse.data import AudioDataset, SpecAugment, card, load, log_mel, split_by_speaker
from tlcourse.data import espeak, speech
from tlcourse.data.audio import mel_filterbank
from tlcourse.data.core import DataArgumentError
from tlcourse.errors import OfflineError
from tlcourse.tasks import speech_sets


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty TLCOURSE_CACHE on a machine that says it is offline (as the whole suite is)."""
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    return tmp_path


@pytest.fixture
def calls(monkeypatch):
    """Counts the words eSpeak NG is asked to say."""
    said = []
    real = espeak.synthesize

    def counting(text, *args, **kwargs):
        said.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(espeak, "synthesize", counting)
    return said


# ---------------------------------------------------------------- eSpeak NG and the clips

def test_espeak_says_the_same_samples_whatever_was_said_before():
    first, rate = espeak.synthesize("seven", "en-us+f2", rate=130, pitch=40)
    espeak.synthesize("three", "en+klatt4", rate=300, pitch=90)  # state a reused library would keep
    again, _ = espeak.synthesize("seven", "en-us+f2", rate=130, pitch=40)
    assert rate == 22_050 and first.dtype == np.int16 and 0.2 < len(first) / rate < 1.0
    assert np.array_equal(first, again)
    assert not np.array_equal(first, espeak.synthesize("seven", "en-us+f2", rate=130, pitch=60)[0])
    with pytest.raises(DataArgumentError, match="no voice 'xx-nowhere'"):
        espeak.synthesize("seven", "xx-nowhere")


def test_every_listed_accent_and_variant_speaks():
    for voice in [f"{a}+m3" for a in speech.ACCENTS] + [f"en+{v}" for v in speech.VARIANTS[::6]]:
        samples, _ = espeak.synthesize("go", voice)
        assert np.abs(samples).max() > 1_000, voice


def test_clips_are_one_second_words_at_their_drawn_offset_and_loudness():
    keys, offsets, gains = speech.draw_utterances(speech.DIGITS, speech.TRAIN_VARIANTS, 10, seed=3)
    word, rate = speech.speak(keys[0])
    clip = speech.to_clip(word, float(offsets[0]), float(gains[0]))
    assert rate == 16_000 and clip.shape == (16_000,) and 0.15 < len(word) / rate < 1.0
    assert clip.abs().max() == pytest.approx(float(gains[0]), rel=1e-5)
    start = round(float(offsets[0]) * (16_000 - len(word)))
    assert torch.count_nonzero(clip[:start]) == 0 and torch.count_nonzero(clip[start + len(word):]) == 0
    assert sorted(k.word for k in keys) == sorted(speech.DIGITS)  # balanced: one of each


def test_spoken_digits_are_deterministic_and_cached(cache, calls):
    start = time.perf_counter()
    ds = load("spoken_digits", n=20, seed=1)
    cold = time.perf_counter() - start
    assert isinstance(ds, AudioDataset) and ds.waveforms.shape == (20, 16_000) and ds.waveforms.dtype == torch.float32
    assert len(calls) == 20 and ds.classes == list(speech.DIGITS) and torch.bincount(ds.labels).tolist() == [2] * 10
    assert [k.word for k in ds.utterances] == [ds.classes[y] for y in ds.labels]
    start = time.perf_counter()
    again = load("spoken_digits", n=20, seed=1)
    assert len(calls) == 20 and time.perf_counter() - start < cold  # read from the cache: nothing said
    assert again.waveforms.numpy().tobytes() == ds.waveforms.numpy().tobytes()
    for path in (cache / "speech").iterdir():
        path.unlink()
    regenerated = load("spoken_digits", n=20, seed=1)  # said again, after other words: same bytes
    assert len(calls) == 40 and regenerated.waveforms.numpy().tobytes() == ds.waveforms.numpy().tobytes()
    assert not torch.equal(load("spoken_digits", n=20, seed=2).waveforms, ds.waveforms)


def test_test_voices_are_never_heard_in_training(cache):
    assert set(speech.TEST_VARIANTS).isdisjoint(speech.TRAIN_VARIANTS)
    assert set(speech.TEST_VARIANTS) | set(speech.TRAIN_VARIANTS) == set(speech.VARIANTS)
    profile = get_profile("smoke", speech_source_samples=25, speech_target_samples=10, max_eval=10)
    sets = speech_sets(profile)
    assert (len(sets.source), len(sets.pool), len(sets.test)) == (25, 10, 10)
    assert sets.source.classes == list(speech.WORDS) and sets.test.classes == list(speech.DIGITS)
    assert set(sets.test.speakers) <= set(speech.TEST_VARIANTS)
    assert set(sets.test.speakers).isdisjoint(sets.source.speakers + sets.pool.speakers)
    train, test = split_by_speaker(sets.source, test_fraction=0.3, seed=0)
    assert len(train) + len(test) == 25 and set(train.speakers).isdisjoint(test.speakers)
    assert split_by_speaker(sets.source, 0.3, seed=0)[1].speakers == test.speakers


def test_cards_say_what_the_speech_sets_are():
    for name, classes, size in [("spoken_digits", 10, 2_000), ("spoken_words", 25, 4_000)]:
        c = card(name)
        assert c.offline and c.classes == classes and c.size == size and "16 kHz" in c.input
        assert "GPL-3.0-or-later" in c.license and "output" in c.license
        assert all(w in c.description for w in ("eSpeak NG", "robotic", "no real", "noise"))
    online = card("speech_commands")
    assert not online.offline and online.license == "CC BY 4.0" and "Warden" in online.citation


def test_digits_of_unseen_voices_are_told_apart_from_their_log_mels(cache):
    """A sanity check that the clips carry the words: a linear probe on per-band log-mel means and
    spread, trained on 100 clips, is far above chance (10%) on 60 clips by voices it never heard
    (87%, 65% and 75% with seeds 0, 1 and 2)."""
    from sklearn.linear_model import LogisticRegression

    def features(ds):
        mel = log_mel(ds.waveforms)[:, 0]
        x = torch.cat([mel.mean(2), mel.std(2)], 1)
        return ((x - x.mean(0)) / x.std(0)).numpy()

    train, test = load("spoken_digits", n=100, split="train"), load("spoken_digits", n=60, split="test")
    probe = LogisticRegression(C=0.1, max_iter=1_000).fit(features(train), train.labels.numpy())
    assert probe.score(features(test), test.labels.numpy()) > 0.4


@pytest.mark.parametrize("kwargs, words", [({"n": 5}, "at least one per word"), ({"split": "val"}, "test")])
def test_bad_arguments_say_what_works(kwargs, words):
    with pytest.raises(DataArgumentError, match=words):
        load("spoken_digits", **kwargs)


# ---------------------------------------------------------------- log-mel and SpecAugment

def test_mel_filterbank_matches_librosa():
    ours = mel_filterbank(n_mels=40, n_fft=512, sample_rate=16_000, f_min=20)
    theirs = librosa.filters.mel(sr=16_000, n_fft=512, n_mels=40, fmin=20, fmax=8_000, htk=True)
    assert ours.shape == (40, 257)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-5, atol=1e-6 * theirs.max())  # float32 rounding


def test_log_mel_matches_librosa_on_noise_a_tone_and_a_spoken_word():
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(16_000) / 16_000
    word = speech.to_clip(speech.speak(speech.Utterance("seven", "en-us", "m3", 175, 50))[0], 0.5, 0.8)
    waves = torch.stack([0.1 * torch.randn(16_000, generator=gen), 0.5 * torch.sin(2 * torch.pi * 440 * t), word])
    ours = log_mel(waves)
    theirs = librosa.feature.melspectrogram(y=waves.numpy(), sr=16_000, n_fft=512, hop_length=160, win_length=400,
                                            n_mels=40, fmin=20, fmax=8_000, htk=True, center=True,
                                            pad_mode="constant", power=2.0)
    assert ours.shape == (3, 1, 40, 101) and theirs.shape == (3, 40, 101)
    np.testing.assert_allclose(ours[:, 0].numpy(), np.log(theirs + 1e-6), atol=2e-3)


def test_spec_augment_masks_bands_and_frames_repeatably():
    specs = torch.randn(16, 1, 40, 101)
    augment = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_width=10, seed=0)
    out = augment(specs)
    assert out.shape == specs.shape and torch.equal(out, SpecAugment(seed=0)(specs))
    assert not torch.equal(out, augment(specs))  # the next batch gets new masks
    assert not torch.equal(out, SpecAugment(seed=1)(specs))
    changed = out != specs
    bands, frames = changed.all(dim=3)[:, 0], changed.all(dim=2)[:, 0]  # wholly masked rows and columns
    assert bands.sum(1).max() <= 2 * 8 and frames.sum(1).max() <= 2 * 10 and bands.any() and frames.any()
    fill = specs.mean(dim=(1, 2, 3))
    assert torch.equal(out[changed], fill[:, None, None, None].expand_as(specs)[changed])
    assert torch.equal(SpecAugment(freq_width=0, time_width=0)(specs), specs)


# ---------------------------------------------------------------- Speech Commands (online)

def write_wav(path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16_000)
        f.writeframes(samples.astype("<i2").tobytes())


def write_fake_speech_commands(root) -> None:
    """Speech Commands v0.02's layout: word folders of 16-bit WAVs and the two split lists."""
    folder = root / "speech_commands_v0.02"
    rng = np.random.default_rng(0)
    for word in ("zero", "one", "yes"):
        for speaker in ("aaaa1111", "bbbb2222", "cccc3333"):
            write_wav(folder / word / f"{speaker}_nohash_0.wav", rng.integers(-3000, 3000, 16_000))
    write_wav(folder / "zero" / "aaaa1111_nohash_1.wav", np.full(8_000, 16_384))  # a short clip: padded
    (folder / "validation_list.txt").write_text("zero/bbbb2222_nohash_0.wav\none/bbbb2222_nohash_0.wav\n")
    (folder / "testing_list.txt").write_text("zero/cccc3333_nohash_0.wav\none/cccc3333_nohash_0.wav\n"
                                             "yes/cccc3333_nohash_0.wav\n")


def test_speech_commands_loads_its_real_layout_from_the_cache_offline(cache):
    write_fake_speech_commands(cache)
    train = load("speech_commands")
    assert isinstance(train, AudioDataset) and train.classes == list(speech.DIGITS)
    assert train.utterances == ["one/aaaa1111_nohash_0.wav", "zero/aaaa1111_nohash_0.wav",
                                "zero/aaaa1111_nohash_1.wav"]
    assert train.labels.tolist() == [1, 0, 0] and train.speakers == ["aaaa1111"] * 3
    assert train.waveforms.shape == (3, 16_000) and train.card.size == 3
    assert torch.all(train.waveforms[2, :8_000] == 0.5) and torch.all(train.waveforms[2, 8_000:] == 0)
    test = load("speech_commands", split="test", words=["yes", "zero"])
    assert test.classes == ["yes", "zero"] and test.labels.tolist() == [0, 1] and set(test.speakers) == {"cccc3333"}
    assert len(load("speech_commands", split="validation", words="all")) == 2
    assert len(load("speech_commands", max_per_class=1)) == 2
    with pytest.raises(DataArgumentError, match="words"):
        load("speech_commands", words=["seventeen"])


def test_speech_commands_offline_fails_fast_naming_the_synthetic_sets(cache):
    start = time.perf_counter()
    with pytest.raises(OfflineError) as err:
        load("speech_commands")
    assert time.perf_counter() - start < 5
    assert "load('spoken_digits')" in str(err.value) and "load('spoken_words')" in str(err.value)
