"""JupyterHub for a tlcourse workshop: one hub, one Jupyter server per learner.

`make hub` starts it on this machine (http://127.0.0.1:8000 by default); tests/test_hub.py starts
exactly this file. Every learner gets

- the course environment: the single-user server and its kernel run from the Python environment
  the hub runs from (the repository's .venv, where `make hub` installs everything);
- a home folder of their own, ``<state>/users/<name>``, holding their own copy of ``exercises/``
  (copied once, so a restart never overwrites their work) and a fresh read-only copy of the
  lesson notebooks, ``notebooks/`` (refreshed at every start: work goes into exercises/).

Log in with any user name and the shared password (in ``<state>/password`` unless
TLCOURSE_HUB_PASSWORD sets it). The state (database, cookie secret, homes) lives in
TLCOURSE_HUB_STATE, by default ``.hub/`` in the repository.

For a real workshop, change the two lines marked ``REAL WORKSHOP`` below: a real authenticator
(learners must not share one password) and a real spawner (learners must not share one Unix user,
and each needs a memory limit). deploy/README.md moves the same setup to Kubernetes.

Environment variables read here:
  TLCOURSE_HUB_STATE        the state folder (default: <repo>/.hub)
  TLCOURSE_HUB_PASSWORD     the shared learner password (default: made on the first start and
                            kept in <state>/password)
  TLCOURSE_HUB_ADMIN_TOKEN  if set, an API token for a `workshop-admin` service that may create
                            users (scope admin:users): scripts and the test use it
Ports and the address come from the command line (`make hub HUB_PORT=... HUB_IP=...`).
"""
import os
import pwd
import secrets
import shutil
import sys
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner

c = get_config()  # noqa: F821 (JupyterHub defines get_config when it loads this file)

REPO = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("TLCOURSE_HUB_STATE") or REPO / ".hub").resolve()
STATE.mkdir(parents=True, exist_ok=True)
VENV_BIN = Path(sys.executable).parent  # the environment the hub runs from: the course's .venv
# `make hub-proxy` installs JupyterHub's proxy (npm's configurable-http-proxy) here.
PROXY = REPO / ".hub" / "node_modules" / ".bin" / "configurable-http-proxy"


def shared_password() -> str:
    """TLCOURSE_HUB_PASSWORD, or a random one made on the first start, kept in <state>/password."""
    if os.environ.get("TLCOURSE_HUB_PASSWORD"):
        return os.environ["TLCOURSE_HUB_PASSWORD"]
    path = STATE / "password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12) + "\n")
        path.chmod(0o600)
    print(f"tlcourse hub: learners log in with any name and the password in {path}",
          file=sys.stderr)
    return path.read_text().strip()


def learner_home(spawner) -> Path | None:
    """Where a learner's server starts: their folder under STATE, or their Unix user's home."""
    if isinstance(spawner, SimpleLocalProcessSpawner):
        return Path(spawner.home_dir)
    try:
        return Path(pwd.getpwnam(spawner.user.name).pw_dir)
    except KeyError:  # no such Unix user (KubeSpawner): the image brings the course (README.md)
        return None


def copy_course_into_home(spawner) -> None:
    """Before a learner's server starts: their own exercises/ and a read-only notebooks/ at home.

    exercises/: only files the learner does not have yet are copied, so their answers survive
    restarts (and a new exercise notebook reaches them). notebooks/: replaced at every start.
    """
    home = learner_home(spawner)
    if home is None:
        return
    mine = home / "exercises"
    mine.mkdir(parents=True, exist_ok=True)
    for source in sorted((REPO / "exercises").glob("*.ipynb")):
        if not (mine / source.name).exists():
            shutil.copy2(source, mine / source.name)
    lessons = home / "notebooks"
    if lessons.exists():
        lessons.chmod(0o755)
        shutil.rmtree(lessons)
    lessons.mkdir()
    for source in sorted((REPO / "notebooks").glob("*.ipynb")):
        shutil.copy2(source, lessons / source.name)
        (lessons / source.name).chmod(0o444)  # root (the local test setup) can still write
    lessons.chmod(0o555)
    if not isinstance(spawner, SimpleLocalProcessSpawner):  # real Unix users own their answers
        for path in [home, mine, *mine.iterdir()]:
            shutil.chown(path, spawner.user.name)


# --- who may log in -------------------------------------------------------------------------
# REAL WORKSHOP: a real authenticator, e.g. "nativeauthenticator.NativeAuthenticator" (pip
# jupyterhub-nativeauthenticator: learners sign up, you approve) or "github" (pip oauthenticator).
c.JupyterHub.authenticator_class = "jupyterhub.authenticators.shared.SharedPasswordAuthenticator"
c.SharedPasswordAuthenticator.user_password = shared_password()
# Any user name, with the password. Set on this class only: a real authenticator does not inherit
# it (list c.Authenticator.allowed_users, or an organisation, there).
c.SharedPasswordAuthenticator.allow_all = True

# --- what each learner gets ------------------------------------------------------------------
# REAL WORKSHOP: a real spawner, e.g. "jupyterhub.spawner.LocalProcessSpawner" (one Unix user per
# learner, made beforehand), "systemdspawner.SystemdSpawner" (plus c.Spawner.mem_limit per
# learner) or, on a cluster, KubeSpawner (deploy/README.md).
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "users" / "{username}")
c.Spawner.pre_spawn_hook = copy_course_into_home
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]  # the course environment and kernel
c.Spawner.args = ["--allow-root"]  # CI and containers run as root; a no-op for other users
c.Spawner.ip = "127.0.0.1"
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab/tree/notebooks/00_welcome.ipynb"
# The course's settings the hub was started with (offline mode, profile, a shared data cache:
# TLCOURSE_CACHE, HF_HOME, TORCH_HOME, threads) reach every learner's kernel; the hub's own
# secrets (TLCOURSE_HUB_*) do not.
COURSE_SETTINGS = ("TLCOURSE_", "HF_", "TRANSFORMERS_", "TORCH_HOME", "MPL", "OMP_NUM_THREADS")
c.Spawner.env_keep.extend(sorted(name for name in os.environ if name.startswith(COURSE_SETTINGS)
                                 and not name.startswith("TLCOURSE_HUB_")))
# Memory per learner: see README (peak RSS of each notebook per profile). The local spawners do
# not enforce c.Spawner.mem_limit; SystemdSpawner and KubeSpawner do.

# --- the hub itself: everything on this machine's loopback, state in STATE --------------------
# Learners' address: `make hub HUB_IP=0.0.0.0` serves a room (put HTTPS in front, or set
# c.JupyterHub.ssl_cert and ssl_key). The hub's own API and the proxy's stay on the loopback.
c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = 8081
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every learner's server

if os.environ.get("TLCOURSE_HUB_ADMIN_TOKEN"):
    c.JupyterHub.services = [{"name": "workshop-admin",
                              "api_token": os.environ["TLCOURSE_HUB_ADMIN_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "workshop-admin", "scopes": ["admin:users"],
                                "services": ["workshop-admin"]}]
