"""What the frozen language model saves in time, measured on this machine (notebook 04's timings).

Run by hand (not part of the test suite: a loaded machine changes every figure)::

    python benchmarks/text_costs.py                  # the cpu profile's MiniLM -> tweets task
    python benchmarks/text_costs.py --repeats 5 --threads 1

It prints, with the hardware and versions beside them:

1. embedding speed with dynamic padding (length-sorted batches) against padding every batch to
   the maximum length, in sentences per second;
2. training speed of MiniLM with only its top two layers and the head trainable against every
   layer trainable, in tweets per second;
3. the wall time of one fine-tuning run (every layer, the profile's steps) against one linear
   probe on cached embeddings, and the one-off cost of embedding pool and test set;
4. the wall time of one ``finetune_last_k`` run with the frozen layers computed once
   (``tlcourse.prefix``; the test set's frozen output is kept after the first round) against
   recomputing them at every step.

Every figure is a median over ``--repeats`` rounds; within a round every configuration runs once,
so a ratio compares runs made seconds apart.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import hardware_table  # noqa: E402  (the same hardware and versions table)

from tlcourse.config import get_device, get_profile  # noqa: E402
from tlcourse.data import few_shot_indices  # noqa: E402
from tlcourse.experiments import run_one  # noqa: E402
from tlcourse.freeze import last_blocks, named_blocks, set_trainable  # noqa: E402
from tlcourse.nlp import embedding_speed, text_settings, text_task  # noqa: E402
from tlcourse.train import fit  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", help="sizes of the task and of each run")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds; figures are medians")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser.parse_args()


def tweets_per_second(task, blocks: list[str], per_class: int = 24, epochs: int = 3) -> float:
    """Training speed with only ``blocks`` trainable: the median epoch after a warm-up one."""
    torch.manual_seed(0)
    model = set_trainable(task.make_model(pretrained=True), blocks)
    history = fit(model, task.train_data(few_shot_indices(task.pool, per_class, seed=0)),
                  epochs=epochs + 1, lr=1e-4, batch_size=16, progress=False)
    return statistics.median(r["images_per_second"] for r in history.rows[1:])


def embedding_seconds(task) -> float:
    """Seconds to embed the pool and the test set from nothing (no cache)."""
    start = time.perf_counter()
    for part in (task.pool, task.test):
        task.encoder.encode(part.texts, max_length=task.max_length)
    return time.perf_counter() - start


def one_round(task, settings, budget: int) -> dict[str, float]:
    """Every figure once; ``budget`` is the labels per class of the two single runs."""
    model = task.make_model(pretrained=True)
    speed = embedding_speed(task.encoder, task.pool.texts[:256], max_length=task.max_length)
    return {
        "dynamic padding (sentences/s)": speed["dynamic_padding"],
        "padded to max length (sentences/s)": speed["padded_to_max_length"],
        "top 2 layers + head (tweets/s)": tweets_per_second(task, last_blocks(model, 3)),
        "every layer (tweets/s)": tweets_per_second(task, list(named_blocks(model))),
        "fine-tune all, one run (s)": run_one(task, "finetune_all", budget, 0, settings)["seconds"],
        "top 2 + head, frozen part cached, one run (s)": run_one(task, "finetune_last_k", budget, 0, settings)["seconds"],
        "top 2 + head, frozen part recomputed, one run (s)": run_one(
            task, "finetune_last_k", budget, 0, dataclasses.replace(settings, cache_frozen=False))["seconds"],
        "linear probe, one run (s)": run_one(task, "linear_probe", budget, 0, settings)["seconds"],
        "embed pool + test once (s)": embedding_seconds(task),
    }


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    profile = get_profile(args.profile)
    task = text_task("tweets", profile=profile)
    task.embeddings()  # computed (or read from the cache) once: the probe runs reuse them, as in notebook 04
    budget = profile.text_finetune_labels_per_class[0]  # the labels per class notebook 04 fine-tunes with
    print(hardware_table(get_device()).to_string(), "\n")
    rounds = [one_round(task, text_settings(profile), budget) for _ in range(args.repeats)]
    median = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    for name, value in median.items():
        print(f"{name:>40}: {value:10.2f}")
    print(f"\ndynamic padding is {median['dynamic padding (sentences/s)'] / median['padded to max length (sentences/s)']:.1f}x "
          f"faster; training the top two layers is {median['top 2 layers + head (tweets/s)'] / median['every layer (tweets/s)']:.1f}x "
          f"faster than every layer; one fine-tuning run costs "
          f"{median['fine-tune all, one run (s)'] / median['linear probe, one run (s)']:.0f}x a probe run, "
          f"or {median['fine-tune all, one run (s)'] / (median['linear probe, one run (s)'] + median['embed pool + test once (s)']):.1f}x "
          f"a probe run plus embedding every tweet once; computing the frozen layers once makes a "
          f"top-two-layers run {median['top 2 + head, frozen part recomputed, one run (s)'] / median['top 2 + head, frozen part cached, one run (s)']:.1f}x faster.")


if __name__ == "__main__":
    main()
