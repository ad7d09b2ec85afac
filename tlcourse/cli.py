"""Command line: ``tlcourse doctor | pretrain [--sources] | make-exercises [--kit DIR] | grade``."""
from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys
from pathlib import Path

from . import assets
from .config import default_profile_name, get_device, get_profile
from .errors import MissingDependencyError

VERSIONED = ("torch", "torchvision", "timm", "transformers", "scikit-learn", "scikit-image",
             "numpy", "pandas", "matplotlib", "ipywidgets", "jupyterlab")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def doctor(out=sys.stdout) -> int:
    """Print versions, device, profile and offline assets with their licenses; return 1 if an
    asset is missing."""
    print(f"tlcourse doctor  (python {platform.python_version()}, {platform.platform()})", file=out)
    for dist in VERSIONED:
        print(f"  {dist:<14} {_version(dist)}", file=out)
    device = get_device()
    print(f"device: {device}" + ("" if device.type != "cpu" else "  (no GPU found: the cpu "
                                 "profile keeps every notebook to a few minutes)"), file=out)
    profile = get_profile()
    print(f"profile: {profile.name}  (from TLCOURSE_PROFILE or detected: {default_profile_name()}); "
          f"steps per run={profile.finetune_steps}, seeds={len(profile.seeds)}, "
          f"labels/class={list(profile.labels_per_class)}", file=out)
    print("offline assets:", file=out)
    missing = 0
    for asset in assets.ASSETS:
        try:
            path = assets.asset_path(asset)
            print(f"  [ok]      {asset.name}: {path}", file=out)
        except MissingDependencyError as err:
            missing += 1
            print(f"  [MISSING] {err}", file=out)
        print(f"            license: {assets.license_of(asset)}", file=out)
    print("all offline assets present." if not missing else
          f"{missing} offline asset(s) missing: run the install line(s) above.", file=out)
    print(f"grading sandbox: {sandbox_line()}", file=out)
    return 1 if missing else 0


def sandbox_line() -> str:
    """Whether `tlcourse grade` can isolate submissions here, or how to make it able to."""
    from .exercises.sandbox import sandbox_status

    available, reason = sandbox_status()
    return f"available ({reason})" if available else \
        f"not available, submissions would be graded without isolation: {reason}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tlcourse", description="Transfer-learning course tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check versions, device, profile and offline assets")
    pre = sub.add_parser("pretrain", help="pretrain the SmallCNN on rendered letters (deterministic)")
    pre.add_argument("--profile", default="cpu", help="sizes to use (default: cpu, as shipped)")
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--out", default=None, help="checkpoint path (default: the cache directory)")
    pre.add_argument("--sources", action="store_true", help="instead, pretrain the sources the package "
                     "ships for notebook 07 (cued letters, shuffled letters) and write any that changed "
                     "into tlcourse/assets/pretrained/ (for maintainers)")
    make = sub.add_parser("make-exercises", help="write exercises/ from solutions/ (solutions are the source)")
    make.add_argument("--solutions", default="solutions", help="folder of solutions notebooks")
    make.add_argument("--exercises", default="exercises", help="folder to write exercise notebooks to")
    what = make.add_mutually_exclusive_group()
    what.add_argument("--check", action="store_true", help="only report what is out of date (exit 1)")
    what.add_argument("--kit", default=None, metavar="DIR", help="instead, write the student kit to DIR: "
                      "the exercise notebooks and a wheel of this package without solutions")
    grade = sub.add_parser("grade", help="run and grade submitted exercise notebooks into a CSV")
    grade.add_argument("submissions", nargs="+", help="notebooks, or folders of notebooks")
    grade.add_argument("--out", default="grades.csv", help="gradebook CSV (default: grades.csv)")
    grade.add_argument("--tests", default=None, help="folder of hidden tests (NN_*.py files)")
    grade.add_argument("--reports", default=None, help="folder for the JSON reports "
                       "(default: <out>_reports next to the CSV)")
    grade.add_argument("--timeout", type=float, default=600, help="seconds per notebook (default 600)")
    grade.add_argument("--memory-gb", type=float, default=4.0, help="memory per notebook (default 4)")
    grade.add_argument("--profile", default="smoke", help="profile the notebooks run with (default smoke)")
    grade.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (default 1; "
                       "each is one single-threaded process)")
    grade.add_argument("--require-sandbox", action="store_true", help="refuse to grade when the "
                       "bubblewrap sandbox cannot be built (default: grade without isolation, "
                       "and say so in every row)")
    grade.add_argument("--exercises", default=None, help="folder of the exercise notebooks handed out, "
                       "whose check cells each submission must keep (default: exercises/ when there is one)")
    grade.add_argument("--lms-csv", default=None, metavar="PATH", help="also write one row per student "
                       "(points per question, total) for an LMS gradebook import")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor()
    if args.command == "pretrain" and args.sources:
        return pretrain_sources(args.profile)
    if args.command == "pretrain":
        return pretrain(args.profile, args.seed, args.out)
    if args.command == "make-exercises" and args.kit:
        return make_kit(args.kit, args.solutions)
    if args.command == "make-exercises":
        return make_exercises(args.solutions, args.exercises, args.check)
    if args.command == "grade":
        return grade_submissions(args)
    return 2


def make_exercises(solutions: str, exercises: str, check: bool) -> int:
    """Write (or check) the exercise notebooks and stored solutions; 1 when --check finds them stale."""
    from .exercises.notebooks import make_exercises as write

    stale = write(solutions, exercises, check=check)
    for path in stale:
        print(f"{'out of date' if check else 'wrote'}: {path}")
    if check and stale:
        print("Run `tlcourse make-exercises` and commit the result.")
    elif not stale:
        print(f"{exercises}/ is up to date with {solutions}/.")
    return 1 if check and stale else 0


def make_kit(kit: str, solutions: str) -> int:
    """Write the student kit (exercise notebooks, a wheel without solutions) and list it."""
    from .exercises.kit import KitError, make_kit as write

    try:
        written = write(Path(kit), Path(solutions))
    except KitError as err:
        print(err)
        return 1
    for path in written:
        print(f"wrote: {path}")
    print(f"Hand out {kit}/ as it is: INSTALL.txt tells learners how to install it.")
    return 0


def grade_submissions(args) -> int:
    """Grade the submissions and print the gradebook's totals."""
    from .errors import SandboxError
    from .exercises.grader import Limits, grade

    limits = Limits(seconds=args.timeout, memory_gb=args.memory_gb)
    exercises = args.exercises or ("exercises" if Path("exercises").is_dir() else None)
    try:
        table = grade(args.submissions, args.out, limits, args.profile, args.tests, args.reports,
                      args.jobs, args.require_sandbox, exercises, args.lms_csv)
    except (FileNotFoundError, ValueError, SandboxError) as err:
        print(err)
        return 1
    print(table[["submission", "student", "exercise", "status", "points", "max_points"]].to_string(index=False))
    print(f"isolation: {table['isolation'].iloc[0]}")
    flagged = int((table["integrity"] != "").sum())
    print(f"integrity: {flagged} submission(s) flagged (see the integrity column); check cells "
          + (f"compared with {exercises}/" if exercises else "not compared: pass --exercises DIR"))
    print(f"gradebook: {args.out}" + (f"; LMS import: {args.lms_csv}" if args.lms_csv else ""))
    return 0


def pretrain(profile_name: str, seed: int, out: str | None) -> int:
    """Pretrain the SmallCNN on letters and save the checkpoint; print what it learned."""
    from .config import cache_dir
    from .pretrain import pretrain_small_cnn, save_checkpoint

    model, history, meta = pretrain_small_cnn(get_profile(profile_name), seed=seed)
    path = save_checkpoint(model, meta, out or cache_dir() / "small_cnn_letters.pt")
    print(history.to_frame().round(4).to_string(index=False))
    print(f"held-out letter accuracy {meta['source_accuracy']:.2%}; saved {path}")
    return 0


def pretrain_sources(profile_name: str) -> int:
    """Make the pretrained sources the package ships (:func:`tlcourse.pretrain.shipped_sources_dir`)
    in an empty cache, and copy each checkpoint that had to be trained into the package: after a
    change to how a source is made, its digest changes and the shipped copy is no longer found."""
    import os
    import shutil
    import tempfile

    from .bias import SOURCE_CUE_RATE, letters_cnn
    from .config import CACHE_ENV
    from .limits import misleading_cnn
    from .pretrain import shipped_sources_dir

    import torch

    profile, before = get_profile(profile_name), os.environ.get(CACHE_ENV)
    # One thread, as each test process trains: the shipped file is then the one a test process
    # would make (other thread counts round differently, and the sources' claims move with them).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="tlcourse-sources-") as cache:
        os.environ[CACHE_ENV] = cache
        try:
            used = {letters_cnn(profile, SOURCE_CUE_RATE, progress=True)[1]["checkpoint"],
                    misleading_cnn(profile, progress=True)[1]["checkpoint"]}
        finally:
            torch.set_num_threads(threads)
            if before is None:
                del os.environ[CACHE_ENV]
            else:
                os.environ[CACHE_ENV] = before
        shipped = shipped_sources_dir()
        trained = sorted(name for name in used if (Path(cache) / name).exists())  # the others were read from the package
        for name in trained:
            (shipped / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(cache) / name, shipped / name)
            print(f"wrote {shipped / name}")
    if not trained:
        print(f"every source was already shipped in {shipped}: nothing to write")
    # Not deleted here: another profile's sources may be shipped too, and only the author knows.
    unused = [name for name in sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*.pt"))
              if name not in used]
    if unused:
        print(f"shipped but not a source of the {profile.name} profile (delete each one no profile "
              f"uses any more, or the shipped-sources test fails): {', '.join(unused)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
