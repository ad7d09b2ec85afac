"""Build the course site with Jupyter Book 1 (Sphinx), offline: `make site` runs this.

    python site/build.py                    # the site: notebooks executed in the cpu profile
    python site/build.py --profile smoke    # tiny sizes, a quick check of the execution path
                                            # (TLCOURSE_PROFILE=smoke make site does the same)
    python site/build.py --no-execute --out /tmp/site --strict   # what tests/test_site.py builds

The book's source folder is the repository root, so the pages are the course's own files:
site/_toc.yml lists them (notebooks/*.ipynb, exercises/*.ipynb, the pages in site/) and
site/_config.yml holds the settings; nothing outside the toc is read (never solutions/).

Notebooks are executed through jupyter-cache (myst-nb's "cache" mode): the outputs are stored
in the cache, never written into the committed .ipynb files, and a notebook runs again only when
its code changes, so a rebuild after an edit to prose takes seconds. The cache does not know the
profile, so each profile has its own output folder and cache (``--profile cpu``, the default,
writes site/_build/html; another writes site/_build/<profile>/html), and it does not see changes
to the tlcourse package: after one, delete the cache (``make site-clean``) to measure afresh.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
BUILD = SITE / "_build"
# The notebooks run as the tests run them: offline (every download fails at once with the
# offline alternative), so the site shows what a learner without network sees.
OFFLINE = {"TLCOURSE_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}


def output_folder(profile: str) -> Path:
    """Where a build in ``profile`` goes: html/, .doctrees/ and .jupyter_cache/ inside it."""
    return BUILD if profile == "cpu" else BUILD / profile


def build(out: Path, *, profile: str = "cpu", execute: bool = True, strict: bool = False,
          fresh: bool = False) -> int:
    """Build the site into ``out``/html; returns Sphinx's status (0: built)."""
    from jupyter_book.sphinx import build_sphinx

    os.environ["TLCOURSE_PROFILE"] = profile  # the kernels inherit it
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
    overrides = {
        "external_toc_path": (SITE / "_toc.yml").as_posix(),
        "latex_individualpages": False,
        "nb_execution_mode": "cache" if execute else "off",
        "nb_execution_cache_path": str(out / ".jupyter_cache"),
    }
    print(f"Building the course site in {out / 'html'} ({profile} profile, "
          f"{'executing notebooks through the cache' if execute else 'not executing'})", flush=True)
    result = build_sphinx(ROOT, out / "html", doctreedir=out / ".doctrees", noconfig=True,
                          path_config=SITE / "_config.yml", confoverrides=overrides,
                          warningiserror=strict, keep_going=strict, freshenv=fresh)
    if isinstance(result, BaseException):
        return 1
    if result == 0:
        print(f"Open {out / 'html' / 'index.html'}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=os.environ.get("TLCOURSE_PROFILE") or "cpu",
                        choices=["smoke", "cpu", "gpu"],
                        help="the profile notebooks run in (default: TLCOURSE_PROFILE, else cpu)")
    parser.add_argument("--no-execute", action="store_true",
                        help="build the pages without running any notebook (no outputs)")
    parser.add_argument("--out", type=Path, help="output folder (default: by profile, in site/_build)")
    parser.add_argument("--strict", action="store_true", help="fail on any Sphinx warning")
    parser.add_argument("--fresh", action="store_true", help="re-read every page (the cache stays)")
    args = parser.parse_args(argv)
    out = (args.out or output_folder(args.profile)).resolve()
    return build(out, profile=args.profile, execute=not args.no_execute, strict=args.strict,
                 fresh=args.fresh)


if __name__ == "__main__":
    sys.exit(main())
