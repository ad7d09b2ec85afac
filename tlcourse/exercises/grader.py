"""Grade a folder of submitted exercise notebooks: ``tlcourse grade SUBMISSIONS... --out grades.csv``.

Each submission is copied into its own temporary folder (the submitted file is only read) and
run there by :mod:`tlcourse.exercises.runner` in a separate process with a time limit, a
memory limit and a file-size limit, offline and single-threaded so the same submission always
gets the same grade. Where bubblewrap is available that process runs in a box
(:mod:`tlcourse.exercises.sandbox`): no network, nothing of the machine writable but its copy,
nothing readable but the system, Python and this package. The hidden tests run afterwards in a
process of their own, on the notebook's variables handed over as data
(:mod:`tlcourse.exercises.hidden`). Whatever happens inside (a crash, an endless loop,
megabytes of output, deleted files, an error in the first cell), the submission gets a row:
points per question, feedback, the isolation it ran with, and the reason for anything it lost.
Each row also names the student (:func:`~tlcourse.exercises.notebooks.student_id`) and flags
what the notebook's text gives away (:mod:`tlcourse.exercises.integrity`: check cells edited or
deleted, reaching for the solutions); one row per student, as an LMS imports it, is
:mod:`tlcourse.exercises.lms`. One JSON report per submission sits beside the CSV.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import select
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import psutil
from tqdm.auto import tqdm

from ..errors import SandboxError
from . import EXERCISES, questions
from .core import INCORRECT, Verdict
from .handover import read_untrusted
from .integrity import handed_out_notebooks, integrity_flags
from .lms import lms_gradebook, one_submission_each
from .notebooks import exercise_id, student_id
from .runner import GRADING_SECONDS, OUTPUT_CAP
from .sandbox import hand_over, sandbox_status, sandboxed

LOG_TAIL = 2_000  # characters of the runner's own output kept when it dies
REPORT_BYTES = 2**30  # the most of a report the grader reads (the runner wrote it in the box)
# the grader's environment variables the notebook inherits: no tokens or paths of the instructor's
PASSED_ON = ("PATH", "PYTHONPATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TLCOURSE_DEVICE")


# torch reserves several GB of address space it never touches, so the address-space limit
# (which makes one huge allocation fail at once with a MemoryError) sits this far above the
# memory limit; the memory actually used is watched separately.
ADDRESS_SPACE_HEADROOM_GB = 8


@dataclass(frozen=True)
class Limits:
    seconds: float = 600  # for all the notebook's cells; the checks get GRADING_SECONDS more
    memory_gb: float = 4.0  # resident memory of the process running the notebook
    file_mb: int = 256  # largest file the notebook may write


def find_notebooks(paths) -> list[Path]:
    """Notebooks named by ``paths``: files as given, folders searched (not recursively), sorted."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.glob("*.ipynb") if not p.name.startswith("."))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"No submission at {path}: pass notebook files or folders of them.")
    return found


def _environment(home: Path, profile: str) -> dict:
    """Few variables, all set here, with ``home`` holding the caches: the notebook sees none of
    the instructor's (strict checks off: grade, don't raise)."""
    env = {k: os.environ[k] for k in PASSED_ON if k in os.environ}
    if env.get("PYTHONPATH"):  # the notebook runs elsewhere: `PYTHONPATH=.` must still find this package
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep) if p)
    env.update(TLCOURSE_PROFILE=profile, TLCOURSE_CACHE=str(home / "cache"), TLCOURSE_OFFLINE="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg",
               MPLCONFIGDIR=str(home / "matplotlib"), PYTHONHASHSEED="0", HOME=str(home),
               USER="learner", LOGNAME="learner", TLCOURSE_SOLUTIONS="off",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def _failed_report(exercise: str, reason: str) -> dict:
    """The report of a submission that produced none: every question zero, with the reason."""
    rows = [{"question": p.name, "status": INCORRECT, "points": 0.0, "max_points": p.points,
             "feedback": reason} for p in questions(exercise)]
    return {"exercise": exercise, "status": reason, "cell_errors": [], "questions": rows}


def _watch(child: subprocess.Popen, limits: Limits) -> str | None:
    """Wait for the notebook's process until it ends (None) or passes the time or memory limit
    (the reason, to report; the caller kills it)."""
    deadline = time.monotonic() + limits.seconds + GRADING_SECONDS + 60  # the runner stops itself first
    process = psutil.Process(child.pid)
    while True:
        try:
            child.wait(timeout=0.25)
            return None
        except subprocess.TimeoutExpired:
            pass
        resident = _resident(process)
        if resident > limits.memory_gb * 2**30:
            reason = f"killed: it used more than the memory limit ({limits.memory_gb:g} GB)"
        elif time.monotonic() > deadline:
            reason = f"killed: still running after the time limit ({limits.seconds:g} s) and the grading time"
        else:
            continue
        return reason


def _resident(process: psutil.Process) -> int:
    """Resident memory of ``process`` and everything it started (in the box, the notebook's
    process is bwrap's grandchild)."""
    total = 0
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.Error:  # it just exited
        return 0
    for member in family:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def _kill_group(child: subprocess.Popen) -> None:
    """Kill the notebook's process and anything it started (they share its process group; in the
    box, killing bwrap ends its PID namespace and every process in it)."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()


def _run(notebook: Path, scratch: Path, exercise: str, limits: Limits, profile: str,
         tests: Path | None, boxed: bool, judge: Judge | None = None) -> dict:
    """Run the notebook in ``scratch/box`` (the only folder it may write, as its working copy),
    then the hidden tests on what it handed over; the runner's log stays outside the box."""
    box, log = scratch / "box", scratch / "runner.log"
    work, report, handed, answers = box / "work", box / "report.json", box / "namespace", box / "answers"
    work.mkdir(parents=True)
    copy = work / notebook.name
    copy.write_bytes(notebook.read_bytes())
    command = [sys.executable, "-m", "tlcourse.exercises.runner", str(copy), str(report),
               "--exercise", exercise, "--answers", str(answers), "--seconds", str(limits.seconds),
               "--address-space-gb", str(limits.memory_gb + ADDRESS_SPACE_HEADROOM_GB),
               "--file-mb", str(limits.file_mb), "--namespace", str(handed)]
    if boxed:
        hand_over(box)
        command = sandboxed(command, writable=[box], cwd=work, tmp_mb=limits.file_mb)
    with log.open("wb") as out:
        child = subprocess.Popen(command, cwd=work, env=_environment(box, profile),
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        killed = _watch(child, limits)
        _kill_group(child)  # past a limit, or processes the notebook left running in the background
    if killed:
        return _failed_report(exercise, killed)
    result = {"exercise": exercise, **_runner_report(report, log, child.returncode)}
    if judge is None:
        judge = Judge(scratch / "judge", profile)
        try:
            result["questions"] = judge.verdicts(exercise, answers, box)
        finally:
            judge.close()
    else:
        result["questions"] = judge.verdicts(exercise, answers, box)
    if tests is not None and any(tests.glob(f"{exercise}_*.py")):
        result["questions"] += _hidden_verdicts(exercise, tests, handed, scratch / "hidden", profile)
    return result


def _runner_report(report: Path, log: Path, code: int) -> dict:
    """What the runner says happened in the box: status, cell errors and output. The notebook's
    process could have written this file itself, so only these informative fields are kept, as
    text; the points come from the :class:`Judge`, outside the box."""
    try:
        said = json.loads(read_untrusted(report, REPORT_BYTES))
        return {"status": str(said["status"])[:500], "seconds": float(said.get("seconds", 0)),
                "cell_errors": [{"cell": int(e["cell"]), "error": str(e["error"])[:2000]} for e in said["cell_errors"]],
                "not_handed_over": {str(k): str(v)[:500] for k, v in dict(said.get("not_handed_over", {})).items()},
                "handed_over": str(said.get("handed_over", ""))[:500], "output": str(said.get("output", ""))[:OUTPUT_CAP]}
    except (OSError, ValueError, KeyError, TypeError):
        tail = log.read_bytes()[-LOG_TAIL:].decode("utf-8", "replace").strip().splitlines()
        why = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return {"status": f"the notebook process {why}: {tail[-1] if tail else 'no output'}", "cell_errors": []}


class Judge:
    """The process that checks answers (:mod:`tlcourse.exercises.judge` ``--serve``), started on first
    use and reused for every submission this grading thread handles: it never runs a learner's
    code, so nothing carries over but its imports and the checks' reference runs. ``home`` holds
    its cache, which no notebook can reach."""

    def __init__(self, home: Path, profile: str):
        self.home, self.profile, self.process = home, profile, None

    def _start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "judge.log").open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "tlcourse.exercises.judge", "--serve"],
                                            env=_environment(self.home, self.profile), stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=log, start_new_session=True)

    def verdicts(self, exercise: str, answers: Path, box: Path) -> list[dict]:
        """The questions' verdicts on the answers in ``answers``, or zeros with the reason."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        request = json.dumps({"exercise": exercise, "answers": str(answers), "box": str(box)}) + "\n"
        try:
            self.process.stdin.write(request.encode())
            self.process.stdin.flush()
            line = self._line(GRADING_SECONDS + 120)
        except OSError:
            line = None
        if line is None:
            self.close()
            return _unjudged(exercise, "the checks stopped or ran out of time")
        try:
            return json.loads(line)
        except ValueError:
            self.close()
            return _unjudged(exercise, "the checks gave no verdict")

    def _line(self, seconds: float) -> bytes | None:
        """One line from the process's stdout within ``seconds``, else None."""
        out, data, deadline = self.process.stdout.fileno(), b"", time.monotonic() + seconds
        while not data.endswith(b"\n"):
            ready, _, _ = select.select([out], [], [], max(deadline - time.monotonic(), 0))
            chunk = os.read(out, 1 << 20) if ready else b""
            if not chunk:
                return None
            data += chunk
        return data

    def close(self) -> None:
        if self.process is not None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self.process.stdout.close()
            self.process = None


def _unjudged(exercise: str, reason: str) -> list[dict]:
    return [Verdict(q.name, INCORRECT, 0.0, q.points, [reason]).as_dict() for q in questions(exercise)]


def _hidden_verdicts(exercise: str, tests: Path, handed: Path, home: Path, profile: str) -> list[dict]:
    """The hidden tests' verdicts, from a process that never ran the learner's code. Its cache is
    its own (``home``): one the notebook filled could hold a planted checkpoint, and loading a
    checkpoint runs pickled code."""
    home.mkdir()
    command = [sys.executable, "-m", "tlcourse.exercises.hidden", exercise, str(tests.resolve()),
               str(handed)]
    try:
        done = subprocess.run(command, env=_environment(home, profile), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=GRADING_SECONDS + 60)
    except subprocess.TimeoutExpired:
        return _no_verdict("they ran out of time")
    try:
        return json.loads(done.stdout)
    except ValueError:
        return _no_verdict(f"they stopped: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")


def _no_verdict(reason: str) -> list[dict]:
    return [{"question": "hidden", "status": INCORRECT, "points": 0.0, "max_points": 0.0,
             "feedback": f"the hidden tests gave no verdict: {reason}"}]


def grade_submission(notebook: Path, limits: Limits = Limits(), profile: str = "smoke",
                     tests: Path | None = None, boxed: bool = True, handed_out: dict | None = None,
                     judge: Judge | None = None) -> dict:
    """Run and grade one notebook in a temporary copy, in the bwrap box if ``boxed``; return its
    report (never raises for the submission's faults). The report also names the ``student``
    and lists the ``integrity`` flags of the notebook's text, its check cells compared with
    ``handed_out`` (exercise id -> the exercise notebook, as :func:`integrity.handed_out_notebooks`
    reads them; None: not compared)."""
    try:
        nb = nbformat.reads(notebook.read_text(), as_version=4)
        exercise, student = exercise_id(nb, notebook), student_id(nb, notebook)
    except Exception as err:
        return {"exercise": "", "student": student_id(None, notebook), "integrity": [],
                "status": f"not a readable notebook: {type(err).__name__}: {err}",
                "cell_errors": [], "questions": []}
    report = _run_in_scratch(notebook, exercise, limits, profile, tests, boxed, judge)
    report["student"], report["integrity"] = student, _integrity(nb, exercise, handed_out)
    return report


def _run_in_scratch(notebook: Path, exercise: str, limits: Limits, profile: str,
                    tests: Path | None, boxed: bool, judge: Judge | None = None) -> dict:
    """The report of a known exercise's notebook, run in a temporary folder deleted afterwards."""
    if exercise not in EXERCISES:
        return {"exercise": exercise, "status": f"unknown exercise {exercise!r} (expected one of "
                f"{sorted(EXERCISES)}: name the file NN_*.ipynb or <student>_exNN.ipynb)", "cell_errors": [],
                "questions": []}
    scratch = Path(tempfile.mkdtemp(prefix="tlcourse-grade-"))
    try:
        return _run(notebook, scratch, exercise, limits, profile, tests, boxed, judge)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _integrity(nb, exercise: str, handed_out: dict | None) -> list[str]:
    """The notebook's integrity flags, and a note when its exercise notebook was not given."""
    if handed_out is not None and exercise not in handed_out:
        return ["check cells not compared: the exercises given hold no notebook of exercise "
                f"{exercise!r}", *integrity_flags(nb)]
    return integrity_flags(nb, handed_out[exercise] if handed_out is not None else None)


def report_path(reports: Path, notebook: Path) -> Path:
    """Where a submission's JSON report goes: its path flattened, so alice/01_x and bob/01_x differ."""
    return reports / (str(notebook.with_suffix("")).strip(os.sep).replace(os.sep, "__") + ".json")


def gradebook_row(name: str, report: dict) -> dict:
    """One CSV row: who and what, totals, points and feedback per question, then the integrity
    flags and the cell errors."""
    row = {"submission": name, "student": report["student"], "exercise": report["exercise"],
           "status": report["status"], "isolation": report["isolation"],
           "points": sum(q["points"] for q in report["questions"]),
           "max_points": sum(q["max_points"] for q in report["questions"])}
    for q in report["questions"]:
        row[f"{q['question']} points"] = q["points"]
        row[f"{q['question']} feedback"] = q["feedback"]
    row["integrity"] = "; ".join(report["integrity"])
    row["cell errors"] = "; ".join(f"cell {e['cell']}: {e['error']}" for e in report["cell_errors"])[:1000]
    return row


def _submitters(notebooks: list[Path]) -> list[tuple[str, str, str]]:
    """(student, exercise, file) of every readable notebook, for :func:`lms.one_submission_each`."""
    keys = []
    for path in notebooks:
        try:
            nb = nbformat.reads(path.read_text(), as_version=4)
            keys.append((student_id(nb, path), exercise_id(nb, path), str(path)))
        except Exception:  # graded as unreadable, with a row of its own
            continue
    return keys


def _check_arguments(submissions, tests, jobs: int, exercises, lms_csv) -> tuple[list[Path], dict | None]:
    """The notebooks to grade and the exercise notebooks handed out; raises what the instructor
    must fix before anything runs."""
    notebooks = find_notebooks(submissions)
    if not notebooks:
        raise FileNotFoundError(f"No notebooks (.ipynb) in {[str(p) for p in submissions]}: pass "
                                f"submitted notebooks or the folders holding them.")
    for option, folder, holding in (("--tests", tests, "the hidden tests (files named like 01_hidden.py)"),
                                    ("--exercises", exercises, "the exercise notebooks you handed out")):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{option} {folder} is not a folder: pass the folder holding {holding}.")
    if jobs < 1:
        raise ValueError(f"jobs is how many notebooks are graded at once: 1 or more, got {jobs}.")
    if lms_csv is not None:
        one_submission_each(_submitters(notebooks))
    return notebooks, handed_out_notebooks(exercises) if exercises is not None else None


def grade(submissions, out: str | Path, limits: Limits = Limits(), profile: str = "smoke",
          tests: str | Path | None = None, reports: str | Path | None = None,
          jobs: int = 1, require_sandbox: bool = False, exercises: str | Path | None = None,
          lms_csv: str | Path | None = None) -> pd.DataFrame:
    """Grade every notebook in ``submissions``; write the CSV at ``out`` and one JSON report each.

    Each notebook runs in the bwrap box where it can be built; elsewhere with the limits only,
    and every row says ``isolation: none: <why>`` - unless ``require_sandbox``, which refuses to
    grade at all (:class:`~tlcourse.errors.SandboxError`).

    ``jobs`` notebooks run at once, each in its own single-threaded process with its own limits
    (so ``jobs`` x ``limits.memory_gb`` is the most memory grading takes); rows keep the
    submissions' order whatever finishes first.

    ``exercises``: the folder of exercise notebooks handed out, whose check cells each
    submission must keep (the ``integrity`` column; see :mod:`tlcourse.exercises.integrity`).
    ``lms_csv``: also write one row per student there (:mod:`tlcourse.exercises.lms`); two
    submissions of one exercise by one student are refused before anything runs.
    """
    notebooks, handed_out = _check_arguments(submissions, tests, jobs, exercises, lms_csv)
    boxed, reason = sandbox_status()
    if require_sandbox and not boxed:
        raise SandboxError(f"--require-sandbox: nothing graded, because the sandbox cannot be built "
                           f"here: {reason}. Run `tlcourse doctor` to see what is missing.")
    out = Path(out)
    reports = Path(reports) if reports else out.with_name(out.stem + "_reports")
    reports.mkdir(parents=True, exist_ok=True)

    # The checking processes, one per grading thread, and their cache: shared by every submission
    # of this run (reference runs are computed once) and out of every box's reach.
    judge_home, local, judges = Path(tempfile.mkdtemp(prefix="tlcourse-checks-")), threading.local(), []

    def one(notebook: Path) -> dict:
        if not hasattr(local, "judge"):
            local.judge = Judge(judge_home, profile)
            judges.append(local.judge)
        report = grade_submission(notebook, limits, profile, Path(tests) if tests else None, boxed,
                                  handed_out, local.judge)
        report["submission"], report["isolation"] = str(notebook), "bwrap" if boxed else f"none: {reason}"
        report_path(reports, notebook).write_text(json.dumps(report, indent=1))
        return gradebook_row(str(notebook), report)

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:  # threads only wait: each notebook is a process
            rows = list(tqdm(pool.map(one, notebooks), total=len(notebooks), desc="grading"))
    finally:
        for judge in judges:
            judge.close()
        shutil.rmtree(judge_home, ignore_errors=True)
    table = pd.DataFrame(rows)
    last = ["integrity", "cell errors"]  # questions differ between exercises: keep these last
    table = table[[c for c in table.columns if c not in last] + last]
    table.to_csv(out, index=False)
    if lms_csv is not None:
        lms_gradebook(table).to_csv(lms_csv, index=False)
    return table
