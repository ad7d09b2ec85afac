"""The test environment that conftest.py sets: offline, private cache, smoke profile, markers."""
import socket
import time
from pathlib import Path

import pytest

from tlcourse import cache_dir, get_profile

ROOT = Path(__file__).resolve().parents[1]


def test_tests_run_in_the_smoke_profile_with_a_private_cache():
    assert get_profile().name == "smoke"
    assert cache_dir().resolve() == (ROOT / ".cache" / "test").resolve()


def test_a_connection_off_this_machine_is_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(OSError, match="tests run offline"):
        socket.create_connection(("192.0.2.1", 80), timeout=5)  # TEST-NET-1: never routed
    with pytest.raises(OSError, match="tests run offline"):
        socket.socket().connect(("pypi.org", 443))
    assert time.perf_counter() - start < 1


def test_loopback_stays_reachable():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass


class FakeItem:
    def __init__(self, path):
        self.path, self.marks, self.nodeid = Path(path.split("::")[0]), [], path

    def add_marker(self, mark):
        self.marks.append(mark.name)


def test_each_kind_of_test_gets_its_marker(pytestconfig):
    conftest = next(p for p in pytestconfig.pluginmanager.get_plugins()
                    if getattr(p, "__file__", None) == str(ROOT / "conftest.py"))

    items = [FakeItem(p) for p in ("tests/test_claims_05.py", "notebooks/05_x.ipynb", "tests/test_grader.py",
                                   "tests/test_jupyterlab.py", "tests/test_browser.py", "tests/test_hub.py",
                                   "tests/test_forgery.py", "tests/test_train.py")]
    conftest.pytest_collection_modifyitems(pytestconfig, items)
    assert [i.marks for i in items] == [["claims"], ["notebooks"], ["grader"], ["lab"], ["browser"], ["hub"],
                                         ["grader"], []]


def test_a_file_runs_in_one_process_with_the_claim_files_that_share_its_fixtures(pytestconfig, monkeypatch):
    conftest = next(p for p in pytestconfig.pluginmanager.get_plugins()
                    if getattr(p, "__file__", None) == str(ROOT / "conftest.py"))
    ids = ("tests/test_claims_02.py::test_a", "tests/test_claims_02.py::test_b", "tests/test_claims_07.py::test_c",
           "tests/test_claims_04.py::test_d", "tests/test_claims_07_bias.py::test_e", "tests/test_claims_05.py::test_f",
           "notebooks/05_x.ipynb::Cell 0", "notebooks/05_x.ipynb::Cell 1", "tests/test_train.py::test_g[x::y]")
    monkeypatch.setattr(pytestconfig.option, "dist", "loadfile", raising=False)
    monkeypatch.setattr(pytestconfig.option, "tx", ["2*popen"], raising=False)  # as -n 2 sets it
    scheduler = conftest.pytest_xdist_make_scheduler(pytestconfig, None)
    scopes = [scheduler._split_scope(i) for i in ids]  # what pytest-xdist groups by
    assert scopes[0] == scopes[1] == scopes[2] != scopes[3] == scopes[4]
    assert scopes[5:] == ["tests/test_claims_05.py", "notebooks/05_x.ipynb", "notebooks/05_x.ipynb",
                          "tests/test_train.py"]
    monkeypatch.setattr(pytestconfig.option, "dist", "load")
    assert conftest.pytest_xdist_make_scheduler(pytestconfig, None) is None  # other modes: xdist's own
    assert "--dist loadfile" in (ROOT / "Makefile").read_text()


def test_notebooks_the_browser_runs_are_not_run_again_by_nbval(pytestconfig, monkeypatch):
    conftest = next(p for p in pytestconfig.pluginmanager.get_plugins()
                    if getattr(p, "__file__", None) == str(ROOT / "conftest.py"))
    deselected = []
    monkeypatch.setattr(pytestconfig.hook, "pytest_deselected", lambda items: deselected.extend(items))
    paths = ("notebooks/03_fine_tuning.ipynb::Cell 0", "notebooks/05_x.ipynb::Cell 0", "tests/test_browser.py")
    for available, left in ((True, [paths[1], paths[2]]), (False, list(paths))):
        monkeypatch.setattr(conftest, "_browser_available", lambda: available)
        items = [FakeItem(p) for p in paths]
        for item in items:
            item.path = Path(item.nodeid.split("::")[0])
        conftest.pytest_collection_modifyitems(pytestconfig, items)
        assert [i.nodeid for i in items] == left
    assert [i.nodeid for i in deselected] == [paths[0]]
