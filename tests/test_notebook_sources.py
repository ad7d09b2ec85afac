"""Notebook sources: each notebooks/ and solutions/ notebook is a jupytext pair, ``NN_name.ipynb``
and its percent script ``NN_name.py`` beside it, with the same cells; the .ipynb is committed
without outputs; exercises/ is generated, so it is not paired."""
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_config

ROOT = Path(__file__).resolve().parents[1]
PAIRED = ("notebooks", "solutions")
FORMATS = "ipynb,py:percent"
NOTEBOOKS = sorted(p for folder in PAIRED for p in (ROOT / folder).glob("*.ipynb"))
SCRIPTS = sorted(p for folder in PAIRED for p in (ROOT / folder).glob("*.py"))
FIX = "run `make sync` (the newer of the two files wins)"


def _name(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).as_posix()


def pair_mismatch(notebook: Path, root: Path = ROOT) -> str | None:
    """Why ``NN_name.ipynb`` and its percent script ``NN_name.py`` disagree, or None if they agree.

    Both files are read with jupytext and compared cell by cell on type and source; outputs,
    cell ids and metadata are left aside. The message names the notebook relative to ``root``
    and the first cell that differs, and says how to fix it.
    """
    name, script = _name(notebook, root), notebook.with_suffix(".py")
    if not script.exists():
        return f"{name} has no paired {script.name}: {FIX}"
    in_notebook, in_script = ([(cell.cell_type, cell.source) for cell in jupytext.read(path).cells]
                              for path in (notebook, script))
    for i, (ours, theirs) in enumerate(zip(in_notebook, in_script)):
        if ours != theirs:
            return f"{name} and .py disagree at cell {i}: {FIX}"
    if len(in_notebook) != len(in_script):
        return f"{name} has {len(in_notebook)} cells and its .py {len(in_script)}: {FIX}"
    return None


def test_the_course_notebooks_are_found():
    names = {_name(p) for p in NOTEBOOKS}
    assert {"notebooks/00_welcome.ipynb", "solutions/01_pretraining.ipynb"} <= names


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_name)
def test_notebook_is_paired_with_its_script(notebook):
    mismatch = pair_mismatch(notebook)
    assert mismatch is None, mismatch
    nb, script = jupytext.read(notebook), jupytext.read(notebook.with_suffix(".py"))
    assert nb.metadata.get("jupytext", {}).get("formats") == FORMATS, (
        f"{_name(notebook)} does not declare its pairing: run "
        f"`.venv/bin/jupytext --set-formats {FORMATS} {_name(notebook)}`")
    assert script.metadata.get("tlcourse") == nb.metadata.get("tlcourse"), (
        f"the tlcourse metadata of {_name(notebook)} and its .py differ: {FIX}")
    if notebook.parent.name == "solutions":
        assert nb.metadata.get("tlcourse", {}).get("exercise") == notebook.name[:2], (
            f"{_name(notebook)} needs `tlcourse: exercise: '{notebook.name[:2]}'` in its metadata")


def test_every_script_has_its_notebook():
    orphans = [_name(p) for p in SCRIPTS if not p.with_suffix(".ipynb").exists()]
    assert not orphans, f"no .ipynb beside {orphans}: run `make sync` to write it"


def test_notebooks_are_committed_without_outputs():
    with_outputs = [_name(p) for p in NOTEBOOKS
                    if any(cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
                           for cell in nbformat.read(p, as_version=4).cells)]
    assert not with_outputs, (f"{with_outputs} have outputs: clear them (JupyterLab: Edit > Clear "
                              "Outputs of All Cells) before committing")


def test_project_config_pairs_notebooks_and_solutions_but_not_exercises():
    config = load_jupytext_config(str(ROOT / "notebooks" / "00_welcome.ipynb"))
    for folder in PAIRED:
        assert config.default_formats(str(ROOT / folder / "99_new.ipynb")) is not None
    assert config.default_formats(str(ROOT / "exercises" / "01_pretraining.ipynb")) is None
    assert not list((ROOT / "exercises").glob("*.py")), "exercises/ is generated: delete its .py files"


def _copy_pair(root: Path, name: str = "03_fine_tuning") -> Path:
    (root / "notebooks").mkdir(exist_ok=True)
    for suffix in (".ipynb", ".py"):
        shutil.copy(ROOT / "notebooks" / f"{name}{suffix}", root / "notebooks")
    return root / "notebooks" / f"{name}.ipynb"


def test_a_notebook_edited_alone_is_reported(tmp_path):
    notebook = _copy_pair(tmp_path)
    assert pair_mismatch(notebook, tmp_path) is None
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[4].source += "\nprint('edited in JupyterLab without jupytext')"
    nbformat.write(nb, notebook)
    assert pair_mismatch(notebook, tmp_path) == (
        "notebooks/03_fine_tuning.ipynb and .py disagree at cell 4: run `make sync` "
        "(the newer of the two files wins)")


def test_a_cell_added_or_a_script_deleted_is_reported(tmp_path):
    notebook = _copy_pair(tmp_path)
    nb = nbformat.read(notebook, as_version=4)
    cells = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell("print('new cell')"))
    nbformat.write(nb, notebook)
    assert f"has {cells + 1} cells and its .py {cells}" in pair_mismatch(notebook, tmp_path)
    notebook.with_suffix(".py").unlink()
    assert "has no paired 03_fine_tuning.py" in pair_mismatch(notebook, tmp_path)
