"""The course's own pretraining: the SmallCNN learns to read rendered letters.

The source task is 26 upper-case letters rendered from many fonts (``load("glyphs")``); the
digits 0-9 are left out on purpose, so that when notebooks 02 and 03 transfer this network to
handwritten digits, it has never seen a digit. The checkpoint made by ``tlcourse pretrain``
with the ``cpu`` profile ships with the package, so no notebook has to wait for pretraining.
"""
from __future__ import annotations

import hashlib
import time
from importlib.resources import files
from pathlib import Path

import torch

from .config import Profile, cache_dir, get_profile, seed_everything
from .data import load, stratified_split
from .models import SmallCNN
from .train import History, _digest, evaluate, fit, save_atomic

SHIPPED_CHECKPOINT = "small_cnn_letters.pt"
SOURCE_CHARS = "letters"


def shipped_checkpoint_path() -> Path:
    """Where the checkpoint that ships inside the package lives."""
    return Path(str(files("tlcourse") / "assets" / SHIPPED_CHECKPOINT))


def shipped_sources_dir() -> Path:
    """Where the package ships finished :func:`pretrained_once` checkpoints: the sources the
    ``cpu`` profile pretrains for notebook 07 (the cued letters network, the shuffled-letters one),
    each under the name its cache file would have."""
    return Path(str(files("tlcourse") / "assets" / "pretrained"))


def pretrain_small_cnn(profile: Profile | None = None, seed: int = 0, lr: float = 3e-3,
                       progress: bool = True) -> tuple[SmallCNN, History, dict]:
    """Train a SmallCNN on rendered letters; return (model, history, metadata).

    Uses ``profile.pretrain_samples`` glyphs (90% train, 10% held out) for
    ``profile.pretrain_epochs`` epochs. The metadata records the settings and the held-out
    source accuracy, so a checkpoint says how it was made.
    """
    profile = profile or get_profile()
    glyphs = load("glyphs", n=profile.pretrain_samples, chars=SOURCE_CHARS, size=32, seed=seed)
    model, history, meta = pretrain_on(glyphs, profile.pretrain_epochs, seed=seed, lr=lr, progress=progress)
    return model, history, {"profile": profile.name, **meta}


def pretrain_on(source, epochs: int, seed: int = 0, lr: float = 3e-3,
                progress: bool = True) -> tuple[SmallCNN, History, dict]:
    """A SmallCNN trained on any labelled image set ``source`` (an ImageDataset of 1 x 32 x 32
    images: rendered letters, spectrograms): 90% to train on for ``epochs`` epochs (AdamW,
    cosine-decayed ``lr``, batches of 128), 10% held out. Returns (model, history, metadata);
    the metadata (plain types) holds the settings and the held-out source accuracy."""
    seed_everything(seed)
    train, held_out = stratified_split(source, test_fraction=0.1, seed=seed)
    model = SmallCNN(num_classes=len(source.classes), in_channels=source.images.shape[1])
    history = fit(model, train, held_out, epochs=epochs, lr=lr, batch_size=128, seed=seed, cosine=True,
                  progress=progress)
    meta = {"samples": len(source), "epochs": epochs, "seed": seed, "lr": lr, "classes": list(source.classes),
            "source_accuracy": evaluate(model, held_out)["accuracy"], "torch": str(torch.__version__)}
    return model, history, meta


def save_checkpoint(model: SmallCNN, meta: dict, path: str | Path) -> Path:
    """Save the state dict and its metadata (plain types only, so ``weights_only`` loading works).

    The file is replaced all at once (:func:`tlcourse.train.save_atomic`): an interrupted save
    keeps the old checkpoint."""
    return save_atomic({"state_dict": model.state_dict(), "meta": meta}, path)


def load_pretrained_cnn(path: str | Path | None = None) -> tuple[SmallCNN, dict]:
    """The letters-pretrained SmallCNN (the shipped one by default) and its metadata."""
    path = Path(path) if path else shipped_checkpoint_path()
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}. Make one with `tlcourse pretrain --out "
                                f"{path}` or run notebook 01, or omit the path to use the shipped one.")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    meta = checkpoint["meta"]
    model = SmallCNN(num_classes=len(meta["classes"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), meta


def pretrained_once(source, epochs: int, name: str, seed: int = 0, progress: bool = True,
                    settings: str | None = None, **meta) -> tuple[SmallCNN, dict]:
    """A SmallCNN pretrained on ``source`` with :func:`pretrain_on` the first time, then read back:
    the checkpoint ``cache_dir()/<name>-<digest>.pt`` is named by a digest of the images, labels,
    ``epochs`` and ``seed``, so other data never reads a stale file, and it loads with
    ``weights_only=True``. ``name`` may hold a folder (``"speech/words_cnn"``); ``meta`` is stored
    beside the training's own (held-out accuracy) with the seconds it took. Returns (model in eval
    mode, metadata).

    For a source that is cheap to describe but costly to build (20,000 rendered letters), pass
    ``source`` as a function that builds it and ``settings``, a string that names everything it
    depends on: the digest is then taken of ``settings``, and the source is built only when the
    checkpoint is missing.

    A checkpoint the package ships under the same name (:func:`shipped_sources_dir`) is read
    instead of training: the name holds the digest, so it is only found for exactly this data and
    these settings (``tlcourse pretrain --sources`` writes them). The metadata's ``checkpoint``
    is that file name."""
    if settings is not None:
        key = hashlib.sha256(f"{settings}|epochs={epochs}|seed={seed}".encode()).hexdigest()
    else:
        key = _digest(torch.cat([source.images.flatten(), source.labels.float(),
                                 torch.tensor([epochs, seed], dtype=torch.float32)]))
    file = f"{name}-{key[:16]}.pt"
    path = cache_dir() / file
    if not path.exists() and (shipped_sources_dir() / file).exists():
        path = shipped_sources_dir() / file
    elif not path.exists():
        start = time.perf_counter()
        model, _, trained = pretrain_on(source() if callable(source) else source, epochs, seed=seed, progress=progress)
        save_checkpoint(model, {**trained, **meta, "seconds": time.perf_counter() - start}, path)
    model, stored = load_pretrained_cnn(path)
    return model, {**stored, "checkpoint": file}
