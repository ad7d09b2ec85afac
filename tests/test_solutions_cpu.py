"""Every solutions notebook earns full marks in the `cpu` profile, not only in `smoke`.

`make test` runs the solutions in the `smoke` profile (nbval, strict checks). The checks compare
with reference runs of the profile the notebook runs in, so a solution can pass in `smoke` and
fall short at the `cpu` profile's sizes: this file runs each solutions notebook top to bottom in
the `cpu` profile, with strict checks (a check that is not fully correct raises, so the notebook
fails). All eight took 6 minutes in two processes here (2026-12-04), more than `make test`'s
budget leaves, so they run with `make test-solutions-cpu` (``TLCOURSE_TEST_SOLUTIONS_CPU=1``) and
are skipped otherwise; run it before a release and after changing a check or a reference.
"""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
SWITCH = "TLCOURSE_TEST_SOLUTIONS_CPU"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.environ.get(SWITCH) != "1",
                                 reason=f"the cpu-profile solutions run with `make test-solutions-cpu` ({SWITCH}=1)")]


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_the_solution_earns_full_marks_in_the_cpu_profile(path, capfd):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=900,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute(env=os.environ | {"TLCOURSE_PROFILE": "cpu", "TLCOURSE_STRICT_CHECKS": "1"})
    except CellExecutionError as err:
        pytest.fail(f"{path.name} in the cpu profile: {str(err).strip().splitlines()[-1]}")
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []) if o.get("output_type") == "stream")
    verdicts = [line for line in printed.splitlines() if line.startswith("q") and "points)" in line]
    assert verdicts and all(": Correct (" in v or ": Written" in v for v in verdicts), verdicts
