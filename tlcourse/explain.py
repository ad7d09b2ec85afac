"""Where a CNN looked: Grad-CAM heatmaps (Selvaraju et al., 2017).

A convolutional block's output is a stack of feature maps, each one a grid over the image.
Grad-CAM weighs every map by how much the chosen class score grows when that map grows (the
gradient, averaged over the grid), adds the weighted maps up, keeps the positive part and
scales the result to the image: bright where the evidence *for* the class sits. Looking at
it for a right and for a wrong prediction is how a practitioner checks that a model reads
the defect and not the frame around the scan.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .freeze import named_blocks


def _tracked(maps: torch.Tensor) -> torch.Tensor:
    """The block's output, made a leaf of the graph when the block is frozen (no parameter
    below it needs a gradient), so the class score can still be differentiated by it."""
    return maps if maps.requires_grad else maps.detach().requires_grad_()


def grad_cam(model: nn.Module, images: torch.Tensor, block: str, target: torch.Tensor | int | None = None,
             transform=None) -> torch.Tensor:
    """Heatmaps (N, H, W) in [0, 1] at the images' own size, for the output of ``block``.

    ``images``: (N, C, H, W) as the data set holds them; ``transform`` maps them to what the
    model expects (as in :func:`tlcourse.train.fit`). ``target``: the class to explain, one per
    image or one for all; ``None`` explains each image's predicted class. ``block`` is one of
    :func:`tlcourse.freeze.named_blocks`, usually the last convolutional one. The model's
    weights and modes are left as they were.
    """
    blocks = named_blocks(model)
    if block not in blocks:
        raise ValueError(f"{type(model).__name__} has no block {block!r}; its blocks are {list(blocks)}.")
    if images.dim() != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), got shape {tuple(images.shape)}.")
    device = next(model.parameters()).device
    saved = {}
    hook = blocks[block].register_forward_hook(lambda module, args, out: saved.setdefault("maps", _tracked(out)))
    was_training = model.training
    try:
        model.eval()
        x = images.to(device)
        with torch.enable_grad():
            logits = model(transform(x) if transform else x)
            classes = logits.argmax(1) if target is None else torch.as_tensor(target, device=device).expand(len(x))
            score = logits.gather(1, classes.view(-1, 1)).sum()
            grads = torch.autograd.grad(score, saved["maps"])[0]
    except KeyError:
        raise ValueError(f"Block {block!r} is a group of layers that the forward pass never calls as one "
                         "module, so its output cannot be seen; choose a block before or after it.") from None
    finally:
        hook.remove()
        model.train(was_training)
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1): how much each map helps the class
    cam = F.relu((weights * saved["maps"]).sum(dim=1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).max(dim=1).values.clamp(min=1e-12)
    return (cam / peak.view(-1, 1, 1)).cpu()
