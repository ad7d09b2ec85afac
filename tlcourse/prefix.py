"""Train the top of a network on the cached output of its frozen bottom.

When only the last blocks of a pretrained network learn, the frozen blocks below them map
each input to the same output at every step of every epoch (they run in eval mode:
BatchNorm with its stored statistics, no dropout). So compute that output once, keep it, and
train only the blocks on top of it: each step then costs the forward and backward pass of
the trainable blocks alone, and testing runs the frozen part once for the whole run.

:func:`split_model` cuts a model into ``(prefix, suffix)`` at a named block, both sharing
the model's parameters, with ``suffix(prefix(x)) == model(x)`` in eval mode. Models it can
cut: the course's SmallCNN, timm EfficientNets (Lite0), torchvision ResNets and the course's
``TextClassifier`` on a BERT-family transformer (BERT, RoBERTa, MiniLM).

The frozen output is computed with :func:`tlcourse.train.predict` (``predict(prefix, x)``)
and trained on with :func:`tlcourse.train.fit`. A text model's frozen output is a batch of
token vectors *and* its attention mask; to travel as one tensor they are packed together, the
mask as the last channel: ``(N, T, D + 1)`` (:func:`pack_tokens`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .freeze import named_blocks
from .models.text import TextClassifier, mean_pool


def pack_tokens(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Token vectors (N, T, D) and their 1/0 attention mask (N, T) -> one (N, T, D + 1) tensor."""
    return torch.cat([hidden, mask.unsqueeze(-1).to(hidden.dtype)], dim=-1)


def unpack_tokens(packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T, D + 1) -> token vectors (N, T', D) and mask (N, T'), cut to the batch's longest
    real text (T' <= T), so no layer computes over columns that are padding in every row."""
    mask = packed[..., -1].round().long()
    longest = max(int(mask.sum(dim=1).max()), 1)
    return packed[:, :longest, :-1], mask[:, :longest]


class _Stage(nn.Module):
    """One named block as a callable step: its parts (and any pooling) run in order."""

    def __init__(self, *parts: nn.Module):
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            x = part(x)
        return x


class _TextEmbeddings(nn.Module):
    """Token ids (N, T), padded on the right -> packed token vectors and mask."""

    def __init__(self, embeddings: nn.Module, pad_token_id: int):
        super().__init__()
        self.embeddings, self.pad_token_id = embeddings, pad_token_id

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # Every width kept (batches of a data set stack up); the layers cut each batch to its longest text.
        mask = (input_ids != self.pad_token_id).long()
        return pack_tokens(self.embeddings(input_ids=input_ids), mask)


class _TextLayer(nn.Module):
    """One transformer layer on packed token vectors; padding is masked out of attention."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        hidden, mask = unpack_tokens(packed)  # cut to the batch's longest text
        # Additive mask (N, 1, 1, T): 0 where a token may be attended to, -inf-like where padding.
        blocked = (1 - mask[:, None, None, :]).to(hidden.dtype) * torch.finfo(hidden.dtype).min
        out = self.layer(hidden, attention_mask=blocked)
        out = pack_tokens(out[0] if isinstance(out, tuple) else out, mask)
        return F.pad(out, (0, 0, 0, packed.shape[1] - out.shape[1]))  # back to the input's width


class _TextHead(nn.Module):
    """Packed token vectors -> the mean over real tokens -> logits."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        hidden, mask = unpack_tokens(packed)
        return self.head(mean_pool(hidden, mask))


def stages(model: nn.Module) -> dict[str, nn.Module]:
    """The model's forward pass as callable steps, one per :func:`tlcourse.freeze.named_blocks`
    block and named like them: running them in order is ``model(x)``.

    Raises ValueError for a model whose forward pass is not a chain of its blocks.
    """
    names = list(named_blocks(model))
    if hasattr(model, "block1") and hasattr(model, "head"):  # SmallCNN
        steps = {n: _Stage(getattr(model, n)) for n in names[:-1]}
        return steps | {"head": _Stage(nn.AdaptiveAvgPool2d(1), nn.Flatten(), model.head)}
    if hasattr(model, "conv_stem") and hasattr(model, "blocks"):  # timm EfficientNet
        if getattr(model, "drop_rate", 0) or _has_stochastic_depth(model):
            raise ValueError("This EfficientNet uses dropout or stochastic depth between blocks, "
                             "so its frozen part is not the same at every step; build it without.")
        steps = {"stem": _Stage(model.conv_stem, model.bn1)}
        steps |= {f"stage{i + 1}": _Stage(stage) for i, stage in enumerate(model.blocks)}
        steps["neck"] = _Stage(model.conv_head, model.bn2, model.global_pool)
        return steps | {"head": _Stage(model.classifier)}
    if hasattr(model, "layer4") and hasattr(model, "fc"):  # torchvision ResNet
        steps = {"stem": _Stage(model.conv1, model.bn1, model.relu, model.maxpool)}
        steps |= {f"layer{i}": _Stage(getattr(model, f"layer{i}")) for i in range(1, 5)}
        return steps | {"head": _Stage(model.avgpool, nn.Flatten(), model.fc)}
    if isinstance(model, TextClassifier) and hasattr(getattr(model.backbone, "encoder", None), "layer"):
        backbone = model.backbone
        steps = {"embeddings": _TextEmbeddings(backbone.embeddings, model.pad_token_id)}
        steps |= {f"layer{i}": _TextLayer(layer) for i, layer in enumerate(backbone.encoder.layer)}
        return steps | {"head": _TextHead(model.head)}
    raise ValueError(f"Cannot cut {type(model).__name__} into a frozen prefix and a trainable top: "
                     "known are SmallCNN, timm EfficientNets, torchvision ResNets and TextClassifier "
                     "on a BERT-family transformer. Train the whole model instead.")


def _has_stochastic_depth(model: nn.Module) -> bool:
    return any(getattr(m, "drop_prob", 0) for m in model.modules())


class Chain(nn.Module):
    """Named steps run in order. Its children are the steps, so the freeze helpers see the
    chain's blocks under the model's block names (``param_groups`` keeps per-block rates)."""

    def __init__(self, steps: dict[str, nn.Module]):
        super().__init__()
        for name, step in steps.items():
            self.add_module(name, step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.children():
            x = step(x)
        return x


def split_model(model: nn.Module, first_trainable: str) -> tuple[Chain, Chain]:
    """``(prefix, suffix)``: the blocks before ``first_trainable`` and the rest.

    Both share the model's parameters (training ``suffix`` trains ``model``), and in eval
    mode ``suffix(prefix(x))`` equals ``model(x)``. Every block of the prefix must be frozen.
    """
    steps = stages(model)
    if first_trainable not in steps:
        raise ValueError(f"{type(model).__name__} has no block {first_trainable!r}; its blocks are {list(steps)}.")
    names = list(steps)
    cut = names.index(first_trainable)
    prefix = Chain({n: steps[n] for n in names[:cut]})
    if any(p.requires_grad for p in prefix.parameters()):
        raise ValueError(f"Blocks before {first_trainable!r} must be frozen to be computed once: "
                         "freeze them first (tlcourse.freeze.set_trainable).")
    return prefix, Chain({n: steps[n] for n in names[cut:]})
