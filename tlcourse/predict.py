"""What a pretrained ImageNet model says about a photo: its top-k classes with probabilities."""
from __future__ import annotations

import pandas as pd
import torch
from PIL import Image
from torch import nn


@torch.inference_mode()
def top_k(model: nn.Module, image: Image.Image, k: int = 5) -> pd.DataFrame:
    """The ``k`` most probable classes for one PIL image, as a table (class, probability).

    ``model`` is a classifier from ``tlcourse.models.pretrained`` (it carries its own
    ``preprocess`` and ``class_names``), so the photo is resized and normalised exactly as
    the model was during its ImageNet training.
    """
    for needed in ("preprocess", "class_names"):
        if not hasattr(model, needed):
            raise ValueError(f"top_k needs a model from tlcourse.models.pretrained(...), which "
                             f"carries .{needed}; this {type(model).__name__} has none.")
    if not isinstance(image, Image.Image):
        raise TypeError(f"Expected a PIL image, got {type(image).__name__}: use PIL.Image.open(path) "
                        "or tlcourse.photos.sample_photo(name).")
    device = next(model.parameters()).device
    batch = model.preprocess(image.convert("RGB")).unsqueeze(0).to(device)
    probs = torch.softmax(model.eval()(batch).float(), dim=1)[0].cpu()
    values, indices = probs.topk(k)
    return pd.DataFrame({"class": [model.class_names[i] for i in indices],
                         "probability": values.numpy().round(4)})


def label_photos(model: nn.Module, photos: dict[str, Image.Image], k: int = 5) -> pd.DataFrame:
    """Top-``k`` for several named photos, one row per (photo, rank)."""
    tables = []
    for name, image in photos.items():
        table = top_k(model, image, k)
        table.insert(0, "rank", range(1, k + 1))
        table.insert(0, "photo", name)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)
