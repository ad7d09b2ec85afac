"""The workshop hub (`make hub`, deploy/jupyterhub_config.py), started for real on the loopback.

Two learners log in through the hub's REST API with the shared password, start their servers,
find the course files in their own homes and run notebook 00's first course cell, each in a
kernel of their own; stopping the hub then leaves no process behind (hub, proxy, learners'
servers, kernels). The hub's state (database, homes) lives in a temporary folder.
"""
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import websocket  # websocket-client, which jupyter_server itself depends on

from servers import free_port, stop_group

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "jupyterhub_config.py"
PROXY = ROOT / ".hub" / "node_modules" / ".bin" / "configurable-http-proxy"
JUPYTERHUB = Path(sys.executable).parent / "jupyterhub"
LEARNERS = ("alice", "bob")
PASSWORD = secrets.token_urlsafe(12)
START_TIMEOUT = 90  # seconds for the hub, and then for both learners' servers, to answer


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 (to the login page) is an answer here, not a place to go


_opener = urllib.request.build_opener(_NoRedirects)


def _request(url: str, method: str = "GET", token: str | None = None, body=None):
    """(status, decoded JSON or None) of one REST call; HTTP errors are statuses, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with _opener.open(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, None


class Hub:
    """A running hub: its URL, its process, and every process it has started that we have seen."""

    def __init__(self, process: subprocess.Popen, url: str, state: Path, admin_token: str):
        self.process, self.url, self.state, self.admin_token = process, url, state, admin_token
        self.seen: dict[int, psutil.Process] = {}

    def api(self, path: str, method: str = "GET", token: str | None = None, body=None):
        return _request(f"{self.url}/hub/api{path}", method, token, body)

    def remember_processes(self) -> list[psutil.Process]:
        """The hub's descendants now (proxy, learners' servers, kernels), added to ``seen``."""
        if self.process.poll() is not None:
            return []  # the hub has exited: its pid may already be someone else's
        try:
            found = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            found = []
        self.seen.update({p.pid: p for p in found})
        return found

    def log(self) -> str:
        return (self.state / "hub.log").read_text(errors="replace")[-6000:]


def _wait_for(condition, timeout: float, what: str, hub: Hub):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        if hub.process.poll() is not None:
            pytest.fail(f"the hub exited while waiting for {what}:\n{hub.log()}")
        time.sleep(0.5)
    pytest.fail(f"no {what} within {timeout} s:\n{hub.log()}")


def _hub_answers(hub: Hub) -> bool:
    try:
        return hub.api("/")[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    if not JUPYTERHUB.exists():
        pytest.skip("JupyterHub is not installed here: `make setup-dev` installs it")
    if not PROXY.exists():
        pytest.skip("JupyterHub's proxy is not installed: `make hub-proxy` (needs Node.js and npm)")
    state = tmp_path_factory.mktemp("hub")
    port, hub_port, proxy_api_port = free_port(), free_port(), free_port()
    admin_token = secrets.token_hex(16)
    env = {**os.environ, "TLCOURSE_HUB_STATE": str(state), "TLCOURSE_HUB_PASSWORD": PASSWORD,
           "TLCOURSE_HUB_ADMIN_TOKEN": admin_token}
    command = [str(JUPYTERHUB), "-f", str(CONFIG),
               f"--JupyterHub.bind_url=http://127.0.0.1:{port}",
               f"--JupyterHub.hub_port={hub_port}",
               f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{proxy_api_port}"]
    with open(state / "hub.log", "wb") as log:
        process = subprocess.Popen(command, cwd=state, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    running = Hub(process, f"http://127.0.0.1:{port}", state, admin_token)
    try:
        _wait_for(lambda: _hub_answers(running), START_TIMEOUT, "hub answering", running)
        yield running
    finally:
        # Whatever the tests did: stop the hub, then anything it started that is still alive.
        running.remember_processes()
        stop_group(process, seconds=30)
        for leftover in running.seen.values():
            try:
                leftover.kill()
            except psutil.NoSuchProcess:
                pass


@pytest.fixture(scope="module")
def learners(hub):
    """Both learners made by the admin service, logged in with the password, servers started."""
    status, _ = hub.api("/users", "POST", hub.admin_token, {"usernames": list(LEARNERS)})
    assert status == 201, status
    tokens = {}
    for name in LEARNERS:
        status, reply = hub.api(f"/users/{name}/tokens", "POST",
                                body={"auth": {"username": name, "password": PASSWORD}})
        assert status == 201, (status, reply)
        tokens[name] = reply["token"]
    # Both at once: each request may wait up to 10 s for its server before answering 202.
    with ThreadPoolExecutor(len(tokens)) as pool:
        statuses = list(pool.map(lambda name: hub.api(f"/users/{name}/server", "POST",
                                                      tokens[name])[0], tokens))
    assert set(statuses) <= {201, 202}, statuses  # 201: running, 202: still starting

    def all_ready():
        models = [hub.api(f"/users/{name}", token=token)[1] or {} for name, token in tokens.items()]
        return all(model.get("servers", {}).get("", {}).get("ready") for model in models)

    _wait_for(all_ready, START_TIMEOUT, "learners' servers ready", hub)
    hub.remember_processes()
    return tokens


def test_a_wrong_password_logs_nobody_in(hub, learners):
    status, _ = hub.api("/users/alice/tokens", "POST",
                        body={"auth": {"username": "alice", "password": PASSWORD + "x"}})
    assert status == 403


def test_each_learner_has_the_course_files_in_a_home_of_their_own(hub, learners):
    for name, token in learners.items():
        server = f"{hub.url}/user/{name}/api/contents"
        status, home = _request(server, token=token)
        assert status == 200, status
        assert {"exercises", "notebooks"} <= {item["name"] for item in home["content"]}
        for folder in ("exercises", "notebooks"):
            status, listing = _request(f"{server}/{folder}", token=token)
            shipped = {p.name for p in (ROOT / folder).glob("*.ipynb")}
            assert shipped and shipped <= {item["name"] for item in listing["content"]}, folder
    # alice's exercises are her own copy: what she saves, bob does not see
    answer = {"type": "file", "format": "text", "content": "alice's answer"}
    status, _ = _request(f"{hub.url}/user/alice/api/contents/exercises/answer.txt", "PUT",
                         learners["alice"], answer)
    assert status in (200, 201), status
    assert (hub.state / "users" / "alice" / "exercises" / "answer.txt").exists()
    status, _ = _request(f"{hub.url}/user/bob/api/contents/exercises/answer.txt",
                         token=learners["bob"])
    assert status == 404
    # and alice's token does not open bob's server (the hub sends her to log in instead)
    status, _ = _request(f"{hub.url}/user/bob/api/contents", token=learners["alice"])
    assert status in (302, 403), status


def _first_course_cell() -> str:
    """Notebook 00's first code cell that uses the course package (the one before it is Colab's)."""
    notebook = json.loads((ROOT / "notebooks" / "00_welcome.ipynb").read_text())
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and re.search(r"^(from|import) tlcourse", source, re.M):
            return source
    raise AssertionError("notebook 00 has no code cell importing tlcourse")


PROBE = ("import json, os, sys\n"
         "print('PROBE', json.dumps({'pid': os.getpid(), 'user': os.environ.get('JUPYTERHUB_USER'),"
         " 'home': os.environ['HOME'], 'python': sys.executable}))")


def _execute(channels: websocket.WebSocket, code: str, timeout: float = 120) -> str:
    """Run code in the kernel behind ``channels``; its stdout (the reply must say ok)."""
    msg_id = uuid.uuid4().hex
    channels.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    # The reply (shell) and the output (iopub) arrive in either order: done at reply and idle.
    stdout, reply, idle = [], None, False
    deadline = time.monotonic() + timeout
    while not (reply and idle):
        assert time.monotonic() < deadline, f"the kernel did not finish within {timeout} s"
        message = json.loads(channels.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream" and content["name"] == "stdout":
            stdout.append(content["text"])
        elif kind == "execute_reply":
            reply = content
        elif kind == "status":
            idle = content["execution_state"] == "idle"
    assert reply["status"] == "ok", reply
    return "".join(stdout)


def _run_in_a_new_kernel(hub: Hub, name: str, token: str, code: str) -> str:
    status, kernel = _request(f"{hub.url}/user/{name}/api/kernels", "POST", token,
                              {"name": "python3"})
    assert status == 201, (status, kernel)
    url = f"ws://{hub.url.removeprefix('http://')}/user/{name}/api/kernels/{kernel['id']}/channels"
    channels = websocket.create_connection(url, header=[f"Authorization: token {token}"],
                                           timeout=120)
    try:
        return _execute(channels, code) + _execute(channels, PROBE)
    finally:
        channels.close()


def test_each_learner_runs_notebook_00_in_a_kernel_of_their_own(hub, learners):
    cell = _first_course_cell()
    with ThreadPoolExecutor(len(learners)) as pool:
        outputs = dict(zip(learners, pool.map(
            lambda name: _run_in_a_new_kernel(hub, name, learners[name], cell), learners)))
    kernels = {}
    for name, stdout in outputs.items():
        # the course's settings reach the kernel (conftest.py's smoke profile)
        assert f"profile: {os.environ['TLCOURSE_PROFILE']}" in stdout, stdout
        kernels[name] = json.loads(stdout.split("PROBE ", 1)[1])
    hub_tree = {p.pid for p in hub.remember_processes()}
    for name, kernel in kernels.items():
        assert kernel["user"] == name
        assert Path(kernel["home"]) == hub.state / "users" / name
        assert Path(kernel["python"]).parent == Path(sys.executable).parent  # the course's venv
        assert kernel["pid"] in hub_tree
    assert kernels["alice"]["pid"] != kernels["bob"]["pid"]


def test_stopping_the_hub_leaves_no_process_behind(hub, learners):
    for name, token in learners.items():  # a kernel each, if the test before did not leave one
        if not _request(f"{hub.url}/user/{name}/api/kernels", token=token)[1]:
            _request(f"{hub.url}/user/{name}/api/kernels", "POST", token, {"name": "python3"})
    started = hub.remember_processes()
    commands = [" ".join(p.cmdline()) for p in started]
    assert sum("configurable-http-proxy" in c for c in commands) == 1, commands
    assert sum("jupyterhub-singleuser" in c for c in commands) == len(LEARNERS), commands
    assert sum("ipykernel_launcher" in c for c in commands) >= len(LEARNERS), commands
    hub.process.send_signal(signal.SIGTERM)
    hub.process.wait(timeout=60)
    _, alive = psutil.wait_procs(list(hub.seen.values()), timeout=15)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
