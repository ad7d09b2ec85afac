"""Self-checking exercises and the grader.

In an exercise notebook::

    from tlcourse.exercises.ex01 import q1, q2, q3
    q1.check(digit_model)   # verdict and what to fix
    q1.hint()               # the next hint
    q1.solution()           # the reference answer

Instructors: ``tlcourse make-exercises`` writes ``exercises/`` from ``solutions/`` (``--kit DIR``:
the student kit, without solutions), and ``tlcourse grade SUBMISSIONS... --out grades.csv``
grades a folder of notebooks (``--jobs N`` at once, ``--lms-csv`` one row per student).
"""
from __future__ import annotations

import importlib

from ..errors import UnknownNameError
from .core import CORRECT, INCORRECT, NOT_DONE, PARTIAL, WRITTEN, Judgement, Mistake, Problem, Requirement, Verdict

EXERCISES = {"01": "ex01", "02": "ex02", "03": "ex03", "04": "ex04", "05": "ex05", "06": "ex06", "07": "ex07",
             "08": "ex08"}  # exercise id -> module


def questions(exercise: str) -> tuple[Problem, ...]:
    """The questions of exercise ``exercise`` ("01"), in order."""
    if exercise not in EXERCISES:
        raise UnknownNameError(f"There is no exercise {exercise!r}; the exercises are "
                               f"{sorted(EXERCISES)}.")
    return importlib.import_module(f"{__name__}.{EXERCISES[exercise]}").QUESTIONS


__all__ = ["CORRECT", "EXERCISES", "INCORRECT", "Judgement", "NOT_DONE", "PARTIAL", "WRITTEN", "Mistake",
           "Problem", "Requirement", "Verdict", "questions"]
