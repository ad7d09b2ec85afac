"""Run one notebook inside this process and hand its answers out: the child process of ``tlcourse grade``.

    python -m tlcourse.exercises.runner NOTEBOOK REPORT.json --answers DIR [--seconds N] [--namespace DIR]

Cells run one after another in an IPython shell (so magics and ``display`` work) with the
working directory where the grader put the copy. A cell that raises is recorded and the next
one runs, as in Jupyter when you keep going. When the time budget is spent the running cell
is interrupted and the rest are skipped; each question's answers are then written out as
they stand, as data (:mod:`tlcourse.exercises.answers`), with a separate, short budget. No check
runs here: the questions are graded by another process that never runs the learner's code
(:mod:`tlcourse.exercises.judge`), so nothing this notebook does to the checks counts. The
notebook's data variables are also written out for the hidden tests
(:mod:`tlcourse.exercises.hidden`), which are never visible here. Printed output is kept only up to a cap, so a notebook that prints
megabytes costs nothing. The address-space and file-size limits the grader
passes are set first thing, before any cell runs.
"""
from __future__ import annotations

import argparse
import json
import resource
import signal
import sys
import time
from pathlib import Path

from ..config import preserved_rng
from . import questions
from .answers import answer_file, encode
from .handover import export_namespace

OUTPUT_CAP = 20_000  # characters of printed output kept per notebook (for the report)
GRADING_SECONDS = 120  # budget for the checks after the cells (and again for the hidden tests)


class TimeLimit(BaseException):
    """The time budget ran out. A BaseException, so ``except Exception`` in a cell cannot swallow it."""


class CappedOutput:
    """A stand-in for stdout/stderr that keeps the first ``cap`` characters and counts the rest."""

    def __init__(self, cap: int = OUTPUT_CAP):
        self.cap, self.kept, self.size, self.dropped = cap, [], 0, 0

    def write(self, text: str) -> int:
        room = self.cap - self.size
        if room > 0:
            self.kept.append(text[:room])
            self.size += len(self.kept[-1])
        self.dropped += max(len(text) - max(room, 0), 0)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        more = f"\n[... {self.dropped:,} more characters not kept]" if self.dropped else ""
        return "".join(self.kept) + more


def _interrupt(signum, frame):
    signal.alarm(1)  # keep interrupting in case the cell catches this one
    raise TimeLimit()


def _describe(err: BaseException) -> str:
    if isinstance(err, TimeLimit):
        return "stopped: the notebook's time limit ran out while this cell was running"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def code_cells(path: Path) -> list[tuple[int, str]]:
    """``(index, source)`` of each code cell of the notebook at ``path``.

    A version-4 notebook (every notebook Jupyter has saved since 2015) is read as the JSON it
    is: importing nbformat would also import jsonschema's format checkers, over a second of
    every graded notebook's time. Older versions go through nbformat, which converts them.
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    if nb.get("nbformat") != 4:
        import nbformat

        nb = nbformat.reads(json.dumps(nb), as_version=4)
    return [(i, "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def run_cells(cells: list[tuple[int, str]], seconds: float) -> tuple[dict, list[dict], str]:
    """Execute the code cells ``(index, source)``; return the namespace, one record per failed
    cell, and a status."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    failures, status, deadline = [], "completed", time.monotonic() + seconds
    for index, source in cells:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            status = f"time limit: cells from {index} on were not run"
            break
        signal.alarm(max(int(remaining + 0.999), 1))
        try:
            result = shell.run_cell(source, store_history=False)
            error = result.error_before_exec or result.error_in_exec
        except TimeLimit as err:
            error = err
        finally:
            signal.alarm(0)
        if error is not None:
            failures.append({"cell": index, "error": _describe(error)})
            if isinstance(error, TimeLimit):
                status = f"time limit: stopped in cell {index}"
                break
    return shell.user_ns, failures, status


def save_answers(namespace: dict, exercise: str, folder: Path) -> dict[str, str]:
    """Write every question's answers into ``folder`` for the checks outside this process
    (:mod:`tlcourse.exercises.judge`), all within the grading budget; return what went wrong, by
    question (a function question runs the learner's function here, on the check's inputs)."""
    folder.mkdir(parents=True, exist_ok=True)
    problems, deadline = {}, time.monotonic() + GRADING_SECONDS
    for question in questions(exercise):
        signal.alarm(max(int(deadline - time.monotonic()), 1))
        try:
            with preserved_rng():
                data = encode(question.answer(namespace))
            answer_file(folder, question).write_bytes(data)
        except TimeLimit:
            problems[question.name] = "its answer took too long to hand over"
        except Exception as err:  # the file-size limit, a full disk
            problems[question.name] = f"its answer could not be written: {_describe(err)}"
        finally:
            signal.alarm(0)
    return problems


def _hand_over(namespace: dict, folder: Path) -> str:
    """Write the variables for the hidden tests; say what went wrong rather than stop."""
    try:
        export_namespace(namespace, folder)
    except Exception as err:  # the file-size limit, a full disk
        return f"the variables could not be written for the hidden tests: {_describe(err)}"
    return "ok"


def apply_limits(address_space_gb: float | None, file_mb: int | None) -> None:
    """Cap this process's address space (one giant allocation then fails at once with a
    MemoryError) and the size of any file it writes (the write fails instead of killing it)."""
    if address_space_gb is not None:
        memory = int(address_space_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if file_mb is not None:
        size = file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlcourse.exercises.runner")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("report", type=Path)
    parser.add_argument("--exercise", required=True)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--answers", type=Path, required=True,
                        help="folder for each question's answers, which the checks read in another process")
    parser.add_argument("--namespace", type=Path, default=None,
                        help="folder to hand the notebook's data variables to the hidden tests")
    parser.add_argument("--address-space-gb", type=float, default=None)
    parser.add_argument("--file-mb", type=int, default=None)
    args = parser.parse_args(argv)
    apply_limits(args.address_space_gb, args.file_mb)
    cells = code_cells(args.notebook)  # read before any cell can delete it
    signal.signal(signal.SIGALRM, _interrupt)
    output = CappedOutput()
    real = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = output
    start = time.monotonic()
    try:
        namespace, failures, status = run_cells(cells, args.seconds)
        not_handed = save_answers(namespace, args.exercise, args.answers)
        if args.namespace is not None:
            handed_over = _hand_over(namespace, args.namespace)
    finally:
        sys.stdout, sys.stderr = real
    report = {"exercise": args.exercise, "status": status, "seconds": round(time.monotonic() - start, 1),
              "cell_errors": failures, "not_handed_over": not_handed, "output": output.text()}
    if args.namespace is not None:
        report["handed_over"] = handed_over
    args.report.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
