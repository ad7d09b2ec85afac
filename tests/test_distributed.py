"""Data-parallel fine-tuning (tlcourse.distributed): two gloo processes on the CPU, launched by
torchrun on this machine's loopback interface, end with the weights of one process trained on
the same data with the same whole-batch size."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from tlcourse import train
from tlcourse.distributed import finetune, main, sync_batchnorm
from tlcourse.models import SmallCNN, pretrained

ROOT = Path(__file__).resolve().parents[1]
# 20 labelled digits in batches of 7: 7, 7, 6 images, so the two processes' shares differ (4 and 3)
# and the loss weighting of train._train_epoch matters. BatchNorm on stored statistics: the CPU
# has no SyncBatchNorm.
RUN = {"task": "digits", "per_class": 2, "steps": 6, "batch_size": 7, "lr": 1e-3, "bn_policy": "eval_all"}


@pytest.mark.slow
def test_two_gloo_processes_end_with_the_weights_of_one(tmp_path):
    out = tmp_path / "ddp.pt"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in RUN.items()]
    env = os.environ | {"OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo",
                        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "tlcourse.distributed", "--device=cpu", f"--out={out}", *flags],
                          env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    saved = torch.load(out, weights_only=True)
    assert saved["summary"]["world_size"] == 2 and saved["summary"]["backend"] == "gloo"

    alone, summary = finetune(**RUN, device="cpu")
    assert summary["world_size"] == 1
    weights = alone.state_dict()
    assert weights.keys() == saved["state_dict"].keys()
    for name, value in weights.items():
        torch.testing.assert_close(saved["state_dict"][name], value, atol=1e-5, rtol=1e-4, msg=name)
    assert saved["summary"]["train_loss"] == pytest.approx(summary["train_loss"], rel=1e-5)
    assert saved["summary"]["test_accuracy"] == pytest.approx(summary["test_accuracy"])


def test_a_batch_too_small_to_share_is_refused(monkeypatch):
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 0)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 2)
    data = torch.rand(9, 1, 32, 32), torch.randint(0, 2, (9,))  # batches of 8 and 1
    with pytest.raises(ValueError, match="cannot be shared by 2 processes"):
        train.fit(SmallCNN(num_classes=2), data, epochs=1, batch_size=8, device="cpu",
                  progress=False, distributed=True)


def test_sync_batchnorm_keeps_lite0_as_it_computes():
    """timm's BatchNorm + activation layers become synchronised ones with their activation:
    in eval mode (no process group needed) the converted model computes the same logits."""
    torch.manual_seed(0)
    model = pretrained("efficientnet_lite0", num_classes=3, weights=False).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        synced = sync_batchnorm(model).eval()
        after = synced(x)
    assert not any(type(m) is nn.BatchNorm2d or type(m).__name__ == "BatchNormAct2d" for m in synced.modules())
    assert any(isinstance(m, nn.SyncBatchNorm) for m in synced.modules())
    torch.testing.assert_close(after, before)


def test_without_torchrun_the_command_trains_in_one_process(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert main(["--device=cpu", "--per-class=1", "--steps=1", "--batch-size=5", f"--out={tmp_path / 'one.pt'}"]) == 0
    saved = torch.load(tmp_path / "one.pt", weights_only=True)
    assert saved["summary"]["world_size"] == 1 and saved["summary"]["labels"] == 10
    assert '"world_size": 1' in capsys.readouterr().out
    assert not torch.distributed.is_initialized()
