"""Open in Colab: every notebook's first cell links to itself on Colab, and notebook 00's first
code cell installs the course on Colab (simulated here: a fake ``google.colab`` module and an
intercepted ``subprocess.run``; nothing is installed) and does nothing elsewhere."""
import ast
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import nbformat
import pytest

from tlcourse import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[0-5]_*.ipynb"))


def _install_cell():
    cells = nbformat.read(ROOT / "notebooks" / "00_welcome.ipynb", as_version=4).cells
    return next(c.source for c in cells if c.cell_type == "code")


@pytest.fixture
def pip_calls(monkeypatch):
    """Every ``subprocess.run`` call's command, none of them run."""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)))
    return calls


@pytest.fixture
def fake_colab(monkeypatch):
    """A ``google.colab`` module, as Colab loads it; its ``output.enable_custom_widget_manager``
    calls are counted in ``.enabled``."""
    output = types.SimpleNamespace(enabled=0)
    output.enable_custom_widget_manager = lambda: setattr(output, "enabled", output.enabled + 1)
    google, module = types.ModuleType("google"), types.ModuleType("google.colab")
    module.output, google.colab = output, module
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", module)
    return output


def test_on_colab_notebook_00s_first_code_cell_installs_the_course(fake_colab, pip_calls):
    exec(_install_cell(), {})
    assert pip_calls == [(colab.install_command(), {"check": True})]
    assert pip_calls[0][0][-1] == "tlcourse @ git+https://github.com/tlcourse/tlcourse@main"
    assert fake_colab.enabled == 1, "the widget manager is turned on after the install"


def test_elsewhere_the_first_code_cell_does_nothing(pip_calls):
    assert "google.colab" not in sys.modules
    top_level = ast.parse(_install_cell()).body  # it must run before the course is installed
    assert {a.name for n in top_level if isinstance(n, ast.Import) for a in n.names} == {"subprocess", "sys"}
    assert not any(isinstance(n, ast.ImportFrom) for n in top_level)
    exec(_install_cell(), {})
    assert pip_calls == []
    assert colab.setup() is False and not colab.on_colab()


def test_every_notebook_opens_itself_on_colab():
    assert len(NOTEBOOKS) == 6
    for path in NOTEBOOKS:
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "markdown"
        assert first.source.startswith(colab.badge(f"notebooks/{path.name}")), path.name
        assert f"https://colab.research.google.com/github/tlcourse/tlcourse/blob/main/notebooks/{path.name}" in first.source
        if not path.name.startswith("00"):  # a fresh Colab runtime per notebook: say how to install
            assert f'%pip install "{colab.requirement()}"' in first.source, path.name


def test_pyproject_names_the_same_repository():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["urls"]["Repository"] == colab.REPOSITORY
