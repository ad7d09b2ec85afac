"""Google Speech Commands v0.02: real 1-second recordings of 35 words by 2,618 people (online).

On disk it is the archive's own layout, kept as is under ``cache_dir()/"speech_commands_v0.02"``:
one folder per word of 16 kHz, 16-bit mono WAV files named ``<speaker>_nohash_<n>.wav``, and
two lists, ``validation_list.txt`` and ``testing_list.txt``, of the files in those splits
(``right/bb05582b_nohash_3.wav``); every other file is training data. The official split
is by speaker, so a test speaker is never in train, as in ``spoken_digits``.

The archive is 2.3 GB: it is downloaded once, only when online; offline the loader stops at
once and names the synthetic sets to use instead.
"""
from __future__ import annotations

import os
import shutil
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..config import cache_dir
from ..online import require_online
from .audio import SAMPLE_RATE, AudioDataset
from .core import DataArgumentError, DatasetCard, check_choice
from .speech import DIGITS, WORDS

URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
FOLDER = "speech_commands_v0.02"
OFFLINE_ALTERNATIVE = "load('spoken_digits') or load('spoken_words') (speech synthesized offline by eSpeak NG)"
WORD_SETS = {"digits": DIGITS, "words": WORDS, "all": DIGITS + WORDS}

CARD = DatasetCard(
    name="speech_commands",
    description="Google Speech Commands v0.02: 105,829 one-second recordings of 35 words by 2,618 "
                "speakers, real microphones and rooms. words='digits' (default) keeps 'zero'...'nine'; "
                "the official train/validation/test split is by speaker. Default: at most 500 clips per word.",
    source=f"downloaded on first use from {URL} (2.3 GB)", license="CC BY 4.0", size=5_000, classes=10,
    input="1 s mono, 16 kHz, float32 in [-1, 1] (N, 16000); shorter clips zero-padded", offline=False,
    citation="Warden (2018). Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition. "
             "arXiv:1804.03209.",
    url="https://www.tensorflow.org/datasets/catalog/speech_commands",
)


def root() -> Path:
    """The extracted data set, downloaded first if it is not in the cache (only online)."""
    folder = cache_dir() / FOLDER
    if (folder / "testing_list.txt").exists():
        return folder
    require_online("The Speech Commands data set", URL, OFFLINE_ALTERNATIVE)
    from torchvision.datasets.utils import download_and_extract_archive  # imported here: only a download needs it

    partial = folder.with_name(f".{FOLDER}.{os.getpid()}.tmp")
    try:
        download_and_extract_archive(URL, download_root=str(cache_dir() / "downloads"), extract_root=str(partial))
        os.replace(partial, folder)  # complete, then visible: an interrupted download leaves nothing
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def read_wav(path: Path, length: int = SAMPLE_RATE) -> torch.Tensor:
    """A 16-bit mono 16 kHz WAV as float32 (length,) in [-1, 1]: cut or zero-padded to ``length``."""
    with wave.open(str(path), "rb") as f:
        if (f.getnchannels(), f.getsampwidth(), f.getframerate()) != (1, 2, SAMPLE_RATE):
            raise DataArgumentError(f"{path} is not 16-bit mono at {SAMPLE_RATE} Hz; the Speech Commands "
                                    f"folder may be damaged: delete {path.parents[1]} to download it again.")
        samples = np.frombuffer(f.readframes(length), dtype="<i2")
    clip = torch.zeros(length)
    clip[:len(samples)] = torch.from_numpy(samples.astype(np.float32) / 32768)
    return clip


def split_files(folder: Path, words, split: str) -> list[str]:
    """The files of ``words`` in ``split``, as ``word/name.wav``, sorted."""
    listed = {name: set((folder / f"{name}_list.txt").read_text().split()) for name in ("validation", "testing")}
    files = sorted(f"{w}/{p.name}" for w in words for p in (folder / w).glob("*.wav"))
    if split == "train":
        held_out = listed["validation"] | listed["testing"]
        return [f for f in files if f not in held_out]
    return [f for f in files if f in listed["validation" if split == "validation" else "testing"]]


def load_speech_commands(split: str = "train", words: str | list[str] = "digits", max_per_class: int | None = 500,
                         seed: int = 0) -> AudioDataset:
    """Real spoken words as an AudioDataset of 1 s clips; ``speakers`` from the file names.

    ``split``: "train", "validation" or "test" (the official lists). ``words``: "digits",
    "words" (the 25 others), "all", or a list such as ``["yes", "no"]``. ``max_per_class``:
    at most this many clips per word, drawn at random by ``seed`` (None: all of them).
    """
    check_choice("split", split, ("train", "validation", "test"))
    words = list(WORD_SETS[words] if isinstance(words, str) and words in WORD_SETS else words)
    unknown = sorted(set(words) - set(WORD_SETS["all"]))
    if unknown or not words:
        raise DataArgumentError(f"words must be one of {list(WORD_SETS)} or a list of Speech Commands words "
                                f"{list(WORD_SETS['all'])}; got {unknown or words}.")
    folder = root()
    files = split_files(folder, words, split)
    labels = torch.tensor([words.index(f.split("/")[0]) for f in files], dtype=torch.long)
    if max_per_class is not None:
        gen = torch.Generator().manual_seed(seed)
        keep = [torch.nonzero(labels == c).flatten() for c in range(len(words))]
        keep = torch.cat([k[torch.randperm(len(k), generator=gen)[:max_per_class]] for k in keep]).sort().values
        files, labels = [files[i] for i in keep.tolist()], labels[keep]
    waveforms = torch.stack([read_wav(folder / f) for f in files]) if files else torch.zeros(0, SAMPLE_RATE)
    speakers = [f.split("/")[1].split("_nohash_")[0] for f in files]
    card = replace(CARD, size=len(files), classes=len(words))
    return AudioDataset(waveforms, labels, words, speakers, SAMPLE_RATE, card, files)
