"""What the checks compare against, built once per process: the reference task and results."""
from __future__ import annotations

from functools import lru_cache

from ..config import get_profile
from ..experiments import Settings, Task, run_one
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
