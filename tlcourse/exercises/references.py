"""What the checks compare against, built once per process: the reference task and results."""
from __future__ import annotations

from functools import lru_cache

from ..config import get_profile
from ..experiments import Settings, Task, ValidationTask, run_one, validation_task
from ..tasks import digits_task, fonts_to_handwriting_task


@lru_cache(maxsize=1)
def digits() -> Task:
    """Letters -> digits with the current profile, as the exercise notebooks build it."""
    return digits_task(get_profile())


@lru_cache(maxsize=None)
def digits_accuracy(strategy: str, per_class: int, seed: int = 0, **settings) -> float:
    """Test accuracy of one reference run (see :func:`tlcourse.experiments.run_one`)."""
    return run_one(digits(), strategy, per_class, seed, Settings(**settings))["accuracy"]


@lru_cache(maxsize=1)
def digits_validation() -> ValidationTask:
    """:func:`digits` with its default validation split, as ``validation_task(digits)`` makes it."""
    return validation_task(digits())


@lru_cache(maxsize=None)
def digits_validation_accuracy(strategy: str, per_class: int, seed: int = 0) -> float:
    """Validation accuracy of one run on :func:`digits_validation` with ``Settings.for_profile``."""
    return run_one(digits_validation(), strategy, per_class, seed, Settings.for_profile(get_profile()))["accuracy"]


@lru_cache(maxsize=1)
def fonts_to_handwriting():
    """Rendered digits -> handwriting with the current profile, as exercise 05 builds it."""
    return fonts_to_handwriting_task(get_profile())


@lru_cache(maxsize=1)
def tweets():
    """MiniLM -> tweets with the current profile, as exercise 04 builds it."""
    from ..nlp import text_task  # imported here: only exercise 04 needs the language model

    return text_task(profile=get_profile())


@lru_cache(maxsize=None)
def tweets_accuracy(strategy: str, per_class: int, seed: int = 0) -> float:
    """Test accuracy of one reference text run (see :func:`tlcourse.experiments.run_one`)."""
    from ..nlp import text_settings

    return run_one(tweets(), strategy, per_class, seed, text_settings(get_profile()))["accuracy"]


@lru_cache(maxsize=1)
def tweets_validation() -> ValidationTask:
    """:func:`tweets` with its default validation split, as ``validation_task(task)`` makes it."""
    return validation_task(tweets())


@lru_cache(maxsize=None)
def tweets_validation_accuracy(strategy: str, per_class: int, seed: int = 0) -> float:
    """Validation accuracy of one text run on :func:`tweets_validation`."""
    from ..nlp import text_settings

    return run_one(tweets_validation(), strategy, per_class, seed, text_settings(get_profile()))["accuracy"]


@lru_cache(maxsize=1)
def speech():
    """Notebook 06's spoken digits and their three sources with the current profile, as
    exercise 06 builds them (clips and the words CNN come from the cache after the first call)."""
    from ..tasks import speech_tasks  # imported here: only exercise 06 needs the speech sets

    return speech_tasks(get_profile(), progress=False)


def profile_seeds() -> tuple[int, ...]:
    return tuple(get_profile().seeds)


@lru_cache(maxsize=1)
def lite0_state() -> dict:
    """The state of ``speech().imagenet.make_model(True)``: ImageNet weights and BatchNorm
    statistics, with a new (random) 10-class head."""
    return {k: v.detach().clone() for k, v in speech().imagenet.make_model(True).state_dict().items()}


@lru_cache(maxsize=None)
def speech_accuracy(arm: str, per_class: int, seed: int = 0) -> float:
    """Validation accuracy of one reference run of exercise 06's ``arm`` (a key of ``ex06.ARMS``),
    with ``Settings.for_profile``: probes cost a feature pass each, once per process."""
    from .ex06 import ARMS

    name, strategy = ARMS[arm]
    task = next(t for t in speech_validation() if t.name == name)
    return run_one(task, strategy, per_class, seed, Settings.for_profile(get_profile()))["accuracy"]


@lru_cache(maxsize=1)
def speech_validation() -> tuple[ValidationTask, ValidationTask]:
    """``validation_task`` of the words and ImageNet speech tasks, as exercise 06's q3 makes them."""
    return validation_task(speech().words), validation_task(speech().imagenet)


@lru_cache(maxsize=1)
def cue():
    """Notebook 07's planted-cue tasks with the current profile, as exercise 07 builds them."""
    from ..bias import cue_tasks  # imported here: only exercise 07 needs them

    return cue_tasks(get_profile())
