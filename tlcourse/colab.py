"""Running the course on Google Colab: where the course lives, the install command, the badges.

Each notebook's first cell links to it on Colab (:func:`badge`). On Colab the package is not
installed yet, so notebook 00's first code cell installs it by itself, in a few lines that
repeat :func:`install_command` (a test checks they agree), then calls :func:`setup`.
"""
from __future__ import annotations

import sys

# Where the course's repository lives: the Colab badges, the install on Colab and pyproject's
# project.urls all use it (tests/test_colab.py checks). Change it here and there when it moves.
REPOSITORY = "https://github.com/tlcourse/tlcourse"
BRANCH = "main"


def on_colab() -> bool:
    """Whether this Python runs inside Google Colab (its ``google.colab`` module is loaded)."""
    return "google.colab" in sys.modules


def requirement(branch: str = BRANCH) -> str:
    """What pip installs the course from: ``tlcourse @ git+<REPOSITORY>@<branch>``."""
    return f"tlcourse @ git+{REPOSITORY}@{branch}"


def install_command(branch: str = BRANCH) -> list[str]:
    """The pip command that installs the course from its repository into this Python."""
    return [sys.executable, "-m", "pip", "install", "--quiet", requirement(branch)]


def badge(notebook: str, branch: str = BRANCH) -> str:
    """Markdown for an "Open in Colab" badge linking to ``notebook`` (a path in the repository,
    e.g. ``notebooks/00_welcome.ipynb``) on ``branch``."""
    github = REPOSITORY.removeprefix("https://github.com/")
    url = f"https://colab.research.google.com/github/{github}/blob/{branch}/{notebook}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def setup() -> bool:
    """On Colab, turn on its manager for third-party widgets, without which the course's widgets
    (FreezePanel) show as plain text; elsewhere nothing. Returns :func:`on_colab`."""
    if not on_colab():
        return False
    from google.colab import output

    output.enable_custom_widget_manager()
    return True
