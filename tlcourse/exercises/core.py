"""Exercise questions in the style of Kaggle's learntools: ``q1.check(...)``, ``q1.hint()``, ``q1.solution()``.

A :class:`Problem` names the learner's variables it looks at and lists :class:`Requirement` s,
each a small function that raises :class:`Mistake` with a message written for the learner
("block3 is still trainable: ..."). Points are shared equally among the requirements, so a
half-right answer earns half the points. The same problem grades a whole notebook for the
grader (:meth:`Problem.grade`), reading the variables from the notebook's namespace.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import preserved_rng
from .answers import NotSent, Raised, round_trip

SOLUTIONS_FILE = Path(__file__).with_name("solutions.json")  # written by `tlcourse make-exercises`
KIT_MARKER = Path(__file__).with_name("student_kit.json")  # only in the student kit's build
NOT_IN_KIT = ("Solutions are not part of this build of tlcourse: it is the student kit of a graded "
              "course. Ask your instructor for help, or use {question}.hint() for the next hint.")
# The instructor's switch: TLCOURSE_SOLUTIONS=off hides solutions in any build (the grader sets it
# for every notebook it runs, so a graded run never prints one).
SOLUTIONS_ENV = "TLCOURSE_SOLUTIONS"
SOLUTIONS_OFF = ("Solutions are switched off here ({env}=off: a graded course, or a graded run). "
                 "Ask your instructor for help, or use {question}.hint() for the next hint.")

# The solutions shown in this kernel ("01 q2"), which every later check prints, so the
# notebook's saved outputs keep the record even when the solution() call is deleted
# (tlcourse grade flags it: see tlcourse.exercises.integrity).
OPENED: list[str] = []
OPENED_LINE = "solutions opened in this session: "

CORRECT, PARTIAL, INCORRECT, NOT_DONE = "correct", "partial", "incorrect", "not done"
WRITTEN = "written"  # a judgement question's answer, complete enough for the instructor to grade


class Mistake(Exception):
    """An expected mistake in a learner's answer; the message says what to fix."""


@dataclass(frozen=True)
class Requirement:
    """One thing a correct answer must satisfy.

    ``test(*values)`` receives the learner's variables (in the order the problem lists them) and raises :class:`Mistake`
    when the answer falls short. A failed ``gate`` stops the later requirements from running
    (they would only crash on an answer of the wrong kind); they earn nothing.
    """

    description: str
    test: Callable[..., None]
    gate: bool = False


@dataclass
class Verdict:
    """What a check found: status, points earned out of ``max_points``, and feedback lines."""

    question: str
    status: str
    points: float
    max_points: float
    feedback: list[str] = field(default_factory=list)

    def text(self) -> str:
        head = {CORRECT: "Correct", PARTIAL: "Partly right", INCORRECT: "Not yet right",
                NOT_DONE: "Not done yet", WRITTEN: "Written: your instructor grades it"}[self.status]
        lines = [f"{self.question}: {head} ({self.points:g}/{self.max_points:g} points)"]
        return "\n".join(lines + [f"  - {line}" for line in self.feedback])

    def as_dict(self) -> dict:
        return {"question": self.question, "status": self.status, "points": self.points,
                "max_points": self.max_points, "feedback": " | ".join(self.feedback)}


def attempt(function: Callable, *args):
    """``function(*args)``, or :class:`~tlcourse.exercises.answers.Raised` saying what it raised
    (a function question's ``runs`` records a learner's failures as data)."""
    try:
        return function(*args)
    except Mistake as err:
        return Raised(str(err), mistake=True)
    except Exception as err:
        return Raised(_describe_error(err))


def outcome(value, what: str):
    """``value``, unless it records an error: then a :class:`Mistake` saying that ``what`` raised it."""
    if isinstance(value, Raised):
        raise Mistake(value.error if value.mistake else f"{what} raised {value.error}")
    return value


def _unanswered(value) -> bool:
    return value is None or value is Ellipsis


def _describe_error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _failure(req: Requirement, values: list) -> str | None:
    """None when the answer meets ``req``, else the message for the learner."""
    try:
        req.test(*values)
    except Mistake as err:
        return str(err)
    except Exception as err:  # a broken answer can break a check: say so, without a traceback
        return f"could not check that {req.description}: the answer raised {_describe_error(err)}"
    return None


@dataclass
class Problem:
    """One exercise question: the variables it checks, its requirements, hints and points."""

    name: str  # "q1": the name the notebook binds it to
    exercise: str  # "01": the exercise notebook it belongs to
    title: str
    variables: tuple[str, ...]
    requirements: Sequence[Requirement]
    hints: Sequence[str]
    points: float = 1.0
    # For a question whose answer is a function: run it on the check's own inputs, where it was
    # defined (in the grader, inside the notebook's box), and return what came out as data (a
    # dict); the requirements receive that dict, never the function.
    runs: Callable[[Callable], dict] | None = None
    _hints_shown: int = field(default=0, repr=False)

    def evaluate(self, values: Mapping[str, object]) -> Verdict:
        """Grade the answer held in ``values`` (variable name -> object) without printing, as the
        grader does: handed over as data first (:meth:`answer`, then
        :func:`~tlcourse.exercises.answers.round_trip`), then checked (:meth:`verdict_on`).

        Everything runs inside :func:`tlcourse.config.preserved_rng`: reference runs reseed
        every generator, and the learner's random state must come out as it went in.
        """
        with preserved_rng():
            return self.verdict_on(round_trip(self.answer(values)))

    def verdict_on(self, values: Mapping[str, object]) -> Verdict:
        """Check answers already handed over as data (what the grader's judge process calls)."""
        missing = [n for n in self.variables if _unanswered(values.get(n))]
        unsent = [(n, values[n]) for n in self.variables if isinstance(values.get(n), NotSent)]
        if unsent and not missing:
            return Verdict(self.name, INCORRECT, 0.0, self.points,
                           [f"`{n}` could not be handed to the checks ({v.kind}): {v.reason}" for n, v in unsent])
        if missing:
            names = ", ".join(f"`{n}`" for n in missing)
            return Verdict(self.name, NOT_DONE, 0.0, self.points,
                           [f"{names} {'is' if len(missing) == 1 else 'are'} not set yet: write your "
                            f"answer in the cell that defines {'it' if len(missing) == 1 else 'them'}, "
                            f"run that cell, then check again."])
        with preserved_rng():
            passed, feedback = self._run_requirements([values[n] for n in self.variables])
        share = self.points * passed / len(self.requirements)
        status = CORRECT if passed == len(self.requirements) else PARTIAL if passed else INCORRECT
        return Verdict(self.name, status, round(share, 2), self.points, feedback)

    def _run_requirements(self, values: list) -> tuple[int, list[str]]:
        """How many requirements ``values`` meet, and the feedback; a failed gate stops the rest."""
        passed, feedback = 0, []
        for i, req in enumerate(self.requirements):
            failure = _failure(req, values)
            if failure is None:
                passed += 1
                continue
            feedback.append(failure)
            skipped = len(self.requirements) - i - 1
            if req.gate and skipped:
                feedback.append(f"{skipped} further check(s) skipped until this is fixed.")
                break
        return passed, feedback

    def answer(self, values: Mapping[str, object]) -> dict:
        """What this question hands to its checks from the learner's ``values``: the variables as
        they are, or, for a function question (``runs``), what the function gave on the check's inputs."""
        answer = {n: None if _unanswered(values.get(n)) else values.get(n) for n in self.variables}
        if self.runs is not None:
            function = answer[self.variables[0]]
            if callable(function) and not isinstance(function, type):
                answer[self.variables[0]] = self.runs(function)
        return answer

    def grade(self, namespace: Mapping[str, object]) -> Verdict:
        """Grade the variables as a notebook left them (``namespace``: the notebook's variables)."""
        return self.evaluate({n: namespace.get(n) for n in self.variables})

    def check(self, *answer) -> None:
        """Check your answer: pass the variable(s) the question names, e.g. ``q1.check(digit_model)``.

        The answer is checked as the grader checks it, outside your notebook: it goes through
        :func:`tlcourse.exercises.answers.round_trip` first (a model built from a class defined
        in the notebook cannot make that trip, and the verdict says so).

        With ``TLCOURSE_STRICT_CHECKS=1`` (set by ``make test``, so nbval fails when a solutions
        notebook stops passing its own checks) an answer that is not fully correct raises.
        """
        if len(answer) != len(self.variables):
            names = ", ".join(self.variables)
            print(f"{self.name}.check needs {len(self.variables)} argument(s): call "
                  f"{self.name}.check({names}).")
            return
        verdict = self.evaluate(dict(zip(self.variables, answer)))
        print(verdict.text())
        if OPENED:
            print(f"({OPENED_LINE}{', '.join(OPENED)})")
        if os.environ.get("TLCOURSE_STRICT_CHECKS") == "1" and verdict.status not in (CORRECT, WRITTEN):
            raise AssertionError(f"strict checks (TLCOURSE_STRICT_CHECKS=1): {verdict.text()}")

    def hint(self, level: int | None = None) -> None:
        """Show the next hint (or hint number ``level``); later hints give more away."""
        if level is None:
            self._hints_shown = min(self._hints_shown + 1, len(self.hints))
            level = self._hints_shown
        if not 1 <= level <= len(self.hints):
            print(f"{self.name} has hints 1 to {len(self.hints)}.")
            return
        more = " (call hint() again for a stronger one)" if level < len(self.hints) else ""
        print(f"{self.name} hint {level}/{len(self.hints)}{more}:\n{self.hints[level - 1]}")

    def solution(self) -> None:
        """Print the reference solution (taken from the solutions notebook); in the student kit,
        or with ``TLCOURSE_SOLUTIONS=off`` (an instructor's switch), say that there is none here.
        A solution shown is recorded (``OPENED``) and every later check prints the record."""
        if stored_solution(self.exercise, self.name) is not None and f"{self.exercise} {self.name}" not in OPENED:
            OPENED.append(f"{self.exercise} {self.name}")
        print(f"{self.name} solution:\n{solution_code(self.exercise, self.name)}")


NUMBER = re.compile(r"\d")


@dataclass
class Judgement(Problem):
    """A question that needs judgement, answered in words *and* numbers from the learner's own
    measurement (a string variable), and graded by a person.

    The check only says whether the answer is complete enough to grade: at least ``min_words``
    words and at least one number quoted from a measurement. It earns no points by itself
    (``points`` is 0, so automatic totals are unchanged); the answer's text goes into the
    verdict's feedback, which ``tlcourse grade`` copies into the gradebook, where the instructor
    awards up to ``instructor_points``.
    """

    points: float = 0.0
    instructor_points: float = 2.0
    min_words: int = 30

    def verdict_on(self, values: Mapping[str, object]) -> Verdict:
        text = values.get(self.variables[0])
        if _unanswered(text) or (isinstance(text, str) and not text.strip()):
            return Verdict(self.name, NOT_DONE, 0.0, 0.0,
                           [f"`{self.variables[0]}` is not written yet: answer in a few sentences, quoting "
                            "numbers from your own measurement, then check again."])
        if not isinstance(text, str):
            return Verdict(self.name, INCORRECT, 0.0, 0.0,
                           [f"`{self.variables[0]}` should be your answer as a string of words (in quotes), "
                            f"not {type(text).__name__}."])
        missing = []
        words = len(text.split())
        if words < self.min_words:
            missing.append(f"{words} words: write at least {self.min_words}, with your reasons.")
        if not NUMBER.search(text):
            missing.append("quote at least one number from your own measurement (an accuracy, a gain in "
                           "points, a number of labels).")
        answer = " ".join(text.split())[:2000]
        feedback = missing + [f"for the instructor ({self.instructor_points:g} points): {answer}"]
        return Verdict(self.name, INCORRECT if missing else WRITTEN, 0.0, 0.0, feedback)


def _solutions_hidden() -> bool:
    """In the student kit, or with the instructor's switch ``TLCOURSE_SOLUTIONS=off``."""
    return KIT_MARKER.exists() or os.environ.get(SOLUTIONS_ENV, "").strip().lower() in ("off", "0", "no", "false")


def stored_solution(exercise: str, question: str) -> str | None:
    """The solution block of ``question`` as ``make-exercises`` stored it, if this build shows it
    (None in the kit, with solutions switched off, or when none is stored)."""
    if _solutions_hidden() or not SOLUTIONS_FILE.exists():
        return None
    return json.loads(SOLUTIONS_FILE.read_text()).get(exercise, {}).get(question)


def solution_code(exercise: str, question: str) -> str:
    """The solution block of ``question`` in exercise ``exercise``, as ``make-exercises`` stored it,
    or why there is none."""
    if KIT_MARKER.exists():
        return NOT_IN_KIT.format(question=question)
    if _solutions_hidden():
        return SOLUTIONS_OFF.format(env=SOLUTIONS_ENV, question=question)
    if not SOLUTIONS_FILE.exists():
        return "(solutions are not installed: run `tlcourse make-exercises` in the course folder)"
    return stored_solution(exercise, question) or "(no stored solution for this question)"
