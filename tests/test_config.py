"""Profiles, seeding, device and cache directory."""
import os
import random
import re
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from tlcourse import config


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, "smoke")
    assert config.get_profile().name == "smoke"
    monkeypatch.setenv(config.PROFILE_ENV, "CPU")
    assert config.get_profile().name == "cpu"


def test_profile_detected_without_environment(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.get_profile().name == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_profile().name == "gpu"


def test_profiles_grow_from_smoke_to_gpu():
    smoke, cpu, gpu = (config.get_profile(n) for n in ("smoke", "cpu", "gpu"))
    for field in ("finetune_steps", "pretrain_samples", "max_eval", "text_samples"):
        assert getattr(smoke, field) < getattr(cpu, field) <= getattr(gpu, field), field
    assert len(smoke.seeds) < len(cpu.seeds) <= len(gpu.seeds)
    assert len(cpu.seeds) >= 3  # claims are means over at least three seeds


def test_profile_is_frozen_and_overridable():
    profile = config.get_profile("cpu", finetune_steps=2)
    assert profile.finetune_steps == 2 and config.get_profile("cpu").finetune_steps != 2
    with pytest.raises(Exception):
        profile.finetune_steps = 5


def test_every_profile_field_is_read_somewhere():
    """A field nothing reads is a switch that does nothing: the course or a notebook must use it."""
    root = Path(config.__file__).parents[1]
    sources = "\n".join(p.read_text() for folder in ("tlcourse", "notebooks", "solutions")
                        for p in (root / folder).rglob("*.py") if p.name != "config.py")
    unread = [f.name for f in fields(config.Profile)
              if f.name != "name" and not re.search(rf"\.{f.name}\b", sources)]
    assert unread == [], f"Profile fields nothing reads: {unread}"


@pytest.mark.parametrize("bad, words", [({"name": "laptop"}, "smoke"), ({"steps": 2}, "finetune_steps")])
def test_bad_profile_requests_say_what_exists(bad, words):
    name = bad.pop("name", "cpu")
    with pytest.raises(ValueError, match=words):
        config.get_profile(name, **bad)


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    config.seed_everything(7)
    first = draw()
    config.seed_everything(7)
    assert draw() == first
    config.seed_everything(8)
    assert draw() != first


def test_preserved_rng_restores_every_generator_even_after_an_error():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    config.seed_everything(7)
    expected = draw()
    config.seed_everything(7)
    torch.backends.cudnn.benchmark = True
    with config.preserved_rng():
        config.seed_everything(123)  # also sets the cuDNN flags
        draw()
    assert draw() == expected and torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    config.seed_everything(7)
    with pytest.raises(ZeroDivisionError), config.preserved_rng():
        draw()
        1 / 0
    assert draw() == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_preserved_rng_restores_the_cuda_generator():
    torch.manual_seed(7)
    expected = torch.rand(3, device="cuda").tolist()
    torch.manual_seed(7)
    with config.preserved_rng():
        torch.manual_seed(123)
        torch.rand(3, device="cuda")
    assert torch.rand(3, device="cuda").tolist() == expected


def test_seed_everything_leaves_the_environment_alone(monkeypatch):
    """PYTHONHASHSEED only counts when an interpreter starts: setting it in os.environ would only
    change the hashes of child processes started later, not of this one."""
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    config.seed_everything(3)
    assert "PYTHONHASHSEED" not in os.environ


def test_device_order(monkeypatch):
    monkeypatch.delenv(config.DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert config.get_device().type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert config.get_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_device().type == "cuda"
    monkeypatch.setenv(config.DEVICE_ENV, "cpu")
    assert config.get_device().type == "cpu"


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "c"))
    assert config.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
    monkeypatch.delenv(config.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_dir() == tmp_path / "xdg" / "tlcourse"
