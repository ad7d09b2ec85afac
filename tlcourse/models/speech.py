"""Pretrained speech encoders (wav2vec 2.0, HuBERT): one clip in, one vector out (online).

Both models were pretrained without labels on 960 hours of read English (LibriSpeech): a
convolutional front end turns 16 kHz audio into one frame every 20 ms, and a 12-layer
transformer reads the frames. ``speech_model(name).embed(waveforms)`` averages the frames of
one layer into a clip vector, ready for a linear probe (``tlcourse.train.fit_linear_probe``),
the same recipe as the text encoder's sentence vectors.

The weights come from the Hugging Face Hub: one download the first time (online), the local
cache after that, offline too. Offline with an empty cache, the call stops at once and names
the course's own near source instead: ``tlcourse.tasks.speech_tasks().words``, a SmallCNN
pretrained on synthetic spoken words.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import get_device
from ..data.audio import SAMPLE_RATE
from ..errors import CourseError, UnknownNameError, require
from .text import eval_mode, from_disk_or_hub

HUB_IDS = {  # the course's names -> Hugging Face Hub ids; both pretrained only, no fine-tuning
    "wav2vec2-base": "facebook/wav2vec2-base",  # wav2vec 2.0 (Baevski et al., 2020), 768-d
    "hubert-base-ls960": "facebook/hubert-base-ls960",  # HuBERT (Hsu et al., 2021), 768-d
}
ALIASES = {"wav2vec2": "wav2vec2-base", "hubert": "hubert-base-ls960", "hubert-base": "hubert-base-ls960"}
OFFLINE_ALTERNATIVE = ("the course's own speech source, `tlcourse.tasks.speech_tasks().words` (a SmallCNN "
                       "pretrained on synthetic spoken words, offline)")


class SpeechEncoder:
    """A feature extractor's settings and a speech transformer (``AutoModel``) that turn clips
    into vectors."""

    def __init__(self, model, feature_extractor, name: str, device: str | torch.device | None = None):
        self.name = name
        self.feature_extractor = feature_extractor  # its settings: sampling rate, per-clip normalisation
        self.device = torch.device(device) if device else get_device()
        self.model = model.to(self.device)

    @property
    def dim(self) -> int:
        """Length D of each embedding (the transformer's hidden size)."""
        return self.model.config.hidden_size

    @property
    def num_layers(self) -> int:
        """Transformer layers; ``embed(layer=k)`` takes 0 (their input) to this number (the last)."""
        return self.model.config.num_hidden_layers

    def __repr__(self) -> str:
        return f"SpeechEncoder({self.name!r}, dim={self.dim}, layers={self.num_layers}, device={self.device})"

    def embed(self, waveforms, batch_size: int = 16, progress: bool = True, layer: int = -1,
              sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
        """Clip embeddings: waveforms (N, T) float32 at 16 kHz -> (N, D) float32 on the CPU.

        Each clip is normalised on its own as the model's feature extractor does (zero mean,
        unit variance, when its ``do_normalize`` says so), and the frames of one layer are
        averaged (every clip has the same length T, so there is no padding to leave out).

        ``layer=-1`` (default) is the last transformer layer, what ``AutoModel`` returns and what
        a head fine-tuned on top sees, as for text. For a frozen probe it is not always the
        best: the last layers of wav2vec 2.0 drift back toward the local acoustic features its
        pretraining predicts, and the middle ones carry more phonetic and word information
        (Pasad et al., 2021), so try ``layer=6`` of 12 too; HuBERT's top layers lose less of it
        (Pasad et al., 2023). ``layer=0`` is the transformer's input (the convolutional
        features). The model runs in eval mode without gradients; each batch stays on
        ``self.device`` until its vectors are pooled.
        """
        waveforms = self._check(waveforms, layer, sample_rate)
        chunks = [torch.empty(0, self.dim)]
        with eval_mode(self.model), torch.no_grad():
            for start in tqdm(range(0, len(waveforms), batch_size), disable=not progress,
                              desc=f"embedding with {self.name}"):
                batch = self.normalize(waveforms[start:start + batch_size].to(self.device))
                out = self.model(batch, output_hidden_states=layer != -1)
                hidden = out.last_hidden_state if layer == -1 else out.hidden_states[layer]
                chunks.append(hidden.mean(dim=1).float().cpu())  # (n, frames, D) -> (n, D)
        return torch.cat(chunks)

    def normalize(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(N, T) -> (N, T): every clip to zero mean and unit variance, on its own device,
        exactly as the feature extractor does (when its ``do_normalize`` is set, else unchanged)."""
        if not self.feature_extractor.do_normalize:
            return waveforms
        mean = waveforms.mean(dim=1, keepdim=True)
        var = waveforms.var(dim=1, keepdim=True, unbiased=False)
        return (waveforms - mean) / torch.sqrt(var + 1e-7)  # 1e-7: the feature extractor's own guard

    def _check(self, waveforms, layer: int, sample_rate: int) -> torch.Tensor:
        """``waveforms`` as a float32 (N, T) tensor, or a CourseError that says what to pass."""
        waveforms = torch.as_tensor(waveforms, dtype=torch.float32)
        if waveforms.ndim != 2:
            raise CourseError(f"embed takes waveforms (N, T), one clip per row; got shape {tuple(waveforms.shape)}. "
                              "For one clip pass clip[None]; for a data set pass its .waveforms.")
        if sample_rate != self.feature_extractor.sampling_rate:
            raise CourseError(f"{self.name} was trained on audio at {self.feature_extractor.sampling_rate} Hz; "
                              f"these clips are at {sample_rate} Hz. Resample them first.")
        if not -self.num_layers - 1 <= layer <= self.num_layers:
            raise CourseError(f"layer must be 0 (the transformer's input) to {self.num_layers} (the last), "
                              f"or -1 for the last; got {layer}.")
        return waveforms


def speech_model(name: str = "facebook/wav2vec2-base", device: str | torch.device | None = None) -> SpeechEncoder:
    """The pretrained speech encoder called ``name`` (online the first time, then from the cache).

    ``name``: ``wav2vec2-base`` (or ``wav2vec2``, ``facebook/wav2vec2-base``), ``hubert-base-ls960``
    (or ``hubert``, ``facebook/hubert-base-ls960``), another Hub id of a wav2vec 2.0-style
    model, or a local directory saved with ``save_pretrained``. Offline, a model that is not on
    disk raises an OfflineError at once naming the offline alternative.
    """
    source = _source(name)
    transformers = require("transformers", why="It loads the pretrained speech models.")
    model, feature_extractor = from_disk_or_hub(
        source, transformers.AutoModel, "AutoFeatureExtractor",
        f"The pretrained speech model {source!r}{_did_you_mean(source)}, which speech_model({source!r}) loads,",
        OFFLINE_ALTERNATIVE)
    return SpeechEncoder(model, feature_extractor, name, device)


def _source(name: str) -> str:
    """The Hub id or directory that ``name`` stands for; UnknownNameError for a name that is neither."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    name = ALIASES.get(name, name)
    if name in HUB_IDS or "/" in name:
        return HUB_IDS.get(name, name)
    raise UnknownNameError(
        f"There is no speech model called {name!r}{_did_you_mean(name)}. Use one of {[*HUB_IDS, *ALIASES]}, "
        f"a Hugging Face Hub id such as 'facebook/wav2vec2-base', or a local directory; "
        f"offline, use {OFFLINE_ALTERNATIVE}.")


def _did_you_mean(name: str) -> str:
    """" (did you mean 'facebook/wav2vec2-base'?)" when ``name`` looks like a typo of a known name."""
    known = [*HUB_IDS, *ALIASES, *HUB_IDS.values()]
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close and name not in known else ""


def speech_models_offline() -> dict[str, bool]:
    """Each course speech-model name -> whether it loads right now without the network."""
    hub = require("huggingface_hub")
    return {name: isinstance(hub.try_to_load_from_cache(hub_id, "config.json"), str)
            for name, hub_id in HUB_IDS.items()}
