"""The student kit (`tlcourse make-exercises --kit DIR`) holds no solution: not the stored
solutions, not a solutions notebook, not one answer's code; its `qN.solution()` says so.
The tests that read the kit are `slow`: it is built once for the module (a wheel, seconds)."""
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from tlcourse.cli import main
from tlcourse.exercises import core
from tlcourse.exercises.kit import KitError, build_kit_wheel, solution_files
from tlcourse.exercises.notebooks import BEGIN, make_exercises, to_exercise

ROOT = Path(__file__).resolve().parents[1]
SHORTEST = 20  # answer lines shorter than this ("probe.eval()") are too common to count as leaks


def answers() -> dict[str, str]:
    """Every answer of every solutions notebook, read afresh: "01 q1" -> its code."""
    found = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        _, solutions = to_exercise(nbformat.read(path, as_version=4), path)
        found.update({f"{path.name[:2]} {q}": code for q, code in solutions.items()})
    return found


def folded(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def answer_only_lines() -> set[str]:
    """Answer lines that the package outside the stored solutions does not hold: a hint or a
    check may share a line with an answer (the check rebuilds the reference the same way)."""
    package = "\n".join(folded(p.read_text()) for p in (ROOT / "tlcourse").rglob("*.py"))
    lines = {folded(l) for code in answers().values() for l in code.splitlines()}
    return {l for l in lines if len(l) >= SHORTEST and l not in package}


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The kit, written by the command an instructor runs, and its wheel unpacked."""
    folder = tmp_path_factory.mktemp("kit")
    assert main(["make-exercises", "--kit", str(folder), "--solutions", str(ROOT / "solutions")]) == 0
    wheel, = folder.glob("tlcourse-*.whl")
    unpacked = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(unpacked)
    texts = {}
    for path in [*unpacked.rglob("*"), *folder.rglob("*")]:
        if path.is_file() and path.suffix != ".whl":
            try:
                texts[str(path)] = folded(path.read_text())
            except UnicodeDecodeError:  # the letters checkpoint
                continue
    return SimpleNamespace(folder=folder, wheel=wheel, names=names, unpacked=unpacked, texts=texts)


@pytest.mark.slow
def test_the_kit_holds_the_exercises_the_wheel_and_how_to_install(kit):
    notebooks = sorted(p.name for p in (kit.folder / "exercises").glob("*.ipynb"))
    assert notebooks == sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))
    assert (kit.folder / "constraints.txt").read_text() == (ROOT / "constraints.txt").read_text()
    assert kit.wheel.name in (kit.folder / "INSTALL.txt").read_text()
    assert "tlcourse/exercises/student_kit.json" in kit.names and "tlcourse/exercises/ex01.py" in kit.names


@pytest.mark.slow
def test_no_stored_solutions_and_no_solutions_notebook(kit):
    assert not any(Path(n).name == "solutions.json" or "solutions/" in n for n in kit.names)
    assert solution_files(kit.wheel) == []
    assert not list(kit.folder.rglob("solutions*"))
    notebooks = [text for path, text in kit.texts.items() if path.endswith(".ipynb")]
    assert len(notebooks) == len(list((ROOT / "exercises").glob("*.ipynb"))) == 8  # exercises 01-08
    assert not any(BEGIN in text for text in notebooks)


@pytest.mark.slow
def test_no_answer_is_in_the_kit(kit):
    found = answers()
    assert len(found) >= 15
    for question, code in found.items():
        leaks = [path for path, text in kit.texts.items() if folded(code) in text]
        assert not leaks, f"the answer to {question} is in {leaks}"
    lines = answer_only_lines()
    assert len(lines) >= 30  # enough to mean something
    leaks = {line: path for line in lines for path, text in kit.texts.items() if line in text}
    assert not leaks, leaks


@pytest.mark.slow
def test_the_kit_wheels_solution_says_ask_your_instructor(kit):
    code = "import tlcourse\nfrom tlcourse.exercises.ex01 import q1\nprint(tlcourse.__file__)\nq1.solution()"
    env = {**os.environ, "PYTHONPATH": str(kit.unpacked)}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=kit.unpacked, capture_output=True,
                          text=True, timeout=120)  # cwd: `-c` puts it first on sys.path
    assert done.returncode == 0, done.stderr
    where, shown = done.stdout.split("\n", 1)
    assert where.startswith(str(kit.unpacked))  # the kit's own package, not this checkout
    assert "Solutions are not part of this build of tlcourse" in shown and "Ask your instructor" in shown
    assert answers()["01 q1"] not in shown


def test_solution_in_a_kit_build_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(core, "KIT_MARKER", tmp_path / "student_kit.json")
    core.KIT_MARKER.write_text(json.dumps({"student_kit": True}))
    from tlcourse.exercises.ex01 import q2

    q2.solution()
    assert capsys.readouterr().out == f"q2 solution:\n{core.NOT_IN_KIT.format(question='q2')}\n"


def test_a_wheel_with_solutions_is_caught(tmp_path):
    wheel = tmp_path / "tlcourse-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tlcourse/exercises/solutions.json", "{}")
        archive.writestr("tlcourse/exercises/ex01.py", "")
    assert solution_files(wheel) == ["tlcourse/exercises/solutions.json"]


def test_a_kit_needs_the_source_checkout(tmp_path):
    with pytest.raises(KitError, match="not a tlcourse source checkout.*run it from a clone"):
        build_kit_wheel(tmp_path / "out", source=tmp_path)


def test_make_exercises_can_leave_the_solutions_out(tmp_path):
    written = make_exercises(ROOT / "solutions", tmp_path / "ex", solutions_file=None)
    assert sorted(Path(p).name for p in written) == sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))
    assert [p.name for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".ipynb"] == []


def test_the_instructors_switch_hides_solutions_in_any_build_and_graded_runs_set_it(monkeypatch, capsys, tmp_path):
    from tlcourse.exercises import grader
    from tlcourse.exercises.ex01 import q2

    monkeypatch.setenv("TLCOURSE_SOLUTIONS", "off")
    q2.solution()
    shown = capsys.readouterr().out
    assert "Solutions are switched off here" in shown and answers()["01 q2"] not in shown
    monkeypatch.setenv("TLCOURSE_SOLUTIONS", "on")
    q2.solution()
    assert answers()["01 q2"] in capsys.readouterr().out
    assert grader._environment(tmp_path / "home", "smoke")["TLCOURSE_SOLUTIONS"] == "off"
