"""The test environment, in one place: a plain `pytest` behaves exactly like `make test`.

- offline: every tlcourse and Hugging Face download fails at once, and a socket may only
  connect to this machine (the JupyterLab test talks to its own server on 127.0.0.1);
- a private cache inside the checkout (``.cache/test``), never the user's ``~/.cache``;
- the ``smoke`` profile, with strict exercise checks: a solutions notebook whose own check
  fails is an nbval failure;
- markers by kind, so `make test-fast` (unit tests only) can leave the rest out:
  ``claims`` (tests/test_claims_*.py), ``notebooks`` (every .ipynb run by nbval), ``grader``
  (tests/test_grader.py, tests/test_sandbox.py, tests/test_forgery.py), ``lab`` (tests/test_jupyterlab.py),
  ``browser`` (tests/test_browser.py: JupyterLab in headless Chromium), ``hub`` (tests/test_hub.py)
  and ``slow`` (marked by hand).
"""
import ipaddress
import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / ".cache" / "test"
TEST_ENV = {
    "TLCOURSE_CACHE": str(CACHE),
    "TLCOURSE_PROFILE": "smoke",
    "TLCOURSE_STRICT_CHECKS": "1",
    "TLCOURSE_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HOME": str(CACHE / "huggingface"),
    "TORCH_HOME": str(CACHE / "torch"),
    "MPLBACKEND": "Agg",
    "MPLCONFIGDIR": str(CACHE / "matplotlib"),
}
os.environ.update(TEST_ENV)  # before any test module imports tlcourse; kernels inherit it
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest processes (pytest-xdist, --dist loadfile: each file, and each
    # notebook's cells, in one process): one core each, so their torch threads (and the notebook
    # kernels and grader runs they start) do not fight over the same cores.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // 2)))

MARKS_BY_FILE = {"test_claims_": "claims", "test_grader": "grader", "test_sandbox": "grader",
                 "test_forgery": "grader", "test_jupyterlab": "lab", "test_hub": "hub",
                 "test_browser": "browser"}
_connect = socket.socket.connect


def _is_loopback(host) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:  # a host name: refused without looking it up
        return False


def loopback_only(sock: socket.socket, address):
    """``socket.connect`` for tests: this machine only, anything else is refused at once."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise OSError(f"tests run offline: a connection to {address[0]!r} was refused. Use local "
                      "files or a fake cache instead (see tests/test_data_online.py).")
    return _connect(sock, address)


socket.socket.connect = loopback_only


# Notebooks tests/test_browser.py runs top to bottom in JupyterLab, asserting that every code cell
# ran and none shows an error: when those tests run in this session, nbval does not run them again.
RUN_IN_THE_BROWSER = ("notebooks/03_fine_tuning.ipynb", "notebooks/08_when_to_use.ipynb")


def _browser_available() -> bool:
    import importlib.util
    import shutil

    chromium = os.environ.get("TLCOURSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return bool(chromium) and importlib.util.find_spec("playwright") is not None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebooks)
        for prefix, mark in MARKS_BY_FILE.items():
            if item.path.name.startswith(prefix):
                item.add_marker(getattr(pytest.mark, mark))
    if any(item.path.name == "test_browser.py" for item in items) and _browser_available():
        twice = [item for item in items if item.nodeid.startswith(RUN_IN_THE_BROWSER)]
        if twice:
            config.hook.pytest_deselected(items=twice)
            items[:] = [item for item in items if item not in twice]
