"""Start the JupyterLab server that `make lab` starts, headless, and talk to its REST API."""
import json
import os
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from servers import free_port, stop_group

ROOT = Path(__file__).resolve().parents[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    port, token = free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    extra = f"--no-browser --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    server = subprocess.Popen(["make", "-s", "lab", f"PORT={port}", f"LAB_EXTRA={extra}"],
                              cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("make lab exited early:\n" + server.stdout.read().decode())
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 60 s")
        yield base, token
    finally:
        stop_group(server)


def test_lab_lists_the_course_notebooks(lab_server):
    base, token = lab_server
    listing = _get(f"{base}/api/contents/notebooks?token={token}")
    names = {item["name"] for item in listing["content"]}
    shipped = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert "00_welcome.ipynb" in names
    assert shipped <= names


def test_lab_has_widgets_extension_enabled(lab_server):
    base, token = lab_server
    extensions = _get(f"{base}/lab/api/extensions?token={token}")
    widgets = [e for e in extensions if "jupyterlab-manager" in e["name"]]
    assert widgets, [e["name"] for e in extensions]
    assert widgets[0]["enabled"] and widgets[0]["installed"]
