"""Integrity flags: what a submission changed that a learner should not, read from its text.

Two kinds, both found without running anything (the grader reads the submitted file):

- **check cells**, like nbgrader's checksums: every ``qN.check(...)`` cell of the exercise
  notebook handed out must still be in the submission as it was. A learner may uncomment the
  ``qN.hint()`` line below it; any other change is "edited", a missing cell "deleted".
- **the learner's code** (every code cell that is not a cell of the exercise notebook as
  handed out) that reaches for answers or into the checks: the checks' reference module
  (``tlcourse.exercises.references``), the stored solutions, ``qN.solution()``, the solutions
  notebook's ``### BEGIN SOLUTION`` markers, or a question's internals (``q1.requirements``).

- **the saved outputs**: a solution shown (``q2 solution:``), or the record every check prints
  once one was shown in the kernel ("solutions opened in this session: 01 q2"), which stays in
  the outputs of later check cells when the ``solution()`` call itself was deleted. A learner who
  clears all outputs clears this record too: it catches the honest-but-curious, and graded builds
  switch solutions off (``TLCOURSE_SOLUTIONS=off``, or the student kit).
Flags are reported beside the grade, not deducted: a person reads the cell and decides.
"""
from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import nbformat

from .core import OPENED_LINE
from .notebooks import BEGIN, exercise_id

CHECK_CALL = re.compile(r"\b(q\d+)\.check\(")
HELP_LINE = re.compile(r"#?\s*q\d+\.(hint|solution)\(.*\)")  # lines a check cell may toggle
ALLOWED = {"check", "hint", "solution"}  # what a learner calls on a question


def _exercises_module(names: str) -> re.Pattern:
    """``tlcourse.exercises.<name>``, ``ex01.<name>`` or ``from tlcourse.exercises import <name>``."""
    return re.compile(rf"\b(exercises|ex\d\d)\.({names})\b|\bfrom\s+\S*exercises\s+import\b.*\b({names})\b")


LOOKUPS = (  # (pattern in the learner's code without comments, what the flag says)
    (_exercises_module("references"), "uses the checks' reference module (tlcourse.exercises.references)"),
    (re.compile(r"\bsolution_code\b|\bSOLUTIONS_FILE\b|solutions\.json|\bsolutions[/\\]"),
     "reads the stored solutions"),
    (re.compile(r"\.solution\s*\("), "calls a question's solution()"),
    (_exercises_module("core|checks"), "imports the checking code (tlcourse.exercises.core or .checks)"),
)
QUESTION_ATTRIBUTE = re.compile(r"\b(q\d+)\.(\w+)")
SHOWN = re.compile(r"^(q\d+) solution:\n(?!Solutions are)", re.MULTILINE)  # what solution() prints
OPENED_RECORD = re.compile(re.escape(OPENED_LINE) + r"([^)\n]*)")


def _normalized(source: str) -> str:
    """A check cell as compared: trailing spaces, blank lines and hint/solution lines left out."""
    lines = (line.rstrip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not HELP_LINE.fullmatch(line.strip()))


def check_cells(nb) -> dict[str, str]:
    """The check cells of an exercise notebook: question name -> its cell, normalized."""
    cells = {}
    for cell in nb.cells:
        match = CHECK_CALL.search(cell.source) if cell.cell_type == "code" else None
        if match:
            cells.setdefault(match.group(1), _normalized(cell.source))
    return cells


def check_cell_flags(submitted, handed_out) -> list[str]:
    """A flag ("check cell of q2 deleted", "... edited") for each check cell of ``handed_out``
    (the exercise notebook) that ``submitted`` does not hold unchanged."""
    flags = []
    code = [c.source for c in submitted.cells if c.cell_type == "code"]
    for question, expected in check_cells(handed_out).items():
        calls = [s for s in code if any(m.group(1) == question for m in CHECK_CALL.finditer(s))]
        if any(_normalized(s) == expected for s in calls):
            continue
        flags.append(f"check cell of {question} {'edited' if calls else 'deleted'}")
    return flags


def without_comments(source: str) -> str:
    """``source`` with its Python comments removed (as written when it does not tokenize)."""
    lines = source.splitlines()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                row, column = token.start
                lines[row - 1] = lines[row - 1][:column]
    except (tokenize.TokenError, SyntaxError):  # an unclosed bracket or string, a bad indent
        return source
    return "\n".join(lines)


def code_flags(source: str) -> list[str]:
    """What one cell of the learner's code reaches for that it should not (see the module's
    docstring); [] for ordinary code."""
    flags = [f"holds the solutions notebook's markers ({BEGIN})"] if BEGIN in source else []
    code = without_comments(source)
    flags += [says for pattern, says in LOOKUPS if pattern.search(code)]
    inside = sorted({f"{q}.{name}" for q, name in QUESTION_ATTRIBUTE.findall(code) if name not in ALLOWED})
    if inside:
        flags.append(f"reaches into the checks ({', '.join(inside)})")
    return flags


def _output_text(cell) -> str:
    return "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                   for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def opened_flags(submitted) -> list[str]:
    """The solutions the notebook's saved outputs show were opened, one flag each, naming the
    first cell whose output shows it."""
    opened = {}
    for index, cell in enumerate(submitted.cells):
        if cell.cell_type != "code":
            continue
        text = _output_text(cell)
        for question in SHOWN.findall(text):
            opened.setdefault(question, index)
        for record in OPENED_RECORD.findall(text):
            for item in record.split(","):
                opened.setdefault(item.strip().split(" ")[-1], index)
    return [f"cell {index} output shows {question}'s solution was opened" for question, index in sorted(opened.items())]


def integrity_flags(submitted, handed_out=None) -> list[str]:
    """Every flag of a submission: its check cells compared with ``handed_out`` (the exercise
    notebook; skipped when None), and each cell of the learner's own code scanned (every code
    cell when ``handed_out`` is None). Each flag names the cell it is about."""
    flags = check_cell_flags(submitted, handed_out) if handed_out is not None else []
    given = {c.source for c in handed_out.cells} if handed_out is not None else set()
    for index, cell in enumerate(submitted.cells):
        if cell.cell_type == "code" and cell.source not in given:
            flags += [f"cell {index} {flag}" for flag in code_flags(cell.source)]
    return flags + opened_flags(submitted)


def handed_out_notebooks(folder: Path) -> dict:
    """The exercise notebooks in ``folder`` (as handed out to learners), by exercise id."""
    notebooks = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        notebooks[exercise_id(nb, path)] = nb
    return notebooks
