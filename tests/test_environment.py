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
        self.path, self.marks, self.nodeid = Path(path), [], path

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
