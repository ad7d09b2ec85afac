"""Run course notebooks top to bottom in a profile, each within a time budget; report how long each took.

Run by hand or by ``benchmarks/gpu_check.sh``::

    python benchmarks/run_notebooks.py --profile gpu --budget 120 --out results/notebooks \\
        --json results/notebooks.json notebooks/02_feature_extraction.ipynb notebooks/03_fine_tuning.ipynb

Each notebook runs in a fresh kernel (``python3``) started in its own folder, with
``TLCOURSE_PROFILE`` set; the executed copy, outputs included, goes to ``--out``. A notebook
still running when its ``--budget`` seconds are spent is stopped and reported as ``timeout``.
``--check`` only checks that every notebook reads and that the kernel exists, and runs nothing.
The exit status is 0 when every notebook finished without an error.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

KERNEL = "python3"


def parse_args(argv=None) -> argparse.Namespace:
    """The command line (``--help`` lists it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="the .ipynb files, run in this order")
    parser.add_argument("--profile", default="gpu", help="TLCOURSE_PROFILE for the kernels")
    parser.add_argument("--budget", type=float, default=120, help="seconds each notebook may run")
    parser.add_argument("--out", type=Path, default=Path("executed"), help="folder for the executed notebooks")
    parser.add_argument("--json", type=Path, default=None, help="also write the report rows here")
    parser.add_argument("--check", action="store_true", help="read the notebooks and find the kernel; run nothing")
    return parser.parse_args(argv)


def run_notebook(path: Path, out: Path, budget: float, profile: str) -> dict:
    """Execute ``path`` in a fresh kernel with ``TLCOURSE_PROFILE=profile``, stopping it after
    ``budget`` seconds; write the executed copy into ``out``. Returns ``{"notebook", "status" (ok | error | timeout), "seconds", "error"}``."""
    notebook = nbformat.read(path, as_version=4)
    deadline = time.monotonic() + budget
    client = NotebookClient(notebook, kernel_name=KERNEL, resources={"metadata": {"path": str(path.parent)}},
                            timeout_func=lambda cell: max(1, int(deadline - time.monotonic())))
    start, status, error = time.monotonic(), "ok", ""
    try:
        client.execute(env=os.environ | {"TLCOURSE_PROFILE": profile})
    except CellTimeoutError:
        status, error = "timeout", f"still running after its budget of {budget:.0f} s"
    except (CellExecutionError, DeadKernelError) as err:
        status, error = "error", str(err).strip().splitlines()[-1][:500]
    seconds = time.monotonic() - start
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out / path.name)
    return {"notebook": path.name, "status": status, "seconds": round(seconds, 1), "error": error}


def check_notebook(path: Path) -> dict:
    """The report row of ``--check``: the notebook reads as a notebook, and the kernel exists."""
    nbformat.read(path, as_version=4)
    KernelSpecManager().get_kernel_spec(KERNEL)
    return {"notebook": path.name, "status": "checked", "seconds": 0.0, "error": ""}


def main(argv=None) -> int:
    """Run (or ``--check``) every notebook in order, print a line each, write ``--json``; 0 if all went well."""
    args = parse_args(argv)
    rows = []
    for path in args.notebooks:
        try:
            row = check_notebook(path) if args.check else run_notebook(path, args.out, args.budget, args.profile)
        except (OSError, ValueError, NoSuchKernel) as err:
            row = {"notebook": path.name, "status": "error", "seconds": 0.0, "error": f"{type(err).__name__}: {err}"}
        rows.append(row | {"profile": args.profile, "budget": args.budget})
        print(f"{row['notebook']}: {row['status']} in {row['seconds']:.0f} s {row['error']}".rstrip(), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if all(r["status"] in ("ok", "checked") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
