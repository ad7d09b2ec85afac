"""Errors that tell the learner what to do next instead of showing a stack trace."""
from __future__ import annotations

import importlib


class CourseError(Exception):
    """Base class: every message says what went wrong *and* what to do about it."""

    def _render_traceback_(self):  # IPython shows just the message, no traceback
        return [f"{type(self).__name__}: {self}"]


class OfflineError(CourseError):
    """Something needs the network (a download) and the network is not there."""


class MissingDependencyError(CourseError, ImportError):
    """An optional package is not installed."""


class SandboxError(CourseError):
    """Grading was asked to isolate each submission, and the sandbox cannot be built here."""


class UnknownNameError(CourseError, KeyError):
    """A data set or model name the registry does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def require(module: str, pip_name: str | None = None, why: str = ""):
    """Import ``module`` or raise :class:`MissingDependencyError` with the install line."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        pip_name = pip_name or module
        reason = f" {why}" if why else ""
        raise MissingDependencyError(
            f"The package {pip_name!r} is not installed.{reason} Install it with "
            f"`python -m pip install {pip_name}` (or re-run `make setup`), then restart the kernel."
        ) from err
