"""Hostile submissions against the grader's sandbox: each attack is a cell of a small exercise-01
notebook, and must fail in that cell.

One `grade` call runs them all in the bwrap box, beside the honest solution and the blank
exercise; a second grades the honest and blank ones with the sandbox forced off (the fallback
every Mac takes). The attacks: a TCP connection to a listener this test runs (on loopback and
on the machine's own address), files written to the machine's /tmp and to the submissions
folder, the box's /tmp filled, a secret file read, the hidden tests read by their path and
looked for on every process's command line, the grader's process signalled, /proc listed, a
process left running in the background, and 64 forked copies of the notebook's process. Each
must fail inside the box and leave no trace outside it.
"""
import hashlib
import io
import json
import os
import socket
import sys
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace

import nbformat
import psutil
import pytest

from tlcourse import cli
from tlcourse.errors import SandboxError
from tlcourse.exercises import sandbox
from tlcourse.exercises.grader import Limits, grade, report_path

ROOT = Path(__file__).resolve().parents[1]
LIMITS = Limits(seconds=60, memory_gb=2)
TOKEN = uuid.uuid4().hex  # unique strings, so a leak cannot be a coincidence
SECRET = f"instructor-secret-{TOKEN}"
HIDDEN = f'''
MARKER = "hidden-tests-{TOKEN}"

def test_probe_gap(ns):
    assert ns["pretrained_accuracy"] - ns["random_accuracy"] > 0.1, "the pretrained probe should win clearly"
test_probe_gap.points = 2
'''
DAEMON_SECONDS = "987"  # `sleep 987`: the background process the attack leaves behind
FORKS = f"import os, time\nfor _ in range(6):\n    os.fork()\ntime.sleep({DAEMON_SECONDS})"  # 64 copies

def attacks(port: int, address: str, secret: Path, hidden: Path, folder: Path, tmp_file: Path) -> dict:
    """name -> [(cell source, how its error must start in the box, or None)]: one attempt a cell.
    Two notebooks rather than one per attack: each costs a Python process that imports torch."""
    connect = "import socket\nsocket.create_connection(({!r}, {}), timeout=5).sendall(b'leak')"
    planted = str(folder / "planted.txt")
    return {
        "01_escape": [
            (connect.format("127.0.0.1", port), "ConnectionRefusedError"),
            (connect.format(address, port), ("OSError", "ConnectionRefusedError")),  # unreachable
            (f"import os\nos.kill({os.getpid()}, 0)", "ProcessLookupError"),  # the grader (pytest)
            ("import os\nprint('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))", None),
            (f"import subprocess\nsubprocess.Popen(['sleep', '{DAEMON_SECONDS}'], start_new_session=True)",
             None)],
        "01_files": [
            (f"open({str(tmp_file)!r}, 'w').write('planted')", None),  # the box's own /tmp
            (f"for i in range(3):\n    open(f'/tmp/{{i}}', 'wb').write(bytes({LIMITS.file_mb // 2 * 2**20}))",
             "OSError: [Errno 28] No space left on device"),  # /tmp is memory: capped
            (f"open({planted!r}, 'w').write('planted')", "FileNotFoundError"),
            (f"import os\nos.makedirs({str(folder)!r}, exist_ok=True)\nopen({planted!r}, 'w').write('x')", None),
            (f"print(open({str(secret)!r}).read())", "FileNotFoundError"),
            (f"print(open({str(hidden / '01_hidden.py')!r}).read())", "FileNotFoundError"),
            (f"import os\nprint(os.listdir({str(hidden)!r}))", "FileNotFoundError"),
            ("import glob\nfor path in glob.glob('/proc/*/cmdline'):\n    print(open(path, 'rb').read())", None),
            ("print(open('/etc/shadow').read())", "FileNotFoundError")],
    }


def machine_address() -> str:
    """An address of this machine that is not loopback (loopback again where there is none)."""
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return "127.0.0.1"


class Listener:
    """A TCP server on every interface of this machine that counts the connections it accepts."""

    def __init__(self):
        self.server = socket.create_server(("0.0.0.0", 0))
        self.server.settimeout(0.2)
        self.port, self.accepted, self.stop = self.server.getsockname()[1], 0, threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:  # the timeout: look at the stop flag again
                continue
            self.accepted += 1
            connection.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.server.close()


def folder_state(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def daemons() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if process.info["cmdline"] == ["sleep", DAEMON_SECONDS]:
            found.append(process)
    return found


@pytest.fixture(scope="module")
def boxed(tmp_path_factory):
    """Every attack, the honest solution and the blank exercise graded in the box, at once."""
    if not sandbox.sandbox_status()[0]:
        pytest.skip(f"no sandbox here: {sandbox.sandbox_status()[1]}")
    instructor = tmp_path_factory.mktemp("instructor")
    secret = instructor / "secret.txt"
    secret.write_text(SECRET)
    hidden = tmp_path_factory.mktemp("hidden")
    (hidden / "01_hidden.py").write_text(HIDDEN)
    folder = tmp_path_factory.mktemp("submissions")
    tmp_file = Path("/tmp") / f"tlcourse-attack-{TOKEN}.txt"
    listener = Listener()
    try:
        planned = attacks(listener.port, machine_address(), secret, hidden, folder, tmp_file)
        for name, cells in planned.items():
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c, _ in cells])
            nbformat.write(nb, folder / f"{name}.ipynb")
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FORKS)]),
                       folder / "01_forks.ipynb")
        (folder / "01_honest.ipynb").write_bytes((ROOT / "solutions" / "01_pretraining.ipynb").read_bytes())
        (folder / "01_blank.ipynb").write_bytes((ROOT / "exercises" / "01_pretraining.ipynb").read_bytes())
        before = folder_state(folder)
        out = tmp_path_factory.mktemp("out") / "grades.csv"
        table = grade([folder], out, LIMITS, tests=hidden, jobs=2)
    finally:
        listener.close()
    reports = {Path(s).stem: json.loads(report_path(out.with_name("grades_reports"), Path(s)).read_text())
               for s in table["submission"]}
    return SimpleNamespace(table=table.set_index(table["submission"].map(lambda s: Path(s).stem)),
                           reports=reports, out=out, folder=folder, before=before, listener=listener,
                           tmp_file=tmp_file, hidden=hidden, planned=planned)


def test_each_attack_fails_in_its_cell(boxed):
    for name, cells in boxed.planned.items():
        raised = {e["cell"]: e["error"] for e in boxed.reports[name]["cell_errors"]}
        for index, (source, expected) in enumerate(cells):
            if expected is None:
                assert index not in raised, (source, raised[index])
            else:
                assert raised.get(index, "").startswith(expected), (source, raised.get(index))


def test_every_submission_ran_in_the_box(boxed):
    assert set(boxed.table["isolation"]) == {"bwrap"}
    assert set(boxed.table.drop(index="01_forks")["status"]) == {"completed"}


def test_forked_copies_count_against_the_memory_limit_and_die_with_the_box(boxed):
    status = boxed.table.loc["01_forks", "status"]
    assert status == f"killed: it used more than the memory limit ({LIMITS.memory_gb:g} GB)"
    command_lines = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
    assert not [c for c in command_lines if "01_forks.ipynb" in c]


def test_the_honest_solution_gets_full_marks_and_the_blank_exercise_zero(boxed):
    honest, blank = boxed.table.loc["01_honest"], boxed.table.loc["01_blank"]
    assert honest["cell errors"] == ""
    assert (honest["points"], honest["max_points"]) == (8.0, 8.0)  # q1-q3 and the hidden test (q4, a judgement, earns none itself)
    assert honest["hidden:01_hidden.test_probe_gap points"] == 2.0
    assert (blank["points"], blank["max_points"]) == (0.0, 8.0)


def test_no_connection_leaves_the_box(boxed):
    assert boxed.listener.accepted == 0


def test_nothing_is_written_outside_the_working_copy(boxed):
    assert not boxed.tmp_file.exists()  # it wrote to the box's private /tmp
    assert folder_state(boxed.folder) == boxed.before


def test_nothing_outside_is_read(boxed):
    gradebook = boxed.out.read_text() + json.dumps(boxed.reports)
    assert SECRET not in gradebook
    assert f"hidden-tests-{TOKEN}" not in gradebook
    command_lines = [x for x in boxed.reports["01_files"]["output"].splitlines() if x.startswith("b'")]
    assert command_lines and not any(str(boxed.hidden) in x for x in command_lines)


def test_the_grader_and_other_processes_are_out_of_sight(boxed):
    output = boxed.reports["01_escape"]["output"]
    pids = json.loads(output.partition("pids ")[2].splitlines()[0])
    assert len(pids) < 10 and os.getpid() not in pids, pids  # bwrap, the notebook, its children
    assert not daemons()  # the PID namespace ended with the notebook


@pytest.fixture(scope="module")
def unboxed(tmp_path_factory):
    """The honest solution and the blank exercise graded with the sandbox forced off."""
    folder = tmp_path_factory.mktemp("fallback")
    (folder / "01_honest.ipynb").write_bytes((ROOT / "solutions" / "01_pretraining.ipynb").read_bytes())
    (folder / "01_blank.ipynb").write_bytes((ROOT / "exercises" / "01_pretraining.ipynb").read_bytes())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sandbox, "BWRAP", "tlcourse-no-such-bwrap")
        table = grade([folder], folder / "grades.csv", LIMITS, jobs=2)
    return table.set_index(table["submission"].map(lambda s: Path(s).stem))


def test_without_the_sandbox_grading_goes_on_and_every_row_says_so(unboxed):
    assert list(unboxed["isolation"].str.split(":").str[0]) == ["none", "none"]
    assert all("sudo apt-get install bubblewrap" in text for text in unboxed["isolation"])
    assert (unboxed.loc["01_honest", "points"], unboxed.loc["01_honest", "max_points"]) == (6.0, 6.0)
    assert unboxed.loc["01_blank", "points"] == 0.0


def test_require_sandbox_refuses_to_grade_without_one(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sandbox, "BWRAP", "tlcourse-no-such-bwrap")
    (tmp_path / "01_x.ipynb").write_bytes((ROOT / "exercises" / "01_pretraining.ipynb").read_bytes())
    with pytest.raises(SandboxError, match="bwrap not found"):
        grade([tmp_path], tmp_path / "g.csv", require_sandbox=True)
    assert cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "g.csv"), "--require-sandbox"]) == 1
    assert "nothing graded" in capsys.readouterr().out
    assert not (tmp_path / "g.csv").exists() and not (tmp_path / "g_reports").exists()


def doctor_line() -> str:
    out = io.StringIO()
    cli.doctor(out)
    return next(x for x in out.getvalue().splitlines() if x.startswith("grading sandbox:"))


def test_doctor_says_whether_the_sandbox_is_there_and_how_to_get_it(monkeypatch):
    available, _ = sandbox.sandbox_status()
    assert doctor_line().startswith(f"grading sandbox: {'available' if available else 'not available'}")
    monkeypatch.setattr(sandbox, "BWRAP", "tlcourse-no-such-bwrap")
    line = doctor_line()
    assert "not available" in line and "sudo apt-get install bubblewrap" in line and "macOS" in line


@pytest.mark.skipif(sys.platform != "linux", reason="bubblewrap is Linux only")
def test_the_sandbox_is_available_where_the_tests_run():
    available, reason = sandbox.sandbox_status()
    assert available, f"{reason} (`make test` installs bubblewrap when it runs as root with apt-get)"
