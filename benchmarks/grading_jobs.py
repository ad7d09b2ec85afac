"""How much faster does ``tlcourse grade --jobs N`` grade a class? Measured on this machine.

Run by hand (not part of the test suite)::

    python benchmarks/grading_jobs.py                         # 40 copies, --jobs 1 then 2
    python benchmarks/grading_jobs.py --copies 8 --jobs 1 2 4
    python benchmarks/grading_jobs.py --submission my_class/alice_ex02.ipynb

It copies one real submission (by default the exercise-01 solutions notebook, which runs every
answer) ``--copies`` times into a temporary folder, as if that many learners had handed it in,
and grades the folder once per ``--jobs`` value with the grader's own limits and sandbox. It
prints the hardware and the load (every time depends on them), the isolation used, the wall-clock
seconds of each grading with its notebooks per minute and speed-up over the first, and whether
every grading gave the same rows (it must). Each notebook is one single-threaded process, so
jobs beyond the free cores only wait for one.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import hardware_table  # noqa: E402  (the same hardware and versions table)

from tlcourse.exercises.grader import Limits, grade  # noqa: E402
from tlcourse.exercises.sandbox import sandbox_status  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=40, help="submissions in the class (default 40)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values to time (default 1 2)")
    parser.add_argument("--submission", type=Path, default=ROOT / "solutions" / "01_pretraining.ipynb",
                        help="the notebook every learner hands in (default: the exercise-01 solutions)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per notebook, as `grade --timeout`")
    parser.add_argument("--profile", default="smoke", help="profile the notebooks run with (default smoke)")
    return parser.parse_args()


def make_class(submission: Path, copies: int, folder: Path) -> None:
    """``copies`` learners who all handed in ``submission`` (learner00_ex01.ipynb, ...)."""
    exercise = submission.name[:2]
    for i in range(copies):
        (folder / f"learner{i:02d}_ex{exercise}.ipynb").write_bytes(submission.read_bytes())


def time_grading(folder: Path, jobs: int, limits: Limits, profile: str) -> tuple[float, pd.DataFrame]:
    """Wall-clock seconds to grade ``folder`` with ``jobs`` at once, and the gradebook."""
    start = time.perf_counter()
    table = grade([folder], folder.parent / f"grades_jobs{jobs}.csv", limits, profile, jobs=jobs)
    return time.perf_counter() - start, table


def main() -> None:
    args = parse_args()
    print(hardware_table(torch.device("cpu")).to_string())
    boxed, reason = sandbox_status()  # probed once here, so no timed run pays for it
    print(f"isolation: {'bwrap' if boxed else 'none'} ({reason})")
    print(f"{args.copies} copies of {args.submission}, profile {args.profile}, --timeout {args.timeout:g}")
    limits, rows, tables = Limits(seconds=args.timeout), [], []
    with tempfile.TemporaryDirectory(prefix="tlcourse-bench-") as scratch:
        folder = Path(scratch) / "class"
        folder.mkdir()
        make_class(args.submission, args.copies, folder)
        for jobs in args.jobs:
            seconds, table = time_grading(folder, jobs, limits, args.profile)
            tables.append(table)
            rows.append({"jobs": jobs, "seconds": round(seconds, 1),
                         "notebooks / min": round(60 * args.copies / seconds, 1),
                         "speed-up": round(rows[0]["seconds"] / seconds if rows else 1.0, 2),
                         "points (mean)": table["points"].mean()})
    print(pd.DataFrame(rows).to_string(index=False))
    same = all(t.equals(tables[0]) for t in tables)
    print("every --jobs value gave the same rows" if same else "ROWS DIFFER between --jobs values: a bug")


if __name__ == "__main__":
    main()
