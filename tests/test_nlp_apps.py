"""Question answering, summarization and generation: the offline message, and each code path
run on a tiny local model made here (random weights: we check mechanics, not answers)."""
import shutil
import time
from pathlib import Path

import huggingface_hub
import pytest
import torch
import transformers

from tlcourse.errors import OfflineError
from tlcourse.models.text import minilm_dir
from tlcourse.nlp_apps import answer_question, generate_text, summarize_text

CONTEXT = "BERT was pretrained by Google in 2018 on books and Wikipedia."


def _with_minilm_tokenizer(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(Path(minilm_dir()) / name, path / name)
    return path


@pytest.fixture(scope="module")
def tiny_qa(tmp_path_factory):
    path = _with_minilm_tokenizer(tmp_path_factory.mktemp("qa"))
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=37)
    torch.manual_seed(0)
    transformers.BertForQuestionAnswering(config).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    path = _with_minilm_tokenizer(tmp_path_factory.mktemp("t5"))
    config = transformers.T5Config(vocab_size=30522, d_model=32, d_ff=64, d_kv=16, num_layers=1,
                                   num_heads=2, decoder_start_token_id=0, pad_token_id=0, eos_token_id=102)
    torch.manual_seed(0)
    transformers.T5ForConditionalGeneration(config).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    path = tmp_path_factory.mktemp("gpt2")
    words = ["<|endoftext|>", "<unk>", "transfer", "learning", "is", "a", "the", "model", "good"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>",
                                         unk_token="<unk>").save_pretrained(path)
    config = transformers.GPT2Config(vocab_size=len(words), n_embd=32, n_layer=1, n_head=2, n_positions=64)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    return str(path)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")


@pytest.mark.parametrize("demo", [
    lambda: answer_question("Who pretrained BERT?", CONTEXT),
    lambda: summarize_text(CONTEXT),
    lambda: generate_text("Transfer learning is"),
], ids=["qa", "summary", "generation"])
def test_offline_the_demos_stop_at_once_and_say_what_to_do(offline, demo):
    start = time.perf_counter()
    with pytest.raises(OfflineError) as err:
        demo()
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "offline" in message and "notebook 04" in message and "connect to the internet" in message


def test_answer_is_a_span_of_the_context(tiny_qa):
    result = answer_question("Who pretrained BERT?", CONTEXT, model=tiny_qa, max_answer_tokens=4)
    assert set(result) == {"answer", "score", "start", "end"}
    assert 0 <= result["start"] < result["end"] <= len(CONTEXT)
    assert result["answer"] == CONTEXT[result["start"]:result["end"]] and result["answer"].strip()
    assert len(transformers.AutoTokenizer.from_pretrained(tiny_qa).tokenize(result["answer"])) <= 4
    assert 0 < result["score"] <= 1


def test_answer_never_comes_from_the_question(tiny_qa):
    question = "Google Google Google Google?"
    for _ in range(2):  # same input, same answer
        result = answer_question(question, "Paris is in France.", model=tiny_qa)
        assert result["answer"] in "Paris is in France."


def test_summary_is_text_from_an_encoder_decoder(tiny_t5):
    summary = summarize_text(CONTEXT, model=tiny_t5, max_new_tokens=6)
    assert isinstance(summary, str) and summary == summarize_text(CONTEXT, model=tiny_t5, max_new_tokens=6)


def test_generation_continues_the_prompt_and_repeats_for_a_seed(tiny_gpt2):
    text = generate_text("transfer learning is", model=tiny_gpt2, max_new_tokens=5, seed=1)
    assert text.startswith("transfer learning is") and len(text.split()) > 3
    assert text == generate_text("transfer learning is", model=tiny_gpt2, max_new_tokens=5, seed=1)


# Offline retrieval and extractive summaries (any encoder with encode(texts) -> unit rows).
class WordCounts:
    """A stand-in encoder: unit-length counts of a fixed vocabulary, so similarities are known."""
    name = "counts"

    def __init__(self, vocabulary):
        self.vocabulary = vocabulary

    def encode(self, texts):
        rows = torch.tensor([[text.lower().split().count(w) for w in self.vocabulary] for text in texts],
                            dtype=torch.float32)
        return torch.nn.functional.normalize(rows, dim=-1)


def test_retrieve_answer_picks_the_sentence_nearest_the_question():
    from tlcourse.nlp_apps import retrieve_answer

    sentences = ["cats sleep all day", "dogs bark at night", "birds sing at dawn"]
    encoder = WordCounts(["cats", "dogs", "birds", "night", "dawn"])
    assert retrieve_answer("what do dogs do at night", sentences, encoder) == 1
    assert retrieve_answer("when do birds sing", sentences) == 2  # TF-IDF: shared words
    with pytest.raises(ValueError, match="at least one sentence"):
        retrieve_answer("anything", [], encoder)


def test_central_sentence_is_the_one_nearest_the_mean():
    from tlcourse.nlp_apps import central_sentence

    encoder = WordCounts(["a", "b"])
    # vectors (1, 0), (0.71, 0.71), (0, 1): the middle one is nearest their mean
    assert central_sentence(["a", "a b", "b"], encoder) == 1


def test_passages_are_consistent_and_both_kinds_of_question_occur():
    from tlcourse.data.passages import PASSAGES, qa_items, word_overlap

    for passage in PASSAGES:
        n = len(passage["sentences"])
        assert 0 <= passage["summary"] < n
        assert all(0 <= answer < n for _, answer in passage["questions"])
    items = qa_items()
    assert len(items) == sum(len(p["questions"]) for p in PASSAGES)
    assert any(i["shares_words"] for i in items) and not all(i["shares_words"] for i in items)
    assert word_overlap("Do bees dance?", "A bee dances") == 2  # bee and dance: a final s dropped


def test_retrieval_comparison_scores_every_question_and_passage():
    from tlcourse.data.passages import PASSAGES, qa_items
    from tlcourse.nlp_apps import retrieval_comparison

    table = retrieval_comparison(WordCounts(["the", "a"]))
    assert list(table.columns) == ["counts", "tfidf", "first sentence", "items"]
    assert table.loc["answer", "items"] == len(qa_items())
    assert table.loc["summary", "items"] == len(PASSAGES)
    parts = table.loc[["answer, question shares a word with its answer", "answer, question in other words"], "items"]
    assert parts.sum() == len(qa_items())
    first = sum(p["summary"] == 0 for p in PASSAGES) / len(PASSAGES) * 100
    assert table.loc["summary", "first sentence"] == round(first, 1)
    assert table.loc["answer", "first sentence"] == "-"
