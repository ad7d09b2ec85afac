"""Grade a notebook's answers in a process that never ran the learner's code: a child of ``tlcourse grade``.

    python -m tlcourse.exercises.judge EXERCISE ANSWERS_DIR --box BOX
    python -m tlcourse.exercises.judge --serve   (one JSON request a line on stdin, one answer a line on stdout)

The runner, inside the box, left one file per question in ``ANSWERS_DIR`` (``q1.pt``, ...:
see :mod:`tlcourse.exercises.answers`). This process reads them back as data, runs every
question's checks on them and prints one JSON verdict per question. Whatever the notebook did
to the checks in its own process (patched them, wrote a report, exited early) stays there: the
points are decided here. A question whose file is missing earns nothing, with the reason.
Files the checks open by name (a cache the learner saved) must lie inside ``BOX``.

With ``--serve`` one process grades submission after submission (``tlcourse grade`` keeps one
per grading thread): importing torch and the checks, and the checks' reference runs, then
happen once per grading run instead of once per notebook. It is safe to reuse because no
learner's code ever runs in it; each request is ``{"exercise", "answers", "box"}`` and each
answer a JSON list of verdicts, on one line.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from . import checks, questions
from .answers import answer_file, load_answers
from .core import INCORRECT, Verdict
from .runner import GRADING_SECONDS, CappedOutput, TimeLimit, _describe, _interrupt


def judge(exercise: str, folder: Path) -> list[Verdict]:
    """Every question of ``exercise`` graded on the answers in ``folder``, within the grading budget."""
    verdicts, deadline = [], time.monotonic() + GRADING_SECONDS
    signal.signal(signal.SIGALRM, _interrupt)
    for question in questions(exercise):
        path = answer_file(folder, question)
        signal.alarm(max(int(deadline - time.monotonic()), 1))
        try:
            if folder.is_symlink() or not path.is_file():
                verdicts.append(Verdict(question.name, INCORRECT, 0.0, question.points,
                                        ["no answer was handed over: the notebook's process stopped "
                                         "before its answers were saved (see the status and cell errors)"]))
                continue
            verdicts.append(question.verdict_on(load_answers(path)))
        except TimeLimit:
            verdicts.append(Verdict(question.name, INCORRECT, 0.0, question.points, ["the check ran out of time"]))
        except Exception as err:  # a file the checks cannot read back
            verdicts.append(Verdict(question.name, INCORRECT, 0.0, question.points,
                                    [f"the answer could not be read back: {_describe(err)}"]))
        finally:
            signal.alarm(0)
    return verdicts


def judged(exercise: str, answers: Path, box: Path) -> str:
    """:func:`judge`'s verdicts as one line of JSON; files the checks open must lie inside ``box``."""
    checks.READABLE = box.resolve()
    real, sys.stdout = sys.stdout, CappedOutput()  # what the checks print stays out of the answer
    try:
        verdicts = judge(exercise, answers)
    finally:
        sys.stdout = real
    return json.dumps([v.as_dict() for v in verdicts])


def serve() -> None:
    """Answer requests from stdin until it closes (see the module's docstring)."""
    for line in sys.stdin:
        request = json.loads(line)
        print(judged(request["exercise"], Path(request["answers"]), Path(request["box"])), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlcourse.exercises.judge")
    parser.add_argument("exercise", nargs="?")
    parser.add_argument("answers", type=Path, nargs="?")
    parser.add_argument("--box", type=Path, help="the only folder files named in answers may be in")
    parser.add_argument("--serve", action="store_true", help="answer one request a line from stdin")
    args = parser.parse_args(argv)
    if args.serve:
        serve()
    elif args.exercise and args.answers and args.box:
        print(judged(args.exercise, args.answers, args.box))
    else:
        parser.error("give EXERCISE ANSWERS --box BOX, or --serve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
