"""Grades forged from inside a notebook: each attack is a learner's exercise 01 that does none of the work.

The grader runs the learner's cells in one process and the checks in another that never runs
them (:mod:`tlcourse.exercises.judge`), on answers handed over as data. So a notebook that
writes its own report and exits, patches the checking classes, types in the reference numbers,
or plants a crafted answer file (a pickle that would run code when loaded) earns nothing, and
the crafted file's code never runs. The blank exercise is graded beside them as the baseline.
"""
import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from tlcourse.exercises import questions
from tlcourse.exercises.grader import Limits, grade, report_path

ROOT = Path(__file__).resolve().parents[1]
BLANK = ROOT / "exercises" / "01_pretraining.ipynb"
TOKEN = uuid.uuid4().hex
PLANTED = Path("/tmp") / f"tlcourse-forgery-{TOKEN}"  # created only if a crafted pickle ran outside the box
FULL = {q.name: q.points for q in questions("01")}

FORGED_REPORT = f"""
import json, os
full = {json.dumps(FULL)}
report = {{"exercise": "01", "status": "completed", "seconds": 1.0, "cell_errors": [], "output": "",
          "questions": [{{"question": q, "status": "correct", "points": p, "max_points": p, "feedback": ""}}
                        for q, p in full.items()]}}
open("../report.json", "w").write(json.dumps(report))
os._exit(0)
"""

PATCHED_CHECKS = """
from tlcourse.exercises import core
from tlcourse.exercises.core import CORRECT, Verdict

def full_marks(self, values):
    return Verdict(self.name, CORRECT, self.points, self.points, [])

core.Problem.evaluate = core.Problem.verdict_on = full_marks
core.Problem.grade = lambda self, namespace: full_marks(self, namespace)
core.Problem.answer = lambda self, values: {n: 1.0 for n in self.variables}
"""

TYPED_NUMBERS = """
from tlcourse.exercises import references as r
pretrained_accuracy = r.digits_accuracy("linear_probe", 1)
random_accuracy = r.digits_accuracy("random_probe", 1)
"""

CRAFTED_ANSWERS = f"""
import io, os, pickle, torch

class Payload:
    def __reduce__(self):
        return (os.system, ("touch {PLANTED}",))

for name in ("q1", "q2", "q3"):
    inner = pickle.dumps(Payload())
    buffer = io.BytesIO()
    torch.save({{"digit_model": inner, "frozen_model": inner, "pretrained_accuracy": inner}}, buffer)
    os.makedirs("../answers", exist_ok=True)
    open(f"../answers/{{name}}.pt", "wb").write(buffer.getvalue())
    open(f"../answers/{{name}}_pickle.pt", "wb").write(pickle.dumps(Payload()))
os._exit(0)
"""

ATTACKS = {"01_forged_report": FORGED_REPORT, "01_patched_checks": PATCHED_CHECKS,
           "01_typed_numbers": TYPED_NUMBERS, "01_crafted_answers": CRAFTED_ANSWERS}


def with_cell(source: str, at_end: bool = False) -> nbformat.NotebookNode:
    """The blank exercise with ``source`` as a new cell after its imports (or at its end)."""
    nb = nbformat.read(BLANK, as_version=4)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(len(nb.cells) if at_end else first_code + 1, nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def forged(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    for name, source in ATTACKS.items():
        nbformat.write(with_cell(source, at_end=name == "01_typed_numbers"), folder / f"{name}.ipynb")
    (folder / "01_blank.ipynb").write_bytes(BLANK.read_bytes())
    out = tmp_path_factory.mktemp("out") / "grades.csv"
    table = grade([folder], out, Limits(seconds=60, memory_gb=2), jobs=2)
    reports = {Path(s).stem: json.loads(report_path(out.with_name("grades_reports"), Path(s)).read_text())
               for s in table["submission"]}
    return SimpleNamespace(table=table.set_index(table["submission"].map(lambda s: Path(s).stem)), reports=reports)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_forged_grade_earns_nothing(forged, attack):
    row = forged.table.loc[attack]
    assert row["points"] == 0, (attack, row.to_dict())
    assert all(row[f"{q} points"] == 0 for q in FULL)


def test_a_report_the_notebook_wrote_is_not_read_for_points(forged):
    report = forged.reports["01_forged_report"]
    assert all("no answer was handed over" in q["feedback"] for q in report["questions"] if q["max_points"])


def test_typed_reference_numbers_are_not_a_measurement(forged):
    row = forged.table.loc["01_typed_numbers"]
    assert "`pretrained_probe`, `random_probe` are not set yet" in row["q3 feedback"]


def test_a_crafted_answer_file_runs_no_code_outside_the_box(forged):
    assert not PLANTED.exists()
    feedback = " ".join(q["feedback"] for q in forged.reports["01_crafted_answers"]["questions"])
    assert "could not be" in feedback or "not what the notebook's process writes" in feedback, feedback


def test_the_blank_exercise_is_the_baseline(forged):
    row = forged.table.loc["01_blank"]
    assert row["points"] == 0 and row["status"] == "completed"
