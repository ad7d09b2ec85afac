"""The grader on real submissions: exercise 01 answered right, wrong, partly, or broken on purpose.

All broken submissions are graded in one `grade` call (as an instructor would grade a folder),
so the tests also show that one bad notebook does not stop the others.
"""
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pandas as pd
import pytest

from tlcourse.cli import main
from tlcourse.exercises import NOT_DONE, grader, questions
from tlcourse.exercises.grader import Limits, find_notebooks, grade, report_path

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "01_pretraining.ipynb"
TIME_LIMIT = 25  # seconds per notebook in these tests; the solution's cells need about 5
MEMORY_GB = 2  # the solution needs well under 1 GB


def submission(edit=None) -> nbformat.NotebookNode:
    """The solutions notebook, changed by ``edit(cells)`` like a learner's submission."""
    nb = nbformat.read(SOLUTION, as_version=4)
    if edit:
        edit(nb.cells)
    return nb


def answer_cell(cells, question):
    return next(c for c in cells if c.cell_type == "code" and c.source.startswith(f"# {question}\n"))


def replace_answer(question, new_answer):
    def edit(cells):
        cell = answer_cell(cells, question)
        head, _, rest = cell.source.partition("### BEGIN SOLUTION\n")
        cell.source = head + new_answer + "\n" + rest.partition("### END SOLUTION\n")[2]
    return edit


def insert_after(question, source):
    def edit(cells):
        position = cells.index(answer_cell(cells, question)) + 2  # after its check cell
        cells.insert(position, nbformat.v4.new_code_cell(source))
    return edit


def break_first_cell(cells):
    first = next(c for c in cells if c.cell_type == "code")
    first.source = "import tlcourse_does_not_exist\n" + first.source


SUBMISSIONS = {
    "01_right": None,
    "01_wrong": replace_answer("q1", "digit_model, meta = load_pretrained_cnn()"),  # 26 letter outputs
    "01_partly": replace_answer("q2", "frozen_model, _ = load_pretrained_cnn()\nreplace_head(frozen_model, 10)\n"
                                      "set_trainable(frozen_model, ['block3', 'head'])"),
    "01_crash": replace_answer("q2", "frozen_model = 1 / 0"),
    "01_loop": insert_after("q1", "while True:\n    pass"),
    "01_first_cell": break_first_cell,
    "01_deletes": insert_after("q1", "import os, shutil\nfor name in os.listdir('.'):\n"
                                     "    shutil.rmtree(name) if os.path.isdir(name) else os.remove(name)"),
    "01_prints": insert_after("q2", "for i in range(200_000):\n    print('spam' * 50)"),
    "01_bigalloc": insert_after("q2", "hog = bytearray(64 * 2**30)"),
    "01_memory": insert_after("q2", "hog = []\nwhile True:\n    hog.append(bytearray(2**26))"),
}

HIDDEN = '''
def test_probe_gap(ns):
    assert ns["pretrained_accuracy"] - ns["random_accuracy"] > 0.1, "the pretrained probe should win clearly"
test_probe_gap.points = 2

def test_never_passes(ns):
    assert ns.get("secret") == 42, "the secret is not 42"
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every submission once: the table, the folders, file hashes before, and the time taken."""
    folder = tmp_path_factory.mktemp("submissions")
    for name, edit in SUBMISSIONS.items():
        nbformat.write(submission(edit), folder / f"{name}.ipynb")
    (folder / "garbage.ipynb").write_text("{ not json")
    (folder / "keep_me.txt").write_text("the instructor's notes")
    tests = tmp_path_factory.mktemp("hidden")
    (tests / "01_hidden.py").write_text(HIDDEN)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    out = tmp_path_factory.mktemp("out") / "grades.csv"
    start = time.perf_counter()
    table = grade([folder], out, Limits(seconds=TIME_LIMIT, memory_gb=MEMORY_GB), tests=tests, jobs=2)
    seconds = time.perf_counter() - start
    return SimpleNamespace(table=by_name(table), folder=folder, hashes=before, out=out, tests=tests,
                           seconds=seconds, order=list(table["submission"]))


def by_name(table):
    return table.set_index(table["submission"].map(lambda s: Path(s).stem))


def row(graded, name):
    return graded.table.loc[name]


def test_every_submission_gets_a_row_and_reports(graded):
    table, out = graded.table, graded.out
    assert sorted(table.index) == sorted([*SUBMISSIONS, "garbage"])
    assert pd.read_csv(out).shape[0] == len(table)
    reports = sorted(p.name for p in out.with_name("grades_reports").iterdir())
    assert len(reports) == len(table) and all(r.endswith(".json") for r in reports)


def test_right_answers_get_full_points_and_hidden_tests_count(graded):
    right = row(graded, "01_right")
    assert right["status"] == "completed" and right["cell errors"] == ""
    assert [right[f"q{i} points"] for i in (1, 2, 3)] == [1.0, 2.0, 3.0]
    assert right["hidden:01_hidden.test_probe_gap points"] == 2.0
    assert right["hidden:01_hidden.test_never_passes points"] == 0.0
    assert right["hidden:01_hidden.test_never_passes feedback"] == "the secret is not 42"
    assert (right["points"], right["max_points"]) == (8.0, 9.0)


def test_wrong_and_partly_right_answers_get_partial_credit_with_feedback(graded):
    wrong = row(graded, "01_wrong")
    assert wrong["q1 points"] == pytest.approx(0.67) and "still predicts the 26 source classes" in wrong["q1 feedback"]
    partly = row(graded, "01_partly")
    assert partly["q2 points"] == 1.5 and partly["q2 feedback"].startswith("block3 is still trainable")
    assert partly["q1 points"] == 1.0 and partly["q3 points"] == 3.0


def test_a_crashing_cell_costs_only_its_question(graded):
    crash = row(graded, "01_crash")
    assert crash["q2 points"] == 0 and "`frozen_model` is not set yet" in crash["q2 feedback"]
    assert "ZeroDivisionError: division by zero" in crash["cell errors"]
    assert crash["q1 points"] == 1.0 and crash["q3 points"] == 3.0


def test_an_endless_loop_is_stopped_at_the_time_limit(graded):
    loop = row(graded, "01_loop")
    assert loop["status"].startswith("time limit: stopped in cell")
    assert loop["q1 points"] == 1.0  # answered before the loop: still graded
    assert loop["q2 points"] == 0 and loop["q3 points"] == 0
    reports = graded.out.with_name("grades_reports")
    report = json.loads(report_path(reports, graded.folder / "01_loop.ipynb").read_text())
    assert TIME_LIMIT <= report["seconds"] < TIME_LIMIT + 30  # the cells' budget, then the checks


def test_the_whole_folder_respects_the_limits(graded):
    # one notebook hits the limit; the others take seconds each
    assert graded.seconds < TIME_LIMIT + 20 * len(SUBMISSIONS), graded.seconds


def test_first_cell_error_still_yields_a_row(graded):
    broken = row(graded, "01_first_cell")
    assert broken["status"] == "completed" and broken["points"] == 0
    assert "ModuleNotFoundError: No module named 'tlcourse_does_not_exist'" in broken["cell errors"]


def test_deleting_files_touches_only_the_temporary_copy(graded):
    deletes = row(graded, "01_deletes")
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in graded.folder.iterdir()}
    assert after == graded.hashes  # the submissions, the instructor's notes: all unchanged
    assert deletes["points"] == 8.0  # it deleted its own copy after reading: grading goes on


def test_huge_output_and_memory_hogs_are_contained(graded):
    prints, big = row(graded, "01_prints"), row(graded, "01_bigalloc")
    assert prints["points"] == 8.0
    assert big["points"] == 8.0 and "MemoryError" in big["cell errors"]
    leak = row(graded, "01_memory")
    assert leak["status"] == f"killed: it used more than the memory limit ({MEMORY_GB:g} GB)"
    assert leak["points"] == 0 and leak["q1 feedback"] == leak["status"]


def test_unreadable_notebook_gets_a_row_with_the_reason(graded):
    assert row(graded, "garbage")["status"].startswith("not a readable notebook")


def test_parallel_grading_keeps_the_submissions_order(graded):
    assert graded.order == [str(p) for p in find_notebooks([graded.folder])]


def test_jobs_must_be_at_least_one(tmp_path):
    with pytest.raises(ValueError, match="1 or more"):
        grade([ROOT / "exercises"], tmp_path / "g.csv", jobs=0)


def test_exercises_as_shipped_run_and_every_check_says_not_done(tmp_path):
    shipped = sorted((ROOT / "exercises").glob("*.ipynb"))
    table = grade(shipped, tmp_path / "blank.csv", Limits(seconds=120), jobs=2)
    assert len(table) == len(shipped) >= 3
    for path in shipped:
        report = json.loads(report_path(tmp_path / "blank_reports", path).read_text())
        names = [q.name for q in questions(report["exercise"])]
        assert report["status"] == "completed"
        assert [q["status"] for q in report["questions"]] == [NOT_DONE] * len(names)
        assert all(e["error"].startswith("NotImplementedError") for e in report["cell_errors"])
        assert len(report["cell_errors"]) == len(names)
        for name in names:  # what the learner sees under each check cell
            assert f"{name}: Not done yet" in report["output"]


def test_cli_grade_and_make_exercises(tmp_path, capsys):
    (tmp_path / "01_cli.ipynb").write_text("not a notebook")  # the CLI wiring, without a run
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "g.csv")]) == 0
    assert "not a readable notebook" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "g.csv")["submission"].tolist() == [str(tmp_path / "01_cli.ipynb")]
    assert main(["grade", str(tmp_path / "g_reports"), "--out", str(tmp_path / "none.csv")]) == 1
    assert "No notebooks (.ipynb)" in capsys.readouterr().out and not (tmp_path / "none.csv").exists()
    assert main(["make-exercises", "--check", "--solutions", str(ROOT / "solutions"),
                 "--exercises", str(ROOT / "exercises")]) == 0
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        grade([tmp_path / "01_cli.ipynb"], tmp_path / "h.csv", tests=tmp_path / "missing")


def learner_copy(edit=None, student=None) -> nbformat.NotebookNode:
    """The solutions notebook as a learner hands it in (answers without the solution markers),
    changed by ``edit(cells)``; ``student`` goes into its metadata."""
    nb = submission(edit)
    for cell in nb.cells:
        cell.source = "\n".join(l for l in cell.source.splitlines() if "### " not in l)
    if student:
        nb.metadata["tlcourse"]["student"] = student
    return nb


def crafted(cells):
    """Alice's: right, but slow to start (so with two jobs she finishes after bob), one cell
    importing the checks' references, and the check cell of q2 deleted."""
    cells.insert(1, nbformat.v4.new_code_cell("import time\ntime.sleep(3)"))
    insert_after("q1", "from tlcourse.exercises import references")(cells)
    cells.remove(next(c for c in cells if c.source.startswith("q2.check(")))


def edited_check(cells):
    """Bob's: q2 partly right, the check cell of q1 printing a verdict of its own, and that of
    q3 gone."""
    replace_answer("q2", "frozen_model, _ = load_pretrained_cnn()\nreplace_head(frozen_model, 10)\n"
                         "set_trainable(frozen_model, ['block3', 'head'])")(cells)
    next(c for c in cells if c.source.startswith("q1.check(")).source = 'print("q1: Correct")  # q1.check(digit_model)'
    cells.remove(next(c for c in cells if c.source.startswith("q3.check(")))


@pytest.fixture(scope="module")
def by_jobs(tmp_path_factory):
    """Three students' submissions graded with one job and with two: the tables and LMS exports."""
    folder = tmp_path_factory.mktemp("students")
    nbformat.write(learner_copy(crafted), folder / "alice_ex01.ipynb")
    nbformat.write(learner_copy(edited_check, student="bob"), folder / "b_01_pretraining.ipynb")
    (folder / "carol_ex01.ipynb").write_text("{ not json")
    out = tmp_path_factory.mktemp("graded")
    tables = {jobs: grade([folder], out / f"jobs{jobs}.csv", Limits(seconds=TIME_LIMIT, memory_gb=MEMORY_GB),
                          jobs=jobs, exercises=ROOT / "exercises", lms_csv=out / f"lms{jobs}.csv")
              for jobs in (1, 2)}
    return SimpleNamespace(tables=tables, folder=folder,
                           lms={jobs: pd.read_csv(out / f"lms{jobs}.csv") for jobs in (1, 2)})


def test_one_job_and_two_give_the_same_rows_in_the_same_order(by_jobs):
    """Two gradings of the same notebooks, each with judges of its own: grades are deterministic,
    whatever the number of jobs."""
    one, two = by_jobs.tables[1], by_jobs.tables[2]
    assert one.equals(two)  # rows hold no timings: every column must agree
    assert list(one["submission"]) == [str(p) for p in find_notebooks([by_jobs.folder])]
    assert by_jobs.lms[1].equals(by_jobs.lms[2])


def test_rows_name_the_student_and_flag_what_was_tampered_with(by_jobs):
    table = by_name(by_jobs.tables[2])
    assert list(table["student"]) == ["alice", "bob", "carol"]
    alice, bob = table.loc["alice_ex01"], table.loc["b_01_pretraining"]
    assert alice["points"] == 6.0  # flags are reported, not deducted
    assert alice["integrity"].split("; ") == [
        "check cell of q2 deleted",
        "cell 6 uses the checks' reference module (tlcourse.exercises.references)"]
    assert (bob["points"], bob["integrity"]) == (5.5, "check cell of q1 edited; check cell of q3 deleted")
    assert table.loc["carol_ex01", "integrity"] == ""


def test_the_lms_export_has_a_row_per_student(by_jobs):
    lms = by_jobs.lms[2]
    judged = "01 q4 (instructor, 2 points)"
    assert list(lms.columns) == ["student", "01 q1", "01 q2", "01 q3", judged, "total"]
    assert lms[judged].iloc[:2].isna().all()  # the judgement: empty, for the instructor to fill in
    assert lms.set_index("student")["total"].to_dict() == {"alice": 6.0, "bob": 5.5, "carol": 0.0}
    assert list(lms.iloc[1, 1:4]) == [1.0, 1.5, 3.0]
    assert lms.iloc[2, 1:4].isna().all()  # carol's notebook could not be read: nothing to import


def test_cli_grade_writes_the_lms_csv_and_says_what_was_compared(tmp_path, capsys):
    (tmp_path / "dave_ex02.ipynb").write_text("not a notebook")  # the wiring, without a run
    exercises = str(ROOT / "exercises")
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "g.csv"), "--lms-csv",
                 str(tmp_path / "lms.csv"), "--exercises", exercises, "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"check cells compared with {exercises}/" in printed and "LMS import:" in printed
    assert pd.read_csv(tmp_path / "lms.csv").to_dict("records") == [{"student": "dave", "total": 0.0}]
    assert main(["grade", str(tmp_path), "--jobs", "0"]) == 1
    assert "1 or more, got 0" in capsys.readouterr().out
    assert main(["grade", str(tmp_path), "--exercises", str(tmp_path / "none")]) == 1
    assert "--exercises" in capsys.readouterr().out


def test_the_notebook_gets_pythonpath_as_absolute_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([".", "/abs/lib"]))
    monkeypatch.chdir(tmp_path)
    env = grader._environment(tmp_path / "home", "smoke")
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path), "/abs/lib"]


def test_a_submission_whose_exercise_was_not_handed_out_says_its_check_cells_were_not_compared():
    nb = submission()
    flags = grader._integrity(nb, "01", {"02": nb})
    assert flags[0] == "check cells not compared: the exercises given hold no notebook of exercise '01'"
    assert len(flags) == 5  # and the learner's code is still scanned: the solution markers, 4 cells (q1-q4)


def test_the_benchmarks_class_is_one_student_per_copy(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from grading_jobs import make_class
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    make_class(SOLUTION, 3, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["learner00_ex01.ipynb", "learner01_ex01.ipynb", "learner02_ex01.ipynb"]
    assert all((tmp_path / n).read_bytes() == SOLUTION.read_bytes() for n in names)
