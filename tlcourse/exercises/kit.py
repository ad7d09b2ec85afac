"""The student kit: what an instructor hands out for a graded course, with no solutions in it.

``tlcourse make-exercises --kit DIR`` writes

    DIR/exercises/NN_*.ipynb            the exercise notebooks, generated afresh from solutions/
    DIR/tlcourse-<version>-*.whl        this package, built without the stored solutions
    DIR/constraints.txt                 the exact versions the course was measured with
    DIR/INSTALL.txt                     how a learner installs the kit

The wheel is built offline (``pip wheel --no-build-isolation --no-index``) from a copy of the
source tree that leaves out ``solutions.json`` and adds a marker file, so ``qN.solution()``
there says that solutions are not part of the build; the solutions notebooks were never part
of the package. Before it returns, :func:`make_kit` opens the wheel and refuses a kit that
holds solutions. The checks (``qN.check()``) and hints ship as they are: they are how
learners work, and a check's code shows what it compares against.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .core import KIT_MARKER, SOLUTIONS_FILE
from .notebooks import BEGIN, make_exercises

PACKAGE = Path(__file__).resolve().parents[1]  # tlcourse/
SOURCE_FILES = ("pyproject.toml", "README.md")  # what setuptools needs beside the package
INSTALL = """\
Student kit of the tlcourse transfer-learning course (exercises for graded work).

Install the package, with JupyterLab, at the versions the course was measured with:

    python -m pip install --constraint constraints.txt "{wheel}[lab]"

then open exercises/ in JupyterLab and hand in each notebook you finish. q1.check() tells you
what is right and what to fix, q1.hint() gives hints; solutions are not part of this kit.
"""


class KitError(RuntimeError):
    """The kit could not be built, or would have held solutions."""


def _copy_source(source: Path, into: Path) -> None:
    """The source tree at ``source`` copied to ``into``, without the stored solutions, with the
    kit's marker."""
    for name in SOURCE_FILES:
        shutil.copy2(source / name, into / name)
    shutil.copytree(source / PACKAGE.name, into / PACKAGE.name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", SOLUTIONS_FILE.name,
                                                  KIT_MARKER.name))
    marker = into / KIT_MARKER.relative_to(PACKAGE.parent)
    marker.write_text(json.dumps({"student_kit": True, "solutions": "not included"}) + "\n")


def build_kit_wheel(out: Path, source: Path = PACKAGE.parent) -> Path:
    """Build the package at ``source`` (a checkout: pyproject.toml beside tlcourse/) into a
    wheel in ``out`` without its solutions, offline; return the wheel's path."""
    missing = [name for name in (*SOURCE_FILES, "constraints.txt", PACKAGE.name)
               if not (source / name).exists()]
    if missing:
        raise KitError(f"{source} is not a tlcourse source checkout (no {', '.join(missing)}): the "
                       f"kit is built from the course's repository; run it from a clone.")
    with tempfile.TemporaryDirectory(prefix="tlcourse-kit-") as scratch:
        tree, wheels = Path(scratch) / "src", Path(scratch) / "wheels"
        tree.mkdir()
        _copy_source(source, tree)
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                               "--no-index", "--quiet", "--wheel-dir", str(wheels), str(tree)],
                              capture_output=True, text=True)
        built = sorted(wheels.glob("*.whl"))
        if done.returncode != 0 or len(built) != 1:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise KitError(f"pip could not build the kit's wheel:\n{tail}\nIt builds offline with the "
                           f"setuptools of this environment: `python -m pip install 'setuptools>=68'`.")
        out.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(built[0], out / built[0].name))


def solution_files(wheel: Path) -> list[str]:
    """The files in ``wheel`` that hold solutions (the stored solutions, solutions notebooks)."""
    with zipfile.ZipFile(wheel) as archive:
        return [name for name in archive.namelist()
                if Path(name).name == SOLUTIONS_FILE.name or name.startswith("solutions/")]


def make_kit(kit: Path, solutions_dir: Path = Path("solutions"), source: Path = PACKAGE.parent) -> list[Path]:
    """Write the student kit into ``kit`` (see the module's docstring) from the solutions
    notebooks in ``solutions_dir`` and the checkout at ``source``; return the files written."""
    kit = Path(kit)
    notebooks = kit / "exercises"
    make_exercises(solutions_dir, notebooks, solutions_file=None)
    written = sorted(notebooks.glob("*.ipynb"))
    if not written:
        raise KitError(f"No solutions notebooks (NN_*.ipynb) in {solutions_dir}: pass --solutions.")
    wheel = build_kit_wheel(kit, source)
    leaked = [p.name for p in written if BEGIN in p.read_text()] + solution_files(wheel)
    if leaked:
        wheel.unlink()
        raise KitError(f"The kit in {kit} would hold solutions ({', '.join(leaked)}): nothing to hand "
                       f"out; report this as a bug in tlcourse.")
    shutil.copy2(source / "constraints.txt", kit / "constraints.txt")
    (kit / "INSTALL.txt").write_text(INSTALL.format(wheel=wheel.name))
    return [*written, wheel, kit / "constraints.txt", kit / "INSTALL.txt"]
