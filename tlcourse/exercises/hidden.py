"""Run the instructor's hidden tests on a notebook's handed-over variables: a child of ``tlcourse grade``.

    python -m tlcourse.exercises.hidden EXERCISE TESTS_DIR HANDED_OVER_DIR

This process never runs the learner's code: it reads the notebook's data variables, written
by the runner inside the box (:mod:`tlcourse.exercises.handover`), loads every ``test_*``
function of ``TESTS_DIR/EXERCISE_*.py`` and prints one JSON verdict per test. The learner's
process never sees the tests: their folder is neither on its command line nor in its box.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .core import CORRECT, INCORRECT, Verdict
from .handover import HandedOver, import_namespace
from .runner import GRADING_SECONDS, CappedOutput, TimeLimit, _describe, _interrupt

HANDED_OVER_BYTES = 2**30  # the most the runner's files may hold (its file-size limit is lower)


@dataclass
class HiddenTest:
    """An instructor's test the learner never sees: ``func(namespace)`` raises AssertionError to fail."""

    name: str
    func: Callable[[dict], None] | None
    points: float
    load_error: str = ""  # why the test file could not be loaded (the instructor's to fix)

    def grade(self, namespace: dict) -> Verdict:
        if self.func is None:
            return Verdict(self.name, INCORRECT, 0.0, self.points,
                           [f"the hidden test file could not be loaded: {self.load_error}"])
        try:
            self.func(namespace)
        except AssertionError as err:
            return Verdict(self.name, INCORRECT, 0.0, self.points, [str(err) or "a hidden test failed"])
        except Exception as err:
            return Verdict(self.name, INCORRECT, 0.0, self.points,
                           [f"a hidden test could not run: {_describe(err)}"])
        return Verdict(self.name, CORRECT, self.points, self.points, [])


def hidden_tests(exercise: str, tests_dir: Path) -> list[HiddenTest]:
    """Every ``test_*`` function in ``tests_dir/<exercise>_*.py``; ``func.points`` (default 1) weighs it."""
    found = []
    for path in sorted(tests_dir.glob(f"{exercise}_*.py")):
        spec = importlib.util.spec_from_file_location(f"hidden_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as err:
            found.append(HiddenTest(f"hidden:{path.stem}", None, 0.0, _describe(err)))
            continue
        found += [HiddenTest(f"hidden:{path.stem}.{name}", func, float(getattr(func, "points", 1)))
                  for name, func in sorted(vars(module).items())
                  if name.startswith("test_") and callable(func)]
    return found


def run_hidden_tests(exercise: str, tests_dir: Path, handed_over: Path) -> list[Verdict]:
    """Every hidden test on the handed-over variables, all within the grading budget."""
    tests = hidden_tests(exercise, tests_dir)
    try:
        namespace = import_namespace(handed_over, HANDED_OVER_BYTES)
    except Exception as err:  # no variables came out (the notebook was stopped, or broke them)
        namespace = HandedOver({}, {})
        print(f"no variables handed over: {_describe(err)}")
    verdicts, deadline = [], time.monotonic() + GRADING_SECONDS
    signal.signal(signal.SIGALRM, _interrupt)
    for test in tests:
        signal.alarm(max(int(deadline - time.monotonic()), 1))
        try:
            verdicts.append(test.grade(namespace))
        except TimeLimit:
            verdicts.append(Verdict(test.name, INCORRECT, 0.0, test.points, ["the hidden test ran out of time"]))
        finally:
            signal.alarm(0)
    return verdicts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlcourse.exercises.hidden")
    parser.add_argument("exercise")
    parser.add_argument("tests", type=Path)
    parser.add_argument("handed_over", type=Path)
    args = parser.parse_args(argv)
    real, sys.stdout = sys.stdout, CappedOutput()  # what the tests print stays out of the answer
    try:
        verdicts = run_hidden_tests(args.exercise, args.tests, args.handed_over)
    finally:
        sys.stdout = real
    print(json.dumps([v.as_dict() for v in verdicts]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
