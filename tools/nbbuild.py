"""Write a notebook from a list of ("md" | "code", source) cells: how the course notebooks are authored.

Usage inside a small per-notebook script:  write_notebook("notebooks/00_welcome.ipynb", CELLS)
Solutions notebooks (tools/solNN_*.py) pass ``exercise="NN"``.
"""
from __future__ import annotations

from pathlib import Path

import nbformat


def write_notebook(path: str | Path, cells: list[tuple[str, str]], exercise: str | None = None) -> None:
    """``exercise`` ("01") marks a solutions notebook: `tlcourse make-exercises` and the grader read it."""
    nb = nbformat.v4.new_notebook()
    if exercise:
        nb.metadata["tlcourse"] = {"exercise": exercise}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    make = {"md": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    nb.cells = [make[kind](source.strip("\n")) for kind, source in cells]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
