"""The box each submission runs in: bubblewrap (``bwrap``, Debian's ``bubblewrap`` package).

Inside the box a notebook has no network (its own network namespace, loopback only), sees its
own processes only (its own PID namespace, which dies with the grader), runs as an unprivileged
user, and sees a read-only system: ``/usr`` and the few files of ``/etc`` Python needs, the
Python installation and this package. It may write only to the folders the grader hands it
(its working copy) and to a private, empty ``/tmp``. Everything else on the machine (other
submissions, the hidden tests, the instructor's files, home folders) is simply not there.

:func:`sandbox_status` says whether such a box can be built here and, if not, why and how to
get one; :func:`sandboxed` wraps a command line in it.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BWRAP = "bwrap"  # the program; tests point it elsewhere to see the fallback
NOBODY = 65534  # the unprivileged uid and gid a root grader drops to inside the box
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# /etc holds secrets (shadow, ssh keys) next to what programs need: only these are shown
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
       "/etc/fonts", "/etc/alternatives", "/etc/mime.types")
HOW_TO_GET = ("install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: "
              "`sudo dnf install bubblewrap`); macOS and Windows have no equivalent, so grading "
              "there runs without isolation")


def _python_paths() -> list[str]:
    """What the graded process imports from: the Python installation, the venv, this package."""
    import tlcourse

    paths = [sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix,
             str(Path(sys.executable).resolve().parent.parent),
             *(p for p in sys.path if p.endswith(("site-packages", "dist-packages"))),
             str(Path(tlcourse.__file__).resolve().parent)]
    paths = [p for p in dict.fromkeys(os.path.realpath(p) for p in paths) if Path(p).is_dir()]
    return [p for p in paths if not any(p.startswith(other + "/") for other in paths)]


def _read_only_binds() -> list[str]:
    args = []
    for path in SYSTEM:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC:
        args += ["--ro-bind-try", path, path]
    return args


def _python_binds() -> list[str]:
    args = []
    for path in _python_paths():
        if not path.startswith("/usr/"):
            args += ["--ro-bind", path, path]
    return args


def _parents(paths) -> list[str]:
    """``--dir`` for every folder above ``paths``: bwrap would make them private (0700), which
    the unprivileged user could not pass through."""
    parents = {str(parent) for path in paths for parent in Path(path).parents} - {"/", "/tmp"}
    args = []
    for parent in sorted(parents, key=lambda p: (p.count("/"), p)):
        if not any(parent == s or parent.startswith(s + "/") for s in SYSTEM):
            args += ["--perms", "0755", "--dir", parent]
    return args


@functools.cache
def _sizes_tmpfs(bwrap: str) -> bool:
    """Whether this bwrap can cap a tmpfs (``--size``, bubblewrap 0.7 and later)."""
    done = subprocess.run([bwrap, "--help"], capture_output=True, text=True)
    return "--size" in done.stdout + done.stderr


def _tmpfs(path: str, mb: int) -> list[str]:
    """A private, world-writable tmpfs at ``path``; in memory, so capped where bwrap can."""
    size = ["--size", str(mb * 2**20)] if _sizes_tmpfs(BWRAP) else []
    return ["--perms", "1777", *size, "--tmpfs", path]


def sandboxed(command: list[str], writable=(), readable=(), cwd: Path | None = None,
              tmp_mb: int = 256) -> list[str]:
    """``command`` wrapped in a bwrap box that may write only to ``writable`` (and a private
    /tmp and /dev/shm of ``tmp_mb`` each) and read the system, Python, this package and
    ``readable``; paths keep their names.

    As root the box uses no user namespace and drops to uid/gid ``NOBODY`` with no
    capabilities (``setpriv``) before the command starts: the caller must make ``writable``
    writable for that user (:func:`hand_over`).
    """
    args = [BWRAP, "--die-with-parent", "--new-session", "--unshare-net", "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox",
            *_tmpfs("/tmp", tmp_mb),
            *_parents([*_python_paths(), *ETC, *readable, *writable]), *_read_only_binds(),
            *_python_binds(), "--dev", "/dev", *_tmpfs("/dev/shm", tmp_mb),
            "--proc", "/proc"]
    for path in readable:
        args += ["--ro-bind", str(path), str(path)]
    for path in writable:
        args += ["--bind", str(path), str(path)]
    if cwd is not None:
        args += ["--chdir", str(cwd)]
    if os.geteuid() == 0:
        drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
        return args + ["--", *drop, *command]
    return args + ["--unshare-user", "--", *command]


def hand_over(folder: Path) -> None:
    """Let the box's user write ``folder`` and everything in it (only needed when root grades)."""
    if os.geteuid() != 0:
        return
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


@functools.cache
def _probe(bwrap: str) -> tuple[bool, str]:
    if sys.platform != "linux":
        return False, f"no sandbox on {sys.platform}: bubblewrap needs Linux namespaces; {HOW_TO_GET}"
    if shutil.which(bwrap) is None:
        return False, f"bwrap not found: {HOW_TO_GET}"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return False, "setpriv not found (Debian package util-linux): root needs it to drop privileges"
    with tempfile.TemporaryDirectory(prefix="tlcourse-probe-") as folder:
        hand_over(Path(folder))
        try:
            done = subprocess.run(sandboxed([sys.executable, "-c", "import IPython"], [folder]),
                                  capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as err:
            return False, f"bwrap could not start: {err}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return False, (f"bwrap cannot build the sandbox here ({last}); the kernel may forbid "
                       "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
                       "or AppArmor's restrict_unprivileged_userns on Ubuntu 24.04)")
    return True, "bwrap: no network, read-only system, own PID namespace, unprivileged user"


def sandbox_status() -> tuple[bool, str]:
    """(available, reason): whether submissions can be graded in the bwrap box on this machine,
    and what it does, or why not and how to get it."""
    return _probe(BWRAP)
