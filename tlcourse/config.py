"""Profiles, seeding, device choice and the cache directory: the settings every notebook reads.

A *profile* says how big every experiment is. Notebooks never hard-code sizes or epochs;
they ask ``get_profile()`` and use its fields, so one switch (``TLCOURSE_PROFILE``) takes
the whole course from a seconds-long CI run (``smoke``) to a few minutes on a laptop
(``cpu``) to full size on a GPU (``gpu``).
"""
from __future__ import annotations

import os
import random
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

PROFILE_ENV = "TLCOURSE_PROFILE"
CACHE_ENV = "TLCOURSE_CACHE"
DEVICE_ENV = "TLCOURSE_DEVICE"


@dataclass(frozen=True)
class Profile:
    """How big every experiment in the course is."""

    name: str
    backbone_image_size: int  # side fed to ImageNet backbones; 224 is what they were trained on
    batch_size: int
    finetune_steps: int  # gradient steps per run in strategy comparisons and the FreezePanel, whatever the budget
    pretrain_samples: int  # rendered glyphs in the course's own source (pretraining) set
    pretrain_epochs: int
    seeds: tuple[int, ...]  # claims are reported as mean ± std over these
    labels_per_class: tuple[int, ...]  # label budgets of the data-efficiency curves
    finetune_labels_per_class: tuple[int, ...]  # fewer budgets where every run trains a network
    max_eval: int  # cap on test-set size, keeps evaluation cheap
    max_pool_per_class: int  # labelled examples per class that budgets are drawn from
    text_samples: int  # labelled tweets available to the NLP notebook (pool + test)
    text_labels_per_class: tuple[int, ...]  # label budgets of the NLP runs (x2 classes: labels in all)
    text_finetune_labels_per_class: tuple[int, ...]  # fewer budgets where a language model is fine-tuned
    text_finetune_steps: int  # gradient steps per language-model fine-tuning run
    text_scratch_steps: int  # gradient steps per run of the small from-scratch text model
    adapt_source_samples: int  # font-rendered digits in notebook 05's source set (80% train, 20% held out)
    adapt_steps: int  # steps of notebook 05's from-scratch runs; DANN, self-training, few-shot take shares
    scan_labels_per_class: tuple[int, ...]  # budgets of notebook 05's networks on the solar-cell scans
    speech_source_samples: int  # spoken words in notebook 06's source set (eSpeak NG: ~5 ms a clip, once; then cached)
    speech_target_samples: int  # spoken digits by train speakers in notebook 06's pool; its test set has max_eval
    bias_templates: int  # sentence templates of notebook 07's bias audit (of 12; each ~4 s of MiniLM on 2 cores, once)
    misleading_samples: int  # shuffled-label letters notebook 07's misleading source is pretrained on (once; then cached)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", backbone_image_size=96, batch_size=64, finetune_steps=20,
        pretrain_samples=1_000, pretrain_epochs=1, seeds=(0,), labels_per_class=(1, 5),
        finetune_labels_per_class=(1,),
        max_eval=200, max_pool_per_class=20, text_samples=400,
        text_labels_per_class=(10, 50), text_finetune_labels_per_class=(10,), text_finetune_steps=4,
        text_scratch_steps=10, adapt_source_samples=300, adapt_steps=6,
        scan_labels_per_class=(5,),
        speech_source_samples=250, speech_target_samples=100, bias_templates=3, misleading_samples=520,
    ),
    "cpu": Profile(
        name="cpu", backbone_image_size=128, batch_size=64, finetune_steps=150,
        pretrain_samples=20_000, pretrain_epochs=3, seeds=(0, 1, 2),
        labels_per_class=(1, 2, 5, 10, 20, 50), finetune_labels_per_class=(1, 5, 50),
        max_eval=1_000, max_pool_per_class=200, text_samples=6_000,
        text_labels_per_class=(25, 100, 500, 2_500), text_finetune_labels_per_class=(100,), text_finetune_steps=24,
        text_scratch_steps=100, adapt_source_samples=3_000, adapt_steps=150,
        scan_labels_per_class=(10, 50),
        speech_source_samples=4_000, speech_target_samples=1_000, bias_templates=12, misleading_samples=5_000,
    ),
    "gpu": Profile(
        name="gpu", backbone_image_size=224, batch_size=128, finetune_steps=300,
        pretrain_samples=100_000, pretrain_epochs=10, seeds=(0, 1, 2, 3, 4),
        labels_per_class=(1, 2, 5, 10, 20, 50, 100),
        finetune_labels_per_class=(1, 2, 5, 10, 20, 50, 100), max_eval=2_000,
        max_pool_per_class=400, text_samples=20_000,
        text_labels_per_class=(25, 100, 500, 2_500, 5_000),
        text_finetune_labels_per_class=(25, 100, 500, 2_500),
        text_finetune_steps=300, text_scratch_steps=300, adapt_source_samples=20_000, adapt_steps=600,
        scan_labels_per_class=(5, 10, 20, 50, 100, 200),
        speech_source_samples=20_000, speech_target_samples=8_000, bias_templates=12, misleading_samples=20_000,
    ),
}


def default_profile_name() -> str:
    """``TLCOURSE_PROFILE`` if set, else ``gpu`` when CUDA is present, else ``cpu``."""
    name = os.environ.get(PROFILE_ENV, "").strip().lower()
    if name:
        return name
    return "gpu" if torch.cuda.is_available() else "cpu"


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The profile called ``name`` (default: :func:`default_profile_name`), with overrides.

    >>> get_profile("smoke", finetune_steps=3).finetune_steps
    3
    """
    name = (name or default_profile_name()).lower()
    if name not in PROFILES:
        raise ValueError(
            f"Unknown profile {name!r}. Choose one of {sorted(PROFILES)} "
            f"(set {PROFILE_ENV}=smoke|cpu|gpu, or call get_profile('cpu'))."
        )
    unknown = set(overrides) - {f.name for f in fields(Profile)}
    if unknown:
        raise ValueError(f"Profile has no field(s) {sorted(unknown)}; fields are "
                         f"{[f.name for f in fields(Profile)]}.")
    return replace(PROFILES[name], **overrides)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run repeats exactly on CPU.

    Hash randomisation (the order of a set of strings) is not seeded here: it is fixed once per
    process, when the interpreter starts, by the ``PYTHONHASHSEED`` environment variable; the
    grader sets it for the notebooks it runs.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


@contextmanager
def preserved_rng():
    """Run a block without changing the caller's random state, even if the block reseeds.

    Saves, then restores on the way out (also after an error), the state of Python's
    ``random``, NumPy's global RNG, torch's CPU generator, every CUDA device's and MPS's
    generator when present, and the cuDNN flags :func:`seed_everything` sets. Exercise checks
    run inside it, so checking an answer never changes what the learner's next cell draws.
    """
    saved = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    mps = torch.mps.get_rng_state() if torch.backends.mps.is_available() else None
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.random.set_rng_state(saved[2])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        if mps is not None:
            torch.mps.set_rng_state(mps)


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device: ``TLCOURSE_DEVICE`` or ``prefer`` if given, else cuda, mps, cpu."""
    choice = prefer or os.environ.get(DEVICE_ENV)
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cache_dir() -> Path:
    """Where downloads and generated files live: ``TLCOURSE_CACHE``, else ``~/.cache/tlcourse``."""
    root = os.environ.get(CACHE_ENV)
    if root:
        path = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(xdg) / "tlcourse"
    path.mkdir(parents=True, exist_ok=True)
    return path
