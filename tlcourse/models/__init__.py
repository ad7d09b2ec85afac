"""Models of the course: our own small CNN, pretrained vision backbones, text and speech encoders.

>>> from tlcourse.models import SmallCNN, pretrained, speech_model, text_classifier, text_model
>>> cnn = SmallCNN(num_classes=10)              # trained from scratch in notebook 01
>>> lite0 = pretrained("efficientnet_lite0")     # real ImageNet weights, offline
>>> minilm = text_model("minilm")                # real sentence embeddings, offline
>>> classifier = text_classifier(minilm, num_classes=2)  # MiniLM + a new head, for fine-tuning
>>> wav2vec2 = speech_model("wav2vec2-base")     # clip vectors; online the first time
"""
from .catalog import list_models
from .small_cnn import SmallCNN
from .speech import SpeechEncoder, speech_model
from .text import (TextClassifier, TextEncoder, load_pretrained, mean_pool, scratch_text_classifier,
                   text_classifier, text_model)
from .vision import imagenet_classes, pretrained, replace_head

__all__ = ["SmallCNN", "SpeechEncoder", "TextClassifier", "TextEncoder", "imagenet_classes", "list_models",
           "load_pretrained", "mean_pool", "pretrained", "replace_head", "scratch_text_classifier",
           "speech_model", "text_classifier", "text_model"]
