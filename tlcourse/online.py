"""Is the network there? One cheap probe, used before anything tries to download."""
from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from .errors import OfflineError

OFFLINE_ENV = "TLCOURSE_OFFLINE"


def forced_offline() -> bool:
    """True when the learner (or CI) said so: ``TLCOURSE_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``."""
    return any(os.environ.get(v, "").lower() in {"1", "true", "yes"}
               for v in (OFFLINE_ENV, "HF_HUB_OFFLINE"))


def can_reach(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` seconds."""
    if forced_offline():
        return False
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_online(what: str, url: str, offline_alternative: str) -> None:
    """Raise :class:`OfflineError` at once when ``url`` cannot be reached.

    The message names what needed the network and the offline alternative to use instead.
    """
    if not can_reach(url):
        raise OfflineError(
            f"{what} must be downloaded from {urlparse(url).hostname}, and this machine is "
            f"offline (or {OFFLINE_ENV}=1 is set). Offline, use {offline_alternative} instead; "
            f"or connect to the internet and run this again (it is cached after the first download)."
        )
