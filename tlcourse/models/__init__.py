"""Models of the course: our own small CNN, pretrained vision backbones and text encoders.

>>> from tlcourse.models import SmallCNN, pretrained, text_model
>>> cnn = SmallCNN(num_classes=10)              # trained from scratch in notebook 01
>>> lite0 = pretrained("efficientnet_lite0")     # real ImageNet weights, offline
>>> minilm = text_model("minilm")                # real sentence embeddings, offline
"""
from .catalog import list_models
from .small_cnn import SmallCNN
from .text import TextEncoder, mean_pool, text_model
from .vision import imagenet_classes, pretrained, replace_head

__all__ = ["SmallCNN", "TextEncoder", "imagenet_classes", "list_models", "mean_pool",
           "pretrained", "replace_head", "text_model"]
