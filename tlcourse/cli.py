"""Command line: ``tlcourse doctor`` (and more commands as the course grows)."""
from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys

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
    """Print versions, device, profile and offline assets; return 1 if an asset is missing."""
    print(f"tlcourse doctor  (python {platform.python_version()}, {platform.platform()})", file=out)
    for dist in VERSIONED:
        print(f"  {dist:<14} {_version(dist)}", file=out)
    device = get_device()
    print(f"device: {device}" + ("" if device.type != "cpu" else "  (no GPU found: the cpu "
                                 "profile keeps every notebook to a few minutes)"), file=out)
    profile = get_profile()
    print(f"profile: {profile.name}  (from TLCOURSE_PROFILE or detected: {default_profile_name()}); "
          f"epochs={profile.epochs}, seeds={len(profile.seeds)}, "
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
    print("all offline assets present." if not missing else
          f"{missing} offline asset(s) missing: run the install line(s) above.", file=out)
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tlcourse", description="Transfer-learning course tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check versions, device, profile and offline assets")
    pre = sub.add_parser("pretrain", help="pretrain the SmallCNN on rendered letters (deterministic)")
    pre.add_argument("--profile", default="cpu", help="sizes to use (default: cpu, as shipped)")
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--out", default=None, help="checkpoint path (default: the cache directory)")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor()
    if args.command == "pretrain":
        return pretrain(args.profile, args.seed, args.out)
    return 2


def pretrain(profile_name: str, seed: int, out: str | None) -> int:
    """Pretrain the SmallCNN on letters and save the checkpoint; print what it learned."""
    from .config import cache_dir
    from .pretrain import pretrain_small_cnn, save_checkpoint

    model, history, meta = pretrain_small_cnn(get_profile(profile_name), seed=seed)
    path = save_checkpoint(model, meta, out or cache_dir() / "small_cnn_letters.pt")
    print(history.to_frame().round(4).to_string(index=False))
    print(f"held-out letter accuracy {meta['source_accuracy']:.2%}; saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
