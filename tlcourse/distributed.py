"""Data-parallel fine-tuning: one training run shared by several processes, launched by torchrun.

On a machine with 4 GPUs (nccl), or on the CPU cores of any machine (gloo)::

    torchrun --standalone --nproc_per_node=4 -m tlcourse.distributed --task lite0 --per-class 100
    torchrun --standalone --nproc_per_node=2 -m tlcourse.distributed --device cpu --out run.pt
    python -m tlcourse.distributed --device cpu     # not launched by torchrun: one process alone

Every process builds the same task and the same model from the same seed and calls the course's
own :func:`tlcourse.train.fit` with ``distributed=True``: each takes its share of every batch
(``--batch-size`` is the whole batch's), and PyTorch's DistributedDataParallel averages the
gradients, so N processes reach the weights one process reaches on the same batches, up to float
rounding. BatchNorm layers that train normalise each process's share with that share's statistics;
on CUDA they are converted to SyncBatchNorm (statistics of the whole batch), which the CPU lacks:
there, pass ``--bn-policy eval_all`` for runs that match one process's exactly.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch
import torch.distributed as dist
from torch import nn

from .config import get_device, get_profile, seed_everything
from .data.splits import few_shot_indices
from .freeze import BN_POLICIES, count_parameters, unfreeze
from .tasks import digits_task, lite0_task, scans_task
from .train import evaluate, fit_for_steps, save_atomic

TASKS = {  # name -> task builder taking a profile
    "digits": digits_task,  # the letters-pretrained SmallCNN -> handwritten digits (32 px)
    "lite0": lambda profile: lite0_task("mnist5k", profile),  # ImageNet Lite0 -> digits, profile's side
    "scans": scans_task,  # ImageNet Lite0 -> solar-cell scans
}


def init_process_group(device: str | None = None) -> torch.device:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` ...):
    nccl on CUDA, gloo on the CPU. Returns this process's device: ``cuda:LOCAL_RANK`` on CUDA."""
    chosen = get_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    return chosen


def sync_batchnorm(model: nn.Module) -> nn.Module:
    """Every BatchNorm layer as a SyncBatchNorm (statistics over all processes' rows), timm's
    BatchNorm + activation layers (EfficientNet-Lite0) included, their activation kept."""
    from timm.layers import convert_sync_batchnorm

    return convert_sync_batchnorm(model)


def finetune(task: str = "digits", per_class: int = 5, steps: int = 50, batch_size: int = 64,
             lr: float = 1e-3, bn_policy: str = "frozen_eval", seed: int = 0, device=None,
             profile: str | None = None) -> tuple[nn.Module, dict]:
    """Fine-tune every block of ``task``'s pretrained model on ``per_class`` labels per class for
    about ``steps`` steps (:func:`tlcourse.train.fit_for_steps`): data-parallel over the process
    group when one is initialised, in this process alone otherwise. Returns the model (on the
    CPU) and a summary: world size, backend, device, images/s of the last epoch, test accuracy."""
    device = torch.device(device) if device else get_device()
    distributed = dist.is_available() and dist.is_initialized()
    built = TASKS[task](get_profile(profile))
    indices = few_shot_indices(built.pool, per_class, seed=seed)
    seed_everything(seed)  # the new head starts from the same weights in every process
    model = unfreeze(built.make_model(True))
    if distributed and device.type == "cuda":
        model = sync_batchnorm(model)
    history = fit_for_steps(model, built.train_data(indices), steps, batch_size, lr, seed=seed,
                            transform=built.transform, bn_policy=bn_policy, device=device,
                            distributed=distributed)
    summary = {"task": built.name, "world_size": dist.get_world_size() if distributed else 1,
               "backend": dist.get_backend() if distributed else "none", "device": str(device),
               "labels": len(indices), "trainable_parameters": count_parameters(model, trainable_only=True),
               "images_per_second": history.final["images_per_second"],
               "train_loss": history.final["train_loss"],
               "test_accuracy": evaluate(model, built.test_data(), transform=built.transform,
                                         device=device)["accuracy"]}
    return model.cpu(), summary


def parse_args(argv=None) -> argparse.Namespace:
    """The command line of ``python -m tlcourse.distributed`` (``--help`` lists it)."""
    parser = argparse.ArgumentParser(description="Data-parallel fine-tuning (launch with torchrun).")
    parser.add_argument("--task", choices=sorted(TASKS), default="digits", help="what to fine-tune on")
    parser.add_argument("--per-class", type=int, default=5, help="labelled images per class")
    parser.add_argument("--steps", type=int, default=50, help="about this many gradient steps")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step, all processes together")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate, cosine-decayed")
    parser.add_argument("--bn-policy", choices=BN_POLICIES, default="frozen_eval",
                        help="what BatchNorm layers do (tlcourse.freeze.apply_bn_policy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: get_device())")
    parser.add_argument("--profile", default=None, help="smoke, cpu or gpu (default: TLCOURSE_PROFILE or detected)")
    parser.add_argument("--out", default=None, help="rank 0 saves the weights and summary here (torch.save)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Run :func:`finetune` in every process torchrun started, or in this one alone when not
    launched by torchrun; rank 0 prints the summary as one JSON line and saves
    ``{"state_dict", "summary"}`` to ``--out``."""
    args = parse_args(argv)
    launched = "WORLD_SIZE" in os.environ  # torchrun sets it in every process it starts
    device = init_process_group(args.device) if launched else get_device(args.device)
    try:
        model, summary = finetune(args.task, args.per_class, args.steps, args.batch_size, args.lr,
                                  args.bn_policy, args.seed, device, args.profile)
        if not launched or dist.get_rank() == 0:
            print(json.dumps(summary), flush=True)
            if args.out:
                save_atomic({"state_dict": model.state_dict(), "summary": summary}, args.out)
    finally:
        if launched:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
