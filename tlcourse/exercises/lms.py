"""The gradebook as a learning-management system imports it: one row per student.

``tlcourse grade ... --lms-csv lms.csv`` writes, beside the per-submission ``grades.csv``, a
table with a ``student`` column, one column of points per question (``01 q1``, ``01 q2``, ...,
``01 hidden:01_hidden.test_x``: exercise, then question) and a ``total`` column. A question
of an exercise the student did not hand in is left empty, not zero: the LMS shows it as
missing. A judgement question (:class:`tlcourse.exercises.core.Judgement`) earns no automatic
points: its column is named ``01 q4 (instructor, 2 points)`` and left empty for the instructor
to fill from the answer in ``grades.csv``. Who a submission is from:
:func:`tlcourse.exercises.notebooks.student_id`.
"""
from __future__ import annotations

from collections import defaultdict

import pandas as pd

POINTS = " points"  # suffix of a question's points column in grades.csv


def question_columns(table: pd.DataFrame) -> list[str]:
    """The gradebook's per-question points columns (``q1 points``, ...), in their order."""
    return [c for c in table.columns if c.endswith(POINTS) and c != "points"]


def _judgements(exercise: str) -> dict[str, float]:
    """The judgement questions of ``exercise``: name -> the instructor's points ({} if unknown)."""
    from . import EXERCISES, questions
    from .core import Judgement

    if exercise not in EXERCISES:
        return {}
    return {q.name: q.instructor_points for q in questions(exercise) if isinstance(q, Judgement)}


def lms_gradebook(table: pd.DataFrame) -> pd.DataFrame:
    """One row per student (sorted by id) from :func:`tlcourse.exercises.grader.grade`'s table:
    ``student``, ``<exercise> <question>`` points, ``total`` (all the student's points)."""
    cells, columns = defaultdict(dict), defaultdict(list)
    for _, row in table.iterrows():
        judged = _judgements(str(row["exercise"])) if row["exercise"] else {}
        for column in question_columns(table):
            if row["exercise"] and pd.notna(row[column]):
                question = column.removesuffix(POINTS)
                name = f"{row['exercise']} {question}"
                if question in judged:  # for the instructor to fill in: empty, not zero
                    name = f"{name} (instructor, {judged[question]:g} points)"
                cells[row["student"]][name] = None if question in judged else row[column]
                if name not in columns[row["exercise"]]:
                    columns[row["exercise"]].append(name)
    totals = table.groupby("student")["points"].sum()
    ordered = [name for exercise in sorted(columns) for name in columns[exercise]]
    rows = [{"student": student, **{n: cells[student].get(n) for n in ordered},
             "total": round(float(totals[student]), 2)} for student in sorted(totals.index)]
    return pd.DataFrame(rows, columns=["student", *ordered, "total"])


def one_submission_each(keys: list[tuple[str, str, str]]) -> None:
    """Refuse two submissions of one exercise from one student: ``keys`` holds (student,
    exercise, file) and the LMS row would have to drop one of them. Raises ValueError naming
    the files and how to tell them apart."""
    seen, clashes = {}, []
    for student, exercise, path in keys:
        if (student, exercise) in seen:
            clashes.append(f"{seen[student, exercise]} and {path} (student {student!r}, exercise {exercise})")
        seen.setdefault((student, exercise), path)
    if clashes:
        raise ValueError("Two submissions of the same exercise from one student: " + "; ".join(clashes)
                         + ". Name each file after its student (alice_ex01.ipynb, or a folder per "
                           "student), or set the notebook's tlcourse.student metadata, then grade again.")
