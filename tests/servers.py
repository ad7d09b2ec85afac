"""Helpers for the tests that start servers (JupyterLab, the browser's JupyterLab, JupyterHub)."""
import os
import signal
import socket
import subprocess


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(process: subprocess.Popen, seconds: float = 20) -> None:
    """Stop a server started with ``start_new_session=True`` and everything in its process group:
    SIGTERM, then SIGKILL if it is still running after ``seconds``."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
