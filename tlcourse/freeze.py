"""Which parts of a network learn: named blocks, freezing, learning rates per block, BatchNorm.

Transfer learning is mostly a decision about *which weights may change*. This module names
the blocks of the course's models (input side first, head last), freezes and unfreezes them,
counts what is trainable, builds optimizer parameter groups with a learning rate per block
(discriminative learning rates), and keeps BatchNorm layers of frozen blocks in eval mode so
their running statistics stay those learned in pretraining.
"""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from torch import nn

BN_POLICIES = ("frozen_eval", "train_all", "eval_all")
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def _group(*modules: nn.Module) -> nn.Module:
    """A view of several existing modules as one block (parameters are shared, not copied)."""
    return modules[0] if len(modules) == 1 else nn.ModuleList(modules)


def named_blocks(model: nn.Module) -> dict[str, nn.Module]:
    """The model's blocks in order from input to output; the last one is ``head`` (a bare
    transformer without a pooler or final LayerNorm has none).

    Known layouts: the course's SmallCNN, timm EfficientNets (EfficientNet-Lite0), torchvision
    ResNets, Hugging Face transformers (BERT, RoBERTa, MiniLM, DistilBERT, GPT-2:
    ``embeddings``, ``layer0``..``layerN``, ``head``) and the course's ``TextClassifier`` (the
    same, with its classification head as ``head``). Anything else falls back to the model's
    top-level children.
    """
    if hasattr(model, "block1") and hasattr(model, "head"):  # SmallCNN
        return {name: child for name, child in model.named_children()}
    if hasattr(model, "conv_stem") and hasattr(model, "blocks"):  # timm EfficientNet
        blocks = {"stem": _group(model.conv_stem, model.bn1)}
        blocks |= {f"stage{i + 1}": stage for i, stage in enumerate(model.blocks)}
        blocks["neck"] = _group(model.conv_head, model.bn2)
        blocks["head"] = model.classifier
        return blocks
    if hasattr(model, "layer4") and hasattr(model, "fc"):  # torchvision ResNet
        blocks = {"stem": _group(model.conv1, model.bn1)}
        blocks |= {f"layer{i}": getattr(model, f"layer{i}") for i in range(1, 5)}
        blocks["head"] = model.fc
        return blocks
    if hasattr(model, "head") and _transformer_parts(getattr(model, "backbone", None)):  # TextClassifier
        embeddings, layers, rest = _transformer_parts(model.backbone)
        return _transformer_blocks(embeddings, layers, [*rest, model.head])
    parts = _transformer_parts(model)  # a bare transformers model: BERT, RoBERTa, DistilBERT, GPT-2
    if parts:
        return _transformer_blocks(*parts)
    children = dict(model.named_children())
    if not children:
        raise ValueError(f"{type(model).__name__} has no sub-modules to name as blocks.")
    return children


def _transformer_parts(model: nn.Module):
    """(embeddings, list of transformer layers, other parts with weights) of a transformers model.

    BERT, RoBERTa and MiniLM keep their layers in ``encoder.layer``, DistilBERT in
    ``transformer.layer``, GPT-2 in ``h`` (with token and position tables ``wte``/``wpe``).
    The other parts are what comes after the layers (BERT's pooler, GPT-2's final LayerNorm).
    None when ``model`` is none of these.
    """
    for body_name in ("encoder", "transformer"):
        body = getattr(model, body_name, None)
        if hasattr(body, "layer") and hasattr(model, "embeddings"):
            return model.embeddings, list(body.layer), _other_parts(model, {"embeddings", body_name})
    if hasattr(model, "h") and hasattr(model, "wte"):
        return _group(model.wte, model.wpe), list(model.h), _other_parts(model, {"wte", "wpe", "h"})
    return None


def _other_parts(model: nn.Module, used: set[str]) -> list[nn.Module]:
    """Top-level children of ``model`` not named in ``used`` that hold parameters."""
    return [m for name, m in model.named_children()
            if name not in used and next(m.parameters(), None) is not None]


def _transformer_blocks(embeddings: nn.Module, layers: list, rest: list) -> dict[str, nn.Module]:
    """``embeddings``, ``layer0``..``layerN`` and, when there is one, ``head``."""
    blocks = {"embeddings": embeddings} | {f"layer{i}": layer for i, layer in enumerate(layers)}
    if rest:
        blocks["head"] = _group(*rest)
    return blocks


def _check_names(model: nn.Module, names: Iterable[str]) -> list[str]:
    blocks = named_blocks(model)
    names = list(names)
    unknown = [n for n in names if n not in blocks]
    if unknown:
        raise ValueError(f"{type(model).__name__} has no block(s) {unknown}; "
                         f"its blocks are {list(blocks)}.")
    return names


def _set_requires_grad(model: nn.Module, names: Iterable[str] | None, flag: bool) -> nn.Module:
    blocks = named_blocks(model)
    for name in _check_names(model, blocks if names is None else names):
        for param in blocks[name].parameters():
            param.requires_grad_(flag)
    return model


def freeze(model: nn.Module, blocks: Iterable[str] | None = None) -> nn.Module:
    """Stop the named blocks (all blocks when ``None``) from learning; returns the model."""
    return _set_requires_grad(model, blocks, False)


def unfreeze(model: nn.Module, blocks: Iterable[str] | None = None) -> nn.Module:
    """Let the named blocks (all blocks when ``None``) learn again; returns the model."""
    return _set_requires_grad(model, blocks, True)


def set_trainable(model: nn.Module, blocks: Iterable[str]) -> nn.Module:
    """Exactly these blocks learn; every other block is frozen."""
    blocks = _check_names(model, blocks)
    freeze(model)
    return unfreeze(model, blocks)


def last_blocks(model: nn.Module, k: int) -> list[str]:
    """Names of the last ``k`` blocks (the head counts as one): ``last_blocks(m, 1) == ['head']``."""
    names = list(named_blocks(model))
    if not 0 <= k <= len(names):
        raise ValueError(f"k must be between 0 and {len(names)} (the number of blocks), got {k}.")
    return names[len(names) - k:]


def trainable_blocks(model: nn.Module) -> list[str]:
    """Blocks with at least one trainable parameter."""
    return [name for name, block in named_blocks(model).items()
            if any(p.requires_grad for p in block.parameters())]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def trainable_summary(model: nn.Module) -> pd.DataFrame:
    """One row per block: parameters, how many train, and whether the block is frozen."""
    rows = []
    for name, block in named_blocks(model).items():
        total = sum(p.numel() for p in block.parameters())
        trainable = sum(p.numel() for p in block.parameters() if p.requires_grad)
        rows.append({"block": name, "parameters": total, "trainable": trainable,
                     "frozen": total > 0 and trainable == 0})
    return pd.DataFrame(rows)


def param_groups(model: nn.Module, lr: float, decay: float = 1.0) -> list[dict]:
    """Optimizer parameter groups, one per *trainable* block, with discriminative learning rates.

    The head gets ``lr``; each block closer to the input gets ``decay`` times the rate of the
    block after it (``decay=1`` means one rate for all). Frozen parameters are left out, so the
    optimizer neither updates them nor holds state for them.
    """
    if lr <= 0 or not 0 < decay <= 1:
        raise ValueError(f"Need lr > 0 and 0 < decay <= 1, got lr={lr}, decay={decay}.")
    groups = []
    for depth, (name, block) in enumerate(reversed(named_blocks(model).items())):
        params = [p for p in block.parameters() if p.requires_grad]
        if params:
            groups.append({"name": name, "params": params, "lr": lr * decay ** depth})
    if not groups:
        raise ValueError("Every block is frozen, so there is nothing to train: unfreeze at least "
                         "the head, e.g. set_trainable(model, ['head']).")
    return groups[::-1]


def is_batchnorm(module: nn.Module) -> bool:
    """True for a BatchNorm layer (1d, 2d, 3d, synchronised, or a subclass such as timm's
    BatchNormAct2d): the layers that keep running statistics of their inputs."""
    return isinstance(module, _BATCHNORMS)


def _is_frozen(module: nn.Module) -> bool:
    """No parameter of ``module`` learns (a BatchNorm without affine weights counts as frozen)."""
    return not any(p.requires_grad for p in module.parameters())


def frozen_batchnorms_in_train_mode(model: nn.Module) -> list[str]:
    """Blocks (as :func:`named_blocks` names them) holding a frozen BatchNorm layer in training
    mode: its running statistics would drift towards the new data although its weights are
    frozen. Empty after ``apply_bn_policy(model, "frozen_eval")``."""
    return [name for name, block in named_blocks(model).items()
            if any(is_batchnorm(m) and _is_frozen(m) and m.training for m in block.modules())]


def apply_bn_policy(model: nn.Module, policy: str = "frozen_eval") -> nn.Module:
    """Set BatchNorm modes after ``model.train()``.

    - ``frozen_eval`` (the default, and the safe choice): a BatchNorm layer whose weights are
      frozen runs in eval mode, so its running mean/variance stay the pretrained ones.
    - ``train_all``: every BatchNorm layer updates its statistics on the new data, frozen or
      not: the classic pitfall, shown in notebook 03.
    - ``eval_all``: every BatchNorm layer uses its stored statistics.
    """
    if policy not in BN_POLICIES:
        raise ValueError(f"Unknown BatchNorm policy {policy!r}; choose one of {BN_POLICIES}.")
    for module in filter(is_batchnorm, model.modules()):
        if policy == "eval_all" or (policy == "frozen_eval" and _is_frozen(module)):
            module.eval()
        elif model.training:
            module.train()
    return model
