"""Audio clips in memory, speaker-independent splits, log-mel spectrograms and SpecAugment.

An :class:`AudioDataset` is to speech what :class:`~tlcourse.data.core.ImageDataset` is to
images: every waveform in one tensor, labels, class names, a card, and one more field, the
speaker of each clip, so that a test set can hold only speakers never heard in training.

A network does not listen to waveforms here: :func:`log_mel` turns each 1-second clip into a
small image (40 mel bands x 101 frames of 10 ms), and CNNs (even ImageNet ones) take it from
there. It is a short torch implementation, checked against librosa in the tests, because
torchaudio has no build for the torch version the course pins.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import torch
from torch.utils.data import Dataset

from .core import DataArgumentError, DatasetCard, ImageDataset, _as_labels, _check_classes, _custom_card, as_index

SAMPLE_RATE = 16_000  # Hz, as in Speech Commands and most keyword-spotting work


class AudioDataset(Dataset):
    """Mono clips of one length, labels and speakers, held in memory.

    ``waveforms`` is float32 (N, T) in [-1, 1] at ``sample_rate`` Hz; ``labels`` int64 (N,);
    ``speakers`` N strings (who spoke each clip); ``utterances`` an optional list of N
    descriptions (for synthetic speech: word, accent, variant, rate, pitch). ``ds[i]`` is
    ``(waveform (T,), label ())``.
    """

    def __init__(self, waveforms: torch.Tensor, labels, classes: Sequence[str], speakers: Sequence[str],
                 sample_rate: int = SAMPLE_RATE, card: DatasetCard | None = None, utterances: list | None = None):
        if not isinstance(waveforms, torch.Tensor) or waveforms.ndim != 2 or waveforms.dtype != torch.float32:
            raise DataArgumentError("waveforms must be a float32 tensor (N, T), one clip per row; got "
                                    f"{getattr(waveforms, 'dtype', type(waveforms).__name__)} "
                                    f"{tuple(getattr(waveforms, 'shape', ()))}.")
        self.waveforms = waveforms
        self.labels = _as_labels(labels, len(waveforms))
        self.classes = _check_classes(classes, self.labels)
        self.speakers = [str(s) for s in speakers]
        if len(self.speakers) != len(waveforms):
            raise DataArgumentError(f"speakers must name the speaker of each of the {len(waveforms)} clips; "
                                    f"got {len(self.speakers)} names.")
        self.sample_rate = sample_rate
        self.utterances = utterances
        seconds = waveforms.shape[1] / sample_rate
        self.card = card or _custom_card(len(waveforms), len(self.classes), f"{seconds:g} s mono at {sample_rate} Hz")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.waveforms[i], self.labels[i]

    def subset(self, indices) -> AudioDataset:
        """The clips at ``indices`` (positions or a boolean mask), with the same classes and card."""
        idx = as_index(indices).tolist()
        utterances = [self.utterances[i] for i in idx] if self.utterances is not None else None
        return AudioDataset(self.waveforms[idx], self.labels[idx], self.classes, [self.speakers[i] for i in idx],
                            self.sample_rate, self.card, utterances)

    def __repr__(self) -> str:
        return (f"AudioDataset({self.card.name!r}: {len(self)} clips of {self.waveforms.shape[1] / self.sample_rate:g} s, "
                f"{len(self.classes)} classes, {len(set(self.speakers))} speakers)")


def split_by_speaker(ds, test_fraction: float = 0.2, seed: int = 0):
    """``(train, test)``: about ``test_fraction`` of the speakers, drawn by ``seed``, go to test
    with all their clips; no speaker of test is in train (speaker-independent evaluation)."""
    if not 0 < test_fraction < 1:
        raise DataArgumentError(f"test_fraction is the share of speakers held out and must lie strictly "
                                f"between 0 and 1, e.g. 0.2; got {test_fraction!r}.")
    names = sorted(set(ds.speakers))
    if len(names) < 2:
        raise DataArgumentError(f"Splitting by speaker needs at least two speakers; this data set has {names}.")
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = min(max(1, round(len(names) * test_fraction)), len(names) - 1)
    held_out = {names[i] for i in order[:n_test]}
    in_test = torch.tensor([s in held_out for s in ds.speakers])
    return ds.subset(~in_test), ds.subset(in_test)


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """The HTK mel scale: about linear below 700 Hz, logarithmic above, as the ear hears pitch."""
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = 40, n_fft: int = 512, sample_rate: int = SAMPLE_RATE,
                   f_min: float = 20.0, f_max: float | None = None) -> torch.Tensor:
    """Triangular filters (n_mels, n_fft // 2 + 1) that pool an FFT's power into mel bands.

    Band ``m`` rises from centre ``m - 1`` to centre ``m`` and falls to centre ``m + 1``, the
    centres evenly spaced in mels; each triangle is scaled to unit area ("Slaney" norm), so
    wide high bands do not outweigh narrow low ones. ``librosa.filters.mel(htk=True)`` agrees.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    mels = torch.linspace(hz_to_mel(torch.tensor(f_min)), hz_to_mel(torch.tensor(f_max)), n_mels + 2,
                          dtype=torch.float64)
    edges = mel_to_hz(mels)  # (n_mels + 2,) Hz: lower edge, centre, upper edge of every band
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    rising = (freqs - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    falling = (edges[2:, None] - freqs) / (edges[2:] - edges[1:-1])[:, None]
    triangles = torch.clamp(torch.minimum(rising, falling), min=0)
    return (triangles * (2.0 / (edges[2:] - edges[:-2]))[:, None]).float()


def log_mel(waveforms: torch.Tensor, sample_rate: int = SAMPLE_RATE, n_mels: int = 40, n_fft: int = 512,
            window_ms: float = 25.0, hop_ms: float = 10.0, eps: float = 1e-6) -> torch.Tensor:
    """(N, T) waveforms -> (N, 1, n_mels, frames) log-mel spectrograms, ``frames = 1 + T // hop``.

    A 25 ms Hann window every 10 ms (400 and 160 samples at 16 kHz), zero-padded to ``n_fft``
    points, power spectrum, mel filterbank, then the natural log of the power (+ ``eps``,
    so silence stays finite). Frames are centred: frame ``k`` is centred on sample ``k * hop``.
    """
    if waveforms.ndim == 1:
        waveforms = waveforms.unsqueeze(0)
    win, hop = round(sample_rate * window_ms / 1000), round(sample_rate * hop_ms / 1000)
    spectrum = torch.stft(waveforms.float(), n_fft=n_fft, hop_length=hop, win_length=win,
                          window=torch.hann_window(win, device=waveforms.device), center=True,
                          pad_mode="constant", return_complex=True)  # (N, n_fft // 2 + 1, frames)
    filters = mel_filterbank(n_mels, n_fft, sample_rate).to(waveforms.device)
    mel = filters @ spectrum.abs().square()
    return torch.log(mel + eps).unsqueeze(1)


# The spectrogram the course's CNNs read: 32 mel bands x 32 frames of 32 ms (64 ms windows, half
# overlapping) for a 1 s clip: a 32 x 32 image, the SmallCNN's own input size.
SPECTROGRAM = {"n_mels": 32, "n_fft": 1024, "window_ms": 64.0, "hop_ms": 32.0}
TOP_DB = 80.0  # dynamic range kept below each clip's loudest cell, as librosa.power_to_db(top_db=80)


def spectrogram_images(ds: AudioDataset, top_db: float = TOP_DB, **mel_kwargs) -> ImageDataset:
    """Every clip as a grey image (N, 1, 32, 32) in [0, 1]: its log-mel spectrogram
    (:data:`SPECTROGRAM`; ``mel_kwargs`` override), 1 at the clip's loudest cell, 0 at
    ``top_db`` decibels below it or quieter. Scaling by each clip's own loudest cell makes a
    quiet speaker and a loud one look alike. Labels, classes and order are the clips'.
    """
    if not isinstance(ds, AudioDataset):
        raise DataArgumentError(f"spectrogram_images takes an AudioDataset (load('spoken_digits'), ...); "
                                f"got {type(ds).__name__}.")
    mel = log_mel(ds.waveforms, ds.sample_rate, **{**SPECTROGRAM, **mel_kwargs})
    loudest = mel.amax(dim=(1, 2, 3), keepdim=True)
    nats = top_db / (10 / torch.log(torch.tensor(10.0)))  # decibels of power -> natural log units
    images = ((mel - loudest) / nats + 1).clamp(0, 1)
    bands, frames = images.shape[2:]
    card = replace(ds.card, name=f"{ds.card.name} (log-mel)",
                   input=f"1 x {bands} mel bands x {frames} frames in [0, 1] (log-mel spectrogram)")
    return ImageDataset(images.contiguous(), ds.labels, ds.classes, card)


def specaugment_copies(images: torch.Tensor, copies: int = 3, seed: int = 0) -> torch.Tensor:
    """(N, 1, F, T) spectrograms -> ((copies + 1) N, ...): the originals, then ``copies`` masked
    versions (:class:`SpecAugment`, seeded): a fixed augmented set, like
    :func:`tlcourse.train.dihedral_copies`, so a frozen prefix can take it once.

    The masks are sized to the spectrogram as SpecAugment's defaults are to 40 bands x 10 ms
    frames: up to a fifth of the bands, and up to a tenth of the frames (3 frames of 32 ms,
    about one phoneme, on the course's 32 x 32 images)."""
    bands, frames = images.shape[-2:]
    augment = SpecAugment(freq_width=max(1, bands // 5), time_width=max(1, frames // 10), seed=seed)
    return torch.cat([images] + [augment(images) for _ in range(copies)])


class SpecAugment:
    """SpecAugment's masking (Park et al., 2019) for a batch of spectrograms (N, C, F, T).

    Each call blanks, in every example independently, ``freq_masks`` bands of 0 to
    ``freq_width`` mel channels and ``time_masks`` stretches of 0 to ``time_width`` frames,
    filled with that example's mean. The positions come from a generator seeded with
    ``seed``: a new ``SpecAugment(seed=0)`` gives the same masks call after call. Use it on
    training batches only: evaluation must see whole spectrograms.
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2, time_width: int = 10,
                 seed: int = 0):
        self.freq_masks, self.freq_width = freq_masks, freq_width  # 8 of 40 bands: a fifth at most
        self.time_masks, self.time_width = time_masks, time_width  # 10 frames: 100 ms, about a phoneme
        self.generator = torch.Generator().manual_seed(seed)

    def masks(self, n: int, size: int, count: int, width: int) -> torch.Tensor:
        """(n, size) bool: ``count`` random stretches of 0..``width`` positions per row."""
        keep = torch.zeros(n, size, dtype=torch.bool)
        positions = torch.arange(size)
        for _ in range(count):
            w = torch.randint(0, width + 1, (n, 1), generator=self.generator)
            start = (torch.rand(n, 1, generator=self.generator) * (size - w + 1)).long()
            keep |= (positions >= start) & (positions < start + w)
        return keep

    def __call__(self, specs: torch.Tensor) -> torch.Tensor:
        n, _, n_freq, n_time = specs.shape
        freq = self.masks(n, n_freq, self.freq_masks, min(self.freq_width, n_freq))
        time = self.masks(n, n_time, self.time_masks, min(self.time_width, n_time))
        masked = (freq[:, None, :, None] | time[:, None, None, :]).to(specs.device)
        fill = specs.mean(dim=(1, 2, 3), keepdim=True)
        return torch.where(masked, fill, specs)
