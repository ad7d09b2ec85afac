"""One name per data set: ``load("mnist5k")``, ``card("mnist5k")``, ``list_datasets()``.

The table below is the whole registry: a name, its card, and the function that loads it.
Names are matched ignoring case, "-", "_" and spaces.
"""
from __future__ import annotations

import difflib
import inspect
from functools import partial

from ..errors import UnknownNameError
from . import glyphs, medmnist, online, small_images, solar_cells, speech, speech_commands, tweets
from .core import DataArgumentError, DatasetCard

_ONLINE_IMAGES = {name: (src.card, partial(online.load_torchvision, name))
                  for name, src in online.TORCHVISION.items()}
_ONLINE_TEXTS = {name: (src.card, partial(online.load_hf_text, name)) for name, src in online.HF.items()}
_MEDMNIST = {name: (src.card, partial(medmnist.load_medmnist, name)) for name, src in medmnist.SETS.items()}

DATASETS = {
    "glyphs": (glyphs.CARD, glyphs.load_glyphs),
    "mnist5k": (small_images.MNIST5K_CARD, small_images.load_mnist5k),
    "digits": (small_images.DIGITS_CARD, small_images.load_digits),
    "faces": (small_images.FACES_CARD, small_images.load_faces),
    "solar_cells": (solar_cells.CARD, solar_cells.load_solar_cells),
    "tweets": (tweets.CARD, tweets.load_tweets),
    "spoken_digits": (speech.DIGITS_CARD, speech.load_spoken_digits),
    "spoken_words": (speech.WORDS_CARD, speech.load_spoken_words),
    **_ONLINE_IMAGES,
    **_MEDMNIST,
    **_ONLINE_TEXTS,
    "speech_commands": (speech_commands.CARD, speech_commands.load_speech_commands),
}


def _squash(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch not in "-_ ")


def _key(name: str) -> str:
    """The registry key for ``name``, or an UnknownNameError suggesting the closest known name.

    Case, "-", "_" and spaces are ignored: "MNIST-5k", "solar cells" and "OxfordPets" all work.
    """
    by_squashed = {_squash(key): key for key in DATASETS}
    if _squash(name) in by_squashed:
        return by_squashed[_squash(name)]
    close = difflib.get_close_matches(_squash(name), by_squashed, n=1, cutoff=0.5)
    hint = f" Did you mean {by_squashed[close[0]]!r}?" if close else ""
    raise UnknownNameError(f"No data set called {name!r}.{hint} Known data sets: {', '.join(DATASETS)} "
                           "(list_datasets(offline=True) lists the ones that need no network).")


def list_datasets(offline: bool | None = None) -> list[str]:
    """Registered names; ``offline=True`` only those that load without network, ``False`` the others."""
    return [name for name, (card_, _) in DATASETS.items() if offline is None or card_.offline == offline]


def card(name: str) -> DatasetCard:
    """The card of data set ``name`` (source, license, size with default arguments), loading nothing."""
    return DATASETS[_key(name)][0]


def load(name: str, **kwargs):
    """Load data set ``name``; ``kwargs`` go to its loader (see ``help(tlcourse.data)``).

    Returns an ImageDataset, a TextDataset, an AudioDataset (speech), or for online image sets a
    LazyImageDataset.
    """
    key = _key(name)
    loader = DATASETS[key][1]
    try:
        inspect.signature(loader).bind(**kwargs)
    except TypeError:
        params = [p for p in inspect.signature(loader).parameters]
        raise DataArgumentError(f"load({key!r}) does not take {sorted(set(kwargs) - set(params))}; "
                                f"its arguments are {params}.") from None
    return loader(**kwargs)
