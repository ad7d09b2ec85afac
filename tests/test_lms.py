"""Who a submission is from, and the gradebook as an LMS imports it: one row per student."""
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from tlcourse.exercises.grader import grade
from tlcourse.exercises.lms import lms_gradebook, one_submission_each, question_columns
from tlcourse.exercises.notebooks import exercise_id, student_id

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path, student, exercise", [
    ("alice_ex01.ipynb", "alice", "01"),
    ("alice_01_pretraining.ipynb", "alice", "01"),
    ("bob_smith_EX02.ipynb", "bob_smith", "02"),
    ("carol_123456_ex03_final.ipynb", "carol_123456", "03"),  # an LMS download's ids stay in
    ("submissions/dave/04_nlp_transfer.ipynb", "dave", "04"),  # a folder per student
    ("erin.ipynb", "erin", "erin"),  # no exercise in the name: the grader reports it unknown
])
def test_student_and_exercise_from_the_file_name(path, student, exercise):
    assert (student_id(None, Path(path)), exercise_id(None, Path(path))) == (student, exercise)


def test_metadata_names_the_student_and_the_exercise_first():
    nb = nbformat.v4.new_notebook(metadata={"tlcourse": {"exercise": "02", "student": "s1234"}})
    assert (student_id(nb, Path("alice_ex01.ipynb")), exercise_id(nb, Path("alice_ex01.ipynb"))) == ("s1234", "02")
    assert student_id(nbformat.v4.new_notebook(), Path("alice_ex01.ipynb")) == "alice"


def gradebook() -> pd.DataFrame:
    """A grades.csv as `grade` writes it: bob handed in exercise 01 only, carol's could not be read."""
    return pd.DataFrame([
        {"submission": "alice_ex02.ipynb", "student": "alice", "exercise": "02", "points": 5.0,
         "q1 points": 2.0, "q1 feedback": "", "q2 points": 3.0, "q2 feedback": ""},
        {"submission": "bob_ex01.ipynb", "student": "bob", "exercise": "01", "points": 1.5,
         "q1 points": 1.0, "q1 feedback": "", "q2 points": 0.5, "q2 feedback": "",
         "hidden:01_h.test_gap points": 0.0},
        {"submission": "alice_ex01.ipynb", "student": "alice", "exercise": "01", "points": 4.0,
         "q1 points": 1.0, "q1 feedback": "", "q2 points": 2.0, "q2 feedback": "",
         "hidden:01_h.test_gap points": 1.0},
        {"submission": "carol_ex01.ipynb", "student": "carol", "exercise": "", "points": 0.0},
    ])


def test_lms_gradebook_has_a_row_per_student_and_a_column_per_question():
    lms = lms_gradebook(gradebook())
    assert list(lms.columns) == ["student", "01 q1", "01 q2", "01 hidden:01_h.test_gap", "02 q1", "02 q2",
                                 "total"]
    assert list(lms["student"]) == ["alice", "bob", "carol"]
    alice, bob, carol = (lms.iloc[i] for i in range(3))
    assert list(alice.iloc[1:]) == [1.0, 2.0, 1.0, 2.0, 3.0, 9.0]
    assert list(bob.iloc[1:4]) == [1.0, 0.5, 0.0] and bob["total"] == 1.5
    assert pd.isna(bob["02 q1"]) and pd.isna(bob["02 q2"])  # not handed in: empty, not zero
    assert carol["total"] == 0.0 and carol.iloc[1:-1].isna().all()


def test_question_columns_leave_the_totals_out():
    assert question_columns(gradebook()) == ["q1 points", "q2 points", "hidden:01_h.test_gap points"]


def test_two_submissions_of_one_exercise_by_one_student_are_refused():
    one_submission_each([("alice", "01", "a.ipynb"), ("alice", "02", "b.ipynb"), ("bob", "01", "c.ipynb")])
    with pytest.raises(ValueError, match=r"a.ipynb and d.ipynb \(student 'alice', exercise 01\).*alice_ex01"):
        one_submission_each([("alice", "01", "a.ipynb"), ("bob", "01", "c.ipynb"), ("alice", "01", "d.ipynb")])


def test_grade_refuses_them_before_running_anything(tmp_path):
    blank = (ROOT / "exercises" / "01_pretraining.ipynb").read_bytes()
    (tmp_path / "alice_ex01.ipynb").write_bytes(blank)
    (tmp_path / "alice_01_pretraining.ipynb").write_bytes(blank)
    with pytest.raises(ValueError, match="Two submissions of the same exercise from one student"):
        grade([tmp_path], tmp_path / "g.csv", lms_csv=tmp_path / "lms.csv")
    assert not (tmp_path / "g.csv").exists() and not (tmp_path / "g_reports").exists()
