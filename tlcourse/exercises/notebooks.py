"""Exercise notebooks from solutions notebooks: the solutions are the single source.

In ``solutions/NN_*.ipynb`` each answer cell starts with a ``# qN`` line and holds its answer
between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the nbgrader convention).
:func:`make_exercises` writes ``exercises/NN_*.ipynb`` with each answer replaced by a
placeholder that raises ``NotImplementedError``, outputs and the jupytext pairing cleared, and
stores the answers in ``solutions.json`` for ``qN.solution()``.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat

from .core import SOLUTIONS_FILE

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
QUESTION = re.compile(r"^#\s*(q\d+)\b")
EXERCISE_PART = re.compile(r"(?:ex)?(\d\d)", re.IGNORECASE)  # "01" or "ex01" between underscores


class SolutionMarkerError(ValueError):
    """A solutions notebook whose markers do not pair up."""


def _placeholder(indent: str, question: str) -> list[str]:
    return [f"{indent}# YOUR CODE HERE",
            f'{indent}raise NotImplementedError("{question}: replace this line with your answer, '
            f'run the cell, then run the check below")']


def split_solution(source: str, where: str = "cell") -> tuple[str, str]:
    """``(exercise source, solution code)`` of one cell; the solution is dedented, markers removed."""
    lines, kept, solution, inside, indent = source.splitlines(), [], [], False, ""
    match = QUESTION.match(lines[0]) if lines else None
    question = match.group(1) if match else "this question"
    for line in lines:
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise SolutionMarkerError(f"{where}: two {BEGIN} markers without {END} between them.")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            kept += _placeholder(indent, question)
        elif marker == END:
            if not inside:
                raise SolutionMarkerError(f"{where}: {END} without a {BEGIN} before it.")
            inside = False
        elif inside:
            solution.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
        else:
            kept.append(line)
    if inside:
        raise SolutionMarkerError(f"{where}: {BEGIN} is never closed by {END}.")
    return "\n".join(kept), "\n".join(solution)


def exercise_id(nb, path: Path) -> str:
    """The exercise a notebook belongs to: its ``tlcourse.exercise`` metadata, else the first part
    of the file name (split at ``_``) that is ``NN`` or ``exNN`` (``alice_ex01.ipynb`` -> "01"),
    else the name's first part (an unknown exercise the grader reports)."""
    marked = nb.metadata.get("tlcourse", {}).get("exercise") if nb is not None else None
    if marked:
        return str(marked)
    parts = path.stem.split("_")
    found = next((m for m in map(EXERCISE_PART.fullmatch, parts) if m), None)
    return found.group(1) if found else parts[0]


def student_id(nb, path: Path) -> str:
    """Who submitted a notebook: its ``tlcourse.student`` metadata, else the file name's parts
    before the exercise part (``alice_ex01.ipynb``, ``alice_01_pretraining.ipynb`` -> "alice"),
    else, when the name starts with the exercise (``alice/01_pretraining.ipynb``), its folder's
    name. ``nb`` is None for a notebook that could not be read."""
    marked = nb.metadata.get("tlcourse", {}).get("student") if nb is not None else None
    if marked:
        return str(marked)
    parts = path.stem.split("_")
    cut = next((i for i, part in enumerate(parts) if EXERCISE_PART.fullmatch(part)), len(parts))
    return "_".join(parts[:cut]) or path.resolve().parent.name


def to_exercise(nb, path: Path) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The exercise version of a solutions notebook, and its solutions by question name."""
    exercise, solutions = copy.deepcopy(nb), {}
    exercise.metadata.pop("jupytext", None)  # exercises are generated, not paired with a .py
    for i, cell in enumerate(exercise.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if BEGIN not in cell.source:
            continue
        cell.source, code = split_solution(cell.source, f"{path.name} cell {i}")
        match = QUESTION.match(cell.source)
        if not match:
            raise SolutionMarkerError(f"{path.name} cell {i}: a solution cell must start with a "
                                      f"'# qN' line naming its question.")
        solutions[match.group(1)] = code
    return exercise, solutions


def make_exercises(solutions_dir="solutions", exercises_dir="exercises", check: bool = False,
                   solutions_file: Path | None = SOLUTIONS_FILE) -> list[str]:
    """Write (or with ``check``, compare) every exercise notebook and the stored solutions behind
    ``qN.solution()`` (none when ``solutions_file`` is None: the student kit); return what is out
    of date."""
    stale, stored = [], {}
    for path in sorted(Path(solutions_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        exercise, solutions = to_exercise(nb, path)
        stored[exercise_id(nb, path)] = solutions
        target = Path(exercises_dir) / path.name
        text = nbformat.writes(exercise) + "\n"
        if not target.exists() or target.read_text() != text:
            stale.append(str(target))
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    if solutions_file is None:
        return stale
    text = json.dumps(stored, indent=1, sort_keys=True) + "\n"
    if not solutions_file.exists() or solutions_file.read_text() != text:
        stale.append(str(solutions_file))
        if not check:
            solutions_file.write_text(text)
    return stale
