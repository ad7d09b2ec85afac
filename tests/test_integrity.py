"""Integrity flags on crafted submissions: check cells deleted or edited, answers that reach for
the solutions or into the checks; honest answers to every exercise raise none."""
from pathlib import Path

import nbformat
import pytest

from tlcourse.exercises.integrity import (check_cell_flags, check_cells, code_flags, handed_out_notebooks,
                                          integrity_flags, without_comments)
from tlcourse.exercises.notebooks import BEGIN, END, exercise_id

ROOT = Path(__file__).resolve().parents[1]
HANDED_OUT = handed_out_notebooks(ROOT / "exercises")


def honest(path: Path) -> nbformat.NotebookNode:
    """A solutions notebook as a learner would hand it in: the answers, without the markers."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.source = "\n".join(l for l in cell.source.splitlines() if l.strip() not in (BEGIN, END))
    return nb


def exercise_01() -> nbformat.NotebookNode:
    return honest(ROOT / "solutions" / "01_pretraining.ipynb")


def cell_of(nb, start: str):
    return next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(start))


def test_every_exercise_has_its_check_cells():
    assert sorted(HANDED_OUT) == ["01", "02", "03", "04", "05", "06", "07", "08"]
    assert list(check_cells(HANDED_OUT["01"])) == ["q1", "q2", "q3", "q4"]  # q4: the judgement question
    assert check_cells(HANDED_OUT["01"])["q1"] == "q1.check(digit_model)"  # hint lines left out


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.stem)
def test_honest_answers_raise_no_flag(path):
    nb = honest(path)
    assert integrity_flags(nb, HANDED_OUT[exercise_id(nb, path)]) == []
    assert integrity_flags(nb) == []  # nor when every cell is scanned


def test_the_solutions_notebook_handed_in_is_flagged():
    nb = nbformat.read(ROOT / "solutions" / "01_pretraining.ipynb", as_version=4)
    flags = integrity_flags(nb, HANDED_OUT["01"])
    assert len(flags) == 4 and all(f.endswith(f"holds the solutions notebook's markers ({BEGIN})") for f in flags)


def test_deleted_and_edited_check_cells_are_flagged():
    nb = exercise_01()
    nb.cells.remove(cell_of(nb, "q2.check("))
    cell_of(nb, "q1.check(").source = 'print("q1: Correct (1/1 points)")  # q1.check(digit_model)'
    cell_of(nb, "q3.check(").source = "q3.check(0.9, 0.1)"
    assert check_cell_flags(nb, HANDED_OUT["01"]) == ["check cell of q1 edited", "check cell of q2 deleted",
                                                      "check cell of q3 edited"]


def test_a_check_cell_may_show_hints_and_move():
    nb = exercise_01()
    cell = cell_of(nb, "q1.check(")
    cell.source = cell.source.replace("# q1.hint()", "q1.hint()\nq1.hint(2)") + "\n\n"
    nb.cells.remove(cell)
    nb.cells.append(cell)
    assert integrity_flags(nb, HANDED_OUT["01"]) == []


def test_calling_solution_in_a_check_cell_is_flagged_but_not_as_an_edit():
    nb = exercise_01()
    cell = cell_of(nb, "q1.check(")
    cell.source = cell.source.replace("# q1.solution()", "q1.solution()")
    index = nb.cells.index(cell)
    assert integrity_flags(nb, HANDED_OUT["01"]) == [f"cell {index} calls a question's solution()"]


@pytest.mark.parametrize("code, flag", [
    ("from tlcourse.exercises import references", "reference module"),
    ("from tlcourse.exercises import checks, references as r", "reference module"),
    ("import tlcourse.exercises.references as r", "reference module"),
    ("from tlcourse.exercises.references import digits_accuracy", "reference module"),
    ("from tlcourse.exercises import ex01\nx = ex01.references.digits()", "reference module"),
    ("from tlcourse.exercises.core import solution_code\nprint(solution_code('01', 'q1'))", "stored solutions"),
    ("import json, tlcourse\njson.load(open(tlcourse.__path__[0] + '/exercises/solutions.json'))",
     "stored solutions"),
    ("print(open('../solutions/01_pretraining.py').read())", "stored solutions"),
    ("q2.solution()", "solution()"),
    ("q1.requirements = []", "reaches into the checks (q1.requirements)"),
    ("q3.evaluate = lambda values: None", "reaches into the checks (q3.evaluate)"),
    ("import tlcourse.exercises.core as core\ncore.Problem.grade = print", "checking code"),
])
def test_answers_that_reach_for_answers_or_into_the_checks_are_flagged(code, flag):
    nb = exercise_01()
    answer = cell_of(nb, "# q1\n")
    answer.source += "\n" + code
    flags = integrity_flags(nb, HANDED_OUT["01"])
    assert len(flags) >= 1 and all(f.startswith(f"cell {nb.cells.index(answer)} ") for f in flags)
    assert any(flag in f for f in flags), flags


@pytest.mark.parametrize("code", [
    "# like tlcourse.exercises.references does, but by hand; q1.solution() not used",
    "import pandas.core.frame\nreferences = ['paper']\nsolution = 3\npaper.references",
    "q1.check(digit_model)\nq1.hint()",
])
def test_comments_and_ordinary_names_are_not_flagged(code):
    assert code_flags(code) == []


def test_strings_are_scanned_like_code():
    # a flag is a cell for a person to read, not a verdict: text in a string is not told apart
    assert code_flags("message = 'never call q1.solution() here'") == ["calls a question's solution()"]


def test_without_comments_keeps_strings_and_survives_broken_code():
    assert without_comments("x = '# not a comment'  # a comment\ny = 1") == "x = '# not a comment'  \ny = 1"
    broken = "x = (1,\n# q1.solution()"
    assert without_comments(broken) == broken  # does not tokenize: scanned as written


def test_without_the_exercise_notebook_every_code_cell_is_scanned():
    nb = exercise_01()
    nb.cells.remove(cell_of(nb, "q2.check("))
    assert integrity_flags(nb) == []  # deletions need the notebook handed out to be seen
    cell_of(nb, "# q1\n").source += "\nq1.solution()"
    assert integrity_flags(nb) == [f"cell {nb.cells.index(cell_of(nb, '# q1'))} calls a question's solution()"]


def test_a_solution_opened_then_deleted_stays_in_the_check_outputs(capsys, monkeypatch):
    """solution() records what it showed; every later check prints the record, so the saved
    outputs keep it after the solution() call is deleted, and the grader flags it."""
    from tlcourse.exercises import core
    from tlcourse.exercises.ex01 import q1, q2

    monkeypatch.setattr(core, "OPENED", [])
    monkeypatch.delenv(core.SOLUTIONS_ENV, raising=False)
    monkeypatch.delenv("TLCOURSE_STRICT_CHECKS", raising=False)
    q1.check(None)
    assert core.OPENED_LINE not in capsys.readouterr().out
    q2.solution()
    assert core.OPENED == ["01 q2"]
    q1.check(None)
    printed = capsys.readouterr().out
    assert f"({core.OPENED_LINE}01 q2)" in printed
    nb = exercise_01()
    check_cell = cell_of(nb, "q1.check(")
    check_cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    flags = integrity_flags(nb, HANDED_OUT["01"])
    assert f"cell {nb.cells.index(check_cell)} output shows q2's solution was opened" in flags


def test_a_solution_switched_off_is_not_recorded(capsys, monkeypatch):
    from tlcourse.exercises import core
    from tlcourse.exercises.ex01 import q2

    monkeypatch.setattr(core, "OPENED", [])
    monkeypatch.setenv(core.SOLUTIONS_ENV, "off")
    q2.solution()
    assert core.OPENED == [] and "switched off" in capsys.readouterr().out
