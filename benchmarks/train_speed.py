"""How much faster is training when less of the network learns? Measured on this machine.

Run by hand (not part of the test suite)::

    python benchmarks/train_speed.py                      # both models, sizes for this device
    python benchmarks/train_speed.py --model lite0 --image-size 224 --repeats 5
    python benchmarks/train_speed.py --device cpu --threads 1

It prints, for the course's SmallCNN (32x32) and EfficientNet-Lite0 (``--image-size``):

1. the hardware and library versions the numbers were measured with;
2. training images per second for four strategies (scratch, full fine-tuning, the last two
   blocks, the head only) and each one's speed relative to full fine-tuning;
3. how much faster a linear head trains on cached features than when the frozen backbone
   recomputes them every epoch;
4. on CUDA only: bf16 autocast + ``channels_last`` (``fit(fast_gpu=True)``) against fp32;
5. the loop's efficiency: full fine-tuning through ``fit`` against the bare training step of the
   same model (forward, backward and optimizer step on a batch already on the device, nothing
   around it), in images/s; the course aims at 70% or more on a GPU.

``--json PATH`` also writes every table and the hardware as JSON (``benchmarks/gpu_check.sh``).

Every figure is a median over ``--repeats`` rounds. Within a round every configuration runs once,
one after the other, so a ratio compares runs made seconds apart: on a shared machine the load
changes by the minute, and a ratio of medians taken minutes apart would mostly measure that.
The images are random: how fast a network trains does not depend on what the pixels show.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from tlcourse.config import get_device, get_profile, seed_everything
from tlcourse.freeze import count_parameters, last_blocks, set_trainable
from tlcourse.models import SmallCNN, pretrained
from tlcourse.pretrain import load_pretrained_cnn
from tlcourse.tasks import backbone_input
from tlcourse.train import Transform, autocast, extract_features, fit, uses_bf16, uses_channels_last

NUM_CLASSES = 10  # a digits-sized head; its size barely matters for speed
LR = 1e-3  # any small rate: we time the steps, we do not care where they lead
# Images per timed epoch: seconds each on a 2-core CPU (full Lite0 fine-tuning ran 3-7 images/s
# on our busy one, so 64 images, one batch, already take 10-20 s), about a second on a big GPU.
IMAGES = {"cpu": {"small_cnn": 256, "lite0": 64}, "cuda": {"small_cnn": 16_384, "lite0": 4_096}}
# Strategy -> (start from pretrained weights?, how many of the last blocks train; None = all).
STRATEGIES = {
    "scratch": (False, None),
    "full fine-tuning": (True, None),
    "last 2 blocks": (True, 2),
    "head only": (True, 1),
}
BASELINE = "full fine-tuning"
EFFICIENCY_GOAL = 0.70  # fit's full fine-tuning should run at least this share of the bare step's images/s


@dataclass(frozen=True)
class Backbone:
    """One network to benchmark, and the batches it trains on."""

    name: str  # "small_cnn" or "lite0"
    image_size: int  # side of the images the network sees, pixels
    transform: Transform | None  # grey 32x32 batch -> what the network expects
    images: torch.Tensor  # (N, 1, 32, 32) grey images in [0, 1]
    labels: torch.Tensor  # (N,) class indices


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("small_cnn", "lite0", "both"), default="both",
                        help="which network(s) to time")
    parser.add_argument("--image-size", type=int, default=None,
                        help="side fed to Lite0 (default: the device's profile, 128 on CPU, 224 on CUDA)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed rounds per figure; medians are reported")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: get_device())")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice, one per core)")
    parser.add_argument("--images", type=int, default=None,
                        help="images per timed epoch (default: see IMAGES; thousands on CUDA)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs of head training in the cached-features comparison")
    parser.add_argument("--json", default=None, help="also write every table and the hardware to this JSON file")
    args = parser.parse_args()
    for name in ("repeats", "images", "epochs", "threads", "image_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1.")
    return args


def cpu_model() -> str:
    """The CPU's marketing name, from /proc/cpuinfo on Linux, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def hardware_table(device: torch.device) -> pd.Series:
    """What the numbers below were measured on: they mean little without it."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # Other people's jobs on a shared machine slow every figure; the load average says how busy it was.
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    facts = {
        "cpu": cpu_model(),
        "cores (usable / total)": f"{usable} / {os.cpu_count()}",
        "torch threads": torch.get_num_threads(),
        "load average (1 / 5 / 15 min)": load,
        "device": str(device),
        "device name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        "cuda / cudnn": f"{torch.version.cuda} / {torch.backends.cudnn.version()}" if device.type == "cuda" else "n/a",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": package_version("torchvision"),
        "timm": package_version("timm"),
        "platform": platform.platform(),
    }
    return pd.Series(facts, dtype=object)


def busy_note() -> str:
    """A warning when other jobs compete for the cores, else an empty string."""
    if not hasattr(os, "getloadavg") or os.getloadavg()[0] <= os.cpu_count():
        return ""
    note = (f"\nnote: the load average exceeds the {os.cpu_count()} cores: other jobs are running, so "
            "every figure below is slower and noisier than on a quiet machine.")
    if torch.get_num_threads() > 1:
        # torch's threads wait for each other at the end of every operation by spinning; when
        # another job holds one of the cores, the others spin on, and a step can take many times longer.
        note += "\n      --threads 1 is often faster on a busy machine."
    return note


def precisions(device: torch.device) -> dict[str, bool]:
    """Label -> ``fast_gpu`` value to time. The one GPU-only switch: bf16 and channels_last."""
    if uses_bf16(device):
        return {"fp32": False, "bf16 + channels_last": True}
    return {"fp32": False}  # fit ignores fast_gpu off CUDA, so there is one thing to time


def make_model(name: str, use_pretrained: bool) -> nn.Module:
    """A fresh network with a ``NUM_CLASSES`` head: pretrained weights or random init."""
    if name == "lite0":
        return pretrained("efficientnet_lite0", num_classes=NUM_CLASSES, weights=use_pretrained)
    model = SmallCNN(num_classes=NUM_CLASSES)
    if use_pretrained:  # the course's letters-pretrained CNN, everything but its 26-letter head
        source, _ = load_pretrained_cnn()
        state = {k: v for k, v in source.state_dict().items() if not k.startswith("head.")}
        model.load_state_dict(state, strict=False)
    return model


def make_strategy(name: str, strategy: str) -> nn.Module:
    """The network set up for ``strategy``: right weights, only the right blocks trainable."""
    use_pretrained, k = STRATEGIES[strategy]
    model = make_model(name, use_pretrained)
    if k is not None:
        set_trainable(model, last_blocks(model, k))
    return model


def make_backbone(name: str, image_size: int, images: int) -> Backbone:
    """Random grey 32x32 images; Lite0 sees them resized, like the course's digits."""
    transform = backbone_input(image_size) if name == "lite0" else None
    x = torch.rand(images, 1, 32, 32)
    y = torch.randint(0, NUM_CLASSES, (images,))
    return Backbone(name, image_size if name == "lite0" else 32, transform, x, y)


def train_epoch_speed(model: nn.Module, backbone: Backbone, n: int, batch_size: int,
                      device: torch.device, fast_gpu: bool) -> float:
    """Images per second of one training epoch over the first ``n`` images."""
    history = fit(model, (backbone.images[:n], backbone.labels[:n]), epochs=1, lr=LR,
                  batch_size=batch_size, transform=backbone.transform, device=device,
                  fast_gpu=fast_gpu, progress=False)
    return history.final["images_per_second"]


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so a clock read after it counts that work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def bare_step_speed(model: nn.Module, backbone: Backbone, batch_size: int, steps: int,
                    device: torch.device, fast_gpu: bool) -> float:
    """Images/s of full fine-tuning's training step alone: forward, cross-entropy, backward and an
    AdamW step on one batch ``(batch_size, 3, side, side)`` already transformed, on the device and
    in the layout and precision ``fit`` uses, with nothing around it (no shuffling, indexing,
    transform or per-step ``.item()``). The device is synchronised before and after ``steps`` steps,
    after one untimed step. The ceiling ``fit`` can approach with the same model."""
    x = backbone.images[:batch_size].to(device)
    x = backbone.transform(x) if backbone.transform else x
    y = backbone.labels[:batch_size].to(device)
    model.to(device).train()
    if uses_channels_last(device, fast_gpu):
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)

    def step():
        with autocast(device, fast_gpu):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return steps * len(x) / (time.perf_counter() - start)


def time_loop_efficiency(backbone: Backbone, repeats: int, batch_size: int,
                         device: torch.device) -> pd.DataFrame:
    """Images/s of full fine-tuning through ``fit`` and of the bare step (:func:`bare_step_speed`)
    on as many images, per precision, one row per round; both warmed up first."""
    configs = {label: (make_strategy(backbone.name, BASELINE), make_strategy(backbone.name, BASELINE), fast_gpu)
               for label, fast_gpu in precisions(device).items()}
    steps = max(1, len(backbone.images) // batch_size)
    for looped, bare, fast_gpu in configs.values():
        train_epoch_speed(looped, backbone, batch_size, batch_size, device, fast_gpu)
        bare_step_speed(bare, backbone, batch_size, 1, device, fast_gpu)
    rows = []
    for round_ in range(repeats):
        for label, (looped, bare, fast_gpu) in configs.items():
            rows.append({"model": backbone.name, "image size": backbone.image_size, "precision": label,
                         "round": round_,
                         "fit images/s": train_epoch_speed(looped, backbone, len(backbone.images),
                                                           batch_size, device, fast_gpu),
                         "bare images/s": bare_step_speed(bare, backbone, batch_size, steps, device, fast_gpu)})
    return pd.DataFrame(rows)


def efficiency_summary(raw: pd.DataFrame) -> pd.DataFrame:
    """Median images/s of fit and of the bare step, and the median of the per-round ratios,
    per model and precision; ``meets goal`` compares the ratio with ``EFFICIENCY_GOAL``."""
    keys = ["model", "image size", "precision"]
    ratio = (raw["fit images/s"] / raw["bare images/s"]).groupby([raw[k] for k in keys]).median()
    table = raw.groupby(keys)[["fit images/s", "bare images/s"]].median()
    table["fit / bare"] = ratio
    table["meets goal"] = table["fit / bare"] >= EFFICIENCY_GOAL
    return table.reset_index()


def time_strategies(backbone: Backbone, repeats: int, batch_size: int,
                    device: torch.device) -> pd.DataFrame:
    """Images/s of every (strategy, precision), one row per timed round.

    Each configuration gets its own model, so one's channels_last weights or optimizer state
    cannot leak into another. Each first trains one untimed batch: the first call builds the
    kernels for these shapes and warms the allocator, which the later epochs do not pay for.
    """
    configs = {(strategy, label): (make_strategy(backbone.name, strategy), fast_gpu)
               for strategy in STRATEGIES for label, fast_gpu in precisions(device).items()}
    for model, fast_gpu in configs.values():
        train_epoch_speed(model, backbone, batch_size, batch_size, device, fast_gpu)
    rows = []
    for round_ in range(repeats):
        for (strategy, label), (model, fast_gpu) in configs.items():
            speed = train_epoch_speed(model, backbone, len(backbone.images), batch_size, device, fast_gpu)
            rows.append({"model": backbone.name, "image size": backbone.image_size, "strategy": strategy,
                         "precision": label, "round": round_, "images/s": speed,
                         "trainable params": count_parameters(model, trainable_only=True)})
    return pd.DataFrame(rows)


def in_run_order(table: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """Rows in the order things ran (models as asked, strategies as listed), not alphabetical."""
    table = table.copy()
    table["model"] = pd.Categorical(table["model"], categories=raw["model"].unique(), ordered=True)
    table["strategy"] = pd.Categorical(table["strategy"], categories=list(STRATEGIES), ordered=True)
    keys = ["model", "precision", "strategy"] if "precision" in table else ["model", "strategy"]
    return table.sort_values(keys, kind="stable").reset_index(drop=True)


def strategy_summary(raw: pd.DataFrame) -> pd.DataFrame:
    """Median and spread of images/s per strategy, and its median ratio to full fine-tuning.

    The ratio is taken within each round, then the median over rounds.
    """
    keys = ["model", "image size", "precision"]
    wide = raw.pivot_table(index=[*keys, "round"], columns="strategy", values="images/s")
    ratio = wide.div(wide[BASELINE], axis=0).groupby(level=keys).median()
    ratio = ratio.stack().rename(f"x vs {BASELINE}")
    stats = raw.groupby([*keys, "strategy"]).agg(
        **{"trainable params": ("trainable params", "first"),
           "images/s": ("images/s", "median"), "± std": ("images/s", "std")})
    return in_run_order(stats.join(ratio).reset_index(), raw)


def precision_summary(raw: pd.DataFrame) -> pd.DataFrame:
    """CUDA only: median images/s in fp32 and in bf16 + channels_last, and the speed-up."""
    keys = ["model", "image size", "strategy"]
    wide = raw.pivot_table(index=[*keys, "round"], columns="precision", values="images/s")
    speedup = (wide["bf16 + channels_last"] / wide["fp32"]).groupby(level=keys).median()
    table = wide.groupby(level=keys).median()[["fp32", "bf16 + channels_last"]]
    table["x bf16 vs fp32"] = speedup
    return in_run_order(table.reset_index(), raw)


def time_head_training(backbone: Backbone, epochs: int, batch_size: int, device: torch.device,
                       fast_gpu: bool) -> dict[str, float]:
    """Seconds to train a fresh head for ``epochs`` epochs on a frozen pretrained backbone.

    cached: run the backbone once (``extract_features``), then train the head alone on the
    stored features. recomputed: ``fit`` with only the head trainable, so every epoch runs the
    frozen backbone forward again. Both train the same head with the same loop and batches.
    """
    model = make_strategy(backbone.name, "head only")
    start = time.perf_counter()
    features = extract_features(model, backbone.images, transform=backbone.transform,
                                device=device, progress=False)
    extracted = time.perf_counter()
    # fit trains named blocks; a one-layer Sequential is a model whose only block is the head.
    head = nn.Sequential(nn.Linear(features.shape[1], NUM_CLASSES))
    fit(head, (features, backbone.labels), epochs=epochs, lr=LR, batch_size=batch_size,
        device=device, fast_gpu=fast_gpu, progress=False)
    cached = time.perf_counter()
    fit(model, (backbone.images, backbone.labels), epochs=epochs, lr=LR, batch_size=batch_size,
        transform=backbone.transform, device=device, fast_gpu=fast_gpu, progress=False)
    recomputed = time.perf_counter()
    return {"extract (s)": extracted - start, "head on cache (s)": cached - extracted,
            "cached total (s)": cached - start, "recomputed (s)": recomputed - cached}


def time_caching(backbone: Backbone, epochs: int, repeats: int, batch_size: int,
                 device: torch.device) -> pd.DataFrame:
    """Median seconds of cached vs recomputed features, and the speed-up, over ``repeats``.

    One untimed round first: extraction runs the backbone in inference mode, on batch shapes
    the strategy timings have not warmed up.
    """
    fast_gpu = uses_bf16(device)  # the course's default path; extract_features has no fp32 switch
    time_head_training(backbone, 1, batch_size, device, fast_gpu)
    runs = pd.DataFrame([time_head_training(backbone, epochs, batch_size, device, fast_gpu)
                         for _ in range(repeats)])
    speedup = (runs["recomputed (s)"] / runs["cached total (s)"]).median()
    row = {"model": backbone.name, "image size": backbone.image_size, "images": len(backbone.images),
           "epochs": epochs, **runs.median().to_dict(), "x faster cached": speedup}
    return pd.DataFrame([row])


def say(message: str) -> None:
    """Progress on stderr, so stdout stays the report."""
    print(message, file=sys.stderr, flush=True)


def print_section(title: str, body: str) -> None:
    print(f"\n== {title} ==\n{body}", flush=True)


def fmt(table: pd.DataFrame) -> str:
    return table.to_string(index=False, float_format=lambda v: f"{v:,.2f}")


def strategy_sentences(table: pd.DataFrame) -> str:
    """One plain line per strategy: 'lite0 at 128px (fp32): head only trains 3.1x as many ...'."""
    lines = []
    for row in table[table["strategy"] != BASELINE].to_dict("records"):
        lines.append(f"{row['model']} at {row['image size']}px ({row['precision']}): {row['strategy']} "
                     f"trains {row[f'x vs {BASELINE}']:.1f}x as many images/s as {BASELINE}")
    return "\n".join(lines)


def cache_sentences(table: pd.DataFrame) -> str:
    return "\n".join(f"{row['model']} at {row['image size']}px, {row['epochs']} epochs: caching the "
                     f"features trains the head {row['x faster cached']:.1f}x faster "
                     f"({row['cached total (s)']:.1f} s vs {row['recomputed (s)']:.1f} s)"
                     for row in table.to_dict("records"))


def efficiency_sentences(table: pd.DataFrame) -> str:
    """One plain line per model and precision: the share of the bare step's rate fit keeps."""
    return "\n".join(f"{row['model']} at {row['image size']}px ({row['precision']}): full fine-tuning through fit "
                     f"runs {row['fit / bare']:.0%} of the bare step's images/s (goal: "
                     f"{EFFICIENCY_GOAL:.0%}{'' if row['meets goal'] else ', not met'})"
                     for row in table.to_dict("records"))


def measure(args: argparse.Namespace, device: torch.device) -> dict[str, pd.DataFrame]:
    """Every table of the report, by name: ``strategies``, ``cache``, ``loop efficiency`` and,
    where bf16 runs, ``precision``."""
    profile = get_profile("gpu" if device.type == "cuda" else "cpu")  # batch size, Lite0 image side
    image_size = args.image_size or profile.backbone_image_size
    names = ("small_cnn", "lite0") if args.model == "both" else (args.model,)
    seed_everything(0)
    raws, caches, loops = [], [], []
    for name in names:
        images = args.images or IMAGES["cuda" if device.type == "cuda" else "cpu"][name]
        backbone = make_backbone(name, image_size, images)
        say(f"timing {name}: {len(STRATEGIES)} strategies x {args.repeats} rounds of {images} images ...")
        raws.append(time_strategies(backbone, args.repeats, profile.batch_size, device))
        say(f"timing {name}: cached vs recomputed features, {args.epochs} epochs ...")
        caches.append(time_caching(backbone, args.epochs, args.repeats, profile.batch_size, device))
        say(f"timing {name}: fit vs the bare training step ...")
        loops.append(time_loop_efficiency(backbone, args.repeats, profile.batch_size, device))
    raw = pd.concat(raws, ignore_index=True)
    tables = {"strategies": strategy_summary(raw), "cache": pd.concat(caches, ignore_index=True),
              "loop efficiency": efficiency_summary(pd.concat(loops, ignore_index=True))}
    if uses_bf16(device):
        tables["precision"] = precision_summary(raw)
    tables["strategies"].attrs["batch size"] = profile.batch_size
    return tables


def write_json(path: str, hardware: pd.Series, args: argparse.Namespace,
               tables: dict[str, pd.DataFrame], seconds: float) -> None:
    """The hardware, the arguments, every table as a list of rows and the run's seconds."""
    report = {"hardware": hardware.astype(str).to_dict(), "arguments": vars(args), "seconds": seconds,
              "efficiency goal": EFFICIENCY_GOAL,
              "tables": {name: json.loads(table.to_json(orient="records")) for name, table in tables.items()}}
    with open(path, "w") as out:
        json.dump(report, out, indent=1)


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    hardware = hardware_table(device)
    print_section("Hardware and versions", hardware.to_string() + busy_note())
    tables = measure(args, device)
    table = tables["strategies"]
    print_section(f"Training speed (median of {args.repeats} rounds, batch size {table.attrs['batch size']})",
                  fmt(table) + "\n\n" + strategy_sentences(table))
    print_section("Linear head: cached features vs recomputing them every epoch",
                  fmt(tables["cache"]) + "\n\n" + cache_sentences(tables["cache"]))
    if "precision" in tables:
        print_section("CUDA: bf16 autocast + channels_last (fast_gpu=True) vs fp32", fmt(tables["precision"]))
    else:
        print_section("CUDA", f"skipped: the device is {device}, and bf16 + channels_last "
                              "is a CUDA-only path.")
    loop = tables["loop efficiency"]
    print_section("Full fine-tuning through fit vs the bare training step",
                  fmt(loop) + "\n\n" + efficiency_sentences(loop))
    seconds = time.perf_counter() - started
    if args.json:
        write_json(args.json, hardware, args, tables, seconds)
    print(f"\nmeasured in {seconds:.0f} s (imports not counted)")


if __name__ == "__main__":
    main()
