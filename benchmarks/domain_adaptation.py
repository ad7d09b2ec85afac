"""Fonts -> handwriting: how far each domain-adaptation method closes the gap (notebook 05, part 1).

Run by hand (not part of the test suite)::

    python benchmarks/domain_adaptation.py                    # cpu profile, seeds 0 1 2, 1 thread
    python benchmarks/domain_adaptation.py --profile smoke --seeds 0
    python benchmarks/domain_adaptation.py --no-reference     # skip the 150-step baselines

It prints, for the SmallCNN trained on digits rendered from fonts and tested on real handwritten
digits (mnist5k's test split, the one of notebooks 02-03):

1. hardware, versions and the load, since every time depends on them;
2. test accuracy, mean ± std over seeds, per method and target labels per class (0: none), and
   the mean seconds of one run: :func:`tlcourse.adapt.run_adaptation`, the notebook's measurement;
3. self-training per round: how many pool images were pseudo-labelled and how many of those
   labels were right (pool labels used for this report only), and the test accuracy per round;
4. the proxy A-distance between held-out source features and target test features, per
   representation;
5. label-free threshold statistics of seed 0's AdaBN network, which a learner without target
   labels would choose a pseudo-label threshold from;
6. with ``--reference``: the letters task's scratch and fine-tuning at the profile's own
   ``finetune_steps`` (notebooks 02-03's setting), beside the equal-step ones of table 2.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import pandas as pd
import torch

from tlcourse.adapt import (AdaptSettings, adabn, run_adaptation, threshold_statistics,
                            train_source_only)
from tlcourse.config import get_device, get_profile
from tlcourse.experiments import Settings, accuracy_table, compare
from tlcourse.tasks import fonts_to_handwriting_task

THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.97, 0.99)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu", help="smoke, cpu or gpu: the sizes of every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steady on a shared machine)")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="skip the scratch / fine-tuning baselines at the profile's finetune_steps")
    return parser.parse_args()


def print_environment(threads: int) -> None:
    print("== Hardware and versions ==")
    print(f"cpu: {platform.processor() or platform.machine()}, cores {os.cpu_count()}, torch threads {threads}")
    print("load average (1 / 5 / 15 min): " + " / ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(f"device {get_device()}, python {platform.python_version()}, torch {torch.__version__}")


def mean_std(frame: pd.DataFrame, by: list[str], column: str, scale: float = 100.0) -> pd.Series:
    grouped = frame.groupby(by, sort=False)[column]
    return ((grouped.mean() * scale).map("{:.1f}".format) + " ± "
            + (grouped.std().fillna(0) * scale).map("{:.1f}".format))


def print_tables(results, task) -> None:
    print("\n== Target test accuracy (%), mean ± std over seeds; columns: target labels per class ==")
    print(accuracy_table(results.runs).to_string())
    source = results.runs.dropna(subset=["source_accuracy"])
    print(f"\nsource only on held-out *source* images: {mean_std(source, ['strategy'], 'source_accuracy').iloc[0]} %"
          f" ({len(task.source_val)} images), against {len(task.test)} target test images")
    print("\n== Self-training per round (pool labels only for pseudo_label_accuracy) ==")
    rounds = results.rounds.groupby("round")
    print(pd.DataFrame({"pseudo_labelled": rounds["pseudo_labelled"].mean().round(0),
                        "pseudo_label_accuracy (%)": mean_std(results.rounds, ["round"], "pseudo_label_accuracy"),
                        "test_accuracy (%)": mean_std(results.rounds, ["round"], "test_accuracy")}).to_string())
    print("\n== Proxy A-distance, held-out source vs target test features (2: separable, 0: not) ==")
    print(mean_std(results.distances, ["representation"], "proxy_a_distance", scale=1.0).to_string())


def print_thresholds(task, settings: AdaptSettings) -> None:
    model = adabn(train_source_only(task, 0, settings), task.pool.images)
    print("\n== Threshold statistics of seed 0's AdaBN network (no target label used) ==")
    print(threshold_statistics(model, task.pool.images, THRESHOLDS, task.source_val).round(3).to_string(index=False))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    print_environment(args.threads)
    profile = get_profile(args.profile)
    task = fonts_to_handwriting_task(profile)
    settings = AdaptSettings.for_profile(profile)
    print(f"profile {profile.name}: {len(task.source)} source images, target pool {len(task.pool)}, "
          f"test {len(task.test)}; seeds {args.seeds}\n{settings}")
    start = time.perf_counter()
    results = run_adaptation(task, args.seeds, settings, progress=False)
    measured = time.perf_counter() - start
    print_tables(results, task)
    print(f"\nrun_adaptation (the whole part-1 measurement): {measured:.0f} s for {len(args.seeds)} seeds")
    print_thresholds(task, settings)
    if args.reference:
        reference = compare(task.letters, ["scratch", "finetune_all"], (1, 5, 10), args.seeds,
                            Settings.for_profile(profile), progress=False)
        print(f"\n== Reference: the letters task at the profile's {profile.finetune_steps} steps ==")
        print(accuracy_table(reference).to_string())


if __name__ == "__main__":
    main()
