"""The NLP transfer path: text task, tokenization and dynamic padding, cached embeddings, each
strategy on tiny inputs, the online path run on tiny local models, and the offline messages."""
import shutil
import time
from pathlib import Path

import huggingface_hub
import pandas as pd
import pytest
import torch
import transformers

from tlcourse import get_profile
from tlcourse.data import TextDataset, few_shot_indices
from tlcourse.data.core import DataArgumentError
from tlcourse.data.tweets import _dedupe_key
from tlcourse.errors import OfflineError
from tlcourse.experiments import compare, run_one, strategies_of, summarize
from tlcourse.freeze import count_parameters, named_blocks, set_trainable, trainable_blocks
from tlcourse.models import text_model
from tlcourse.models.text import TextClassifier, minilm_dir
from tlcourse.freeze import last_blocks
from tlcourse.nlp import STRATEGIES, TextTask, cached_embeddings, embedding_speed, text_settings, text_task, tfidf_classifier

TINY = text_settings(get_profile("smoke"), steps=2, scratch_steps=2, batch_size=8, scratch_batch_size=8, k=2)


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """A fresh TLCOURSE_CACHE for this module, so cached embeddings never leak in or out."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLCOURSE_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def save_tiny_bert(path: Path, model_class=transformers.BertModel) -> Path:
    """A 2-layer, 32-wide BERT with MiniLM's tokenizer, saved like a Hub download."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(Path(minilm_dir()) / name, path / name)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=37)
    torch.manual_seed(0)
    model_class(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return str(save_tiny_bert(tmp_path_factory.mktemp("tiny_bert")))


@pytest.fixture(scope="module")
def smoke_task():
    """The smoke profile's real task: MiniLM on tweets."""
    return text_task("tweets", profile=get_profile("smoke"))


@pytest.fixture(scope="module")
def tiny_task(smoke_task, tiny_bert):
    """The smoke task's tweets (40 in the pool, 20 in test) read by a tiny local BERT."""
    pool = smoke_task.pool.subset(few_shot_indices(smoke_task.pool, 20, seed=0))
    test = smoke_task.test.subset(few_shot_indices(smoke_task.test, 10, seed=0))
    return TextTask("tiny", pool, test, text_model(tiny_bert))


# ---------------------------------------------------------------- the task and its data


def test_smoke_task_is_balanced_and_sized_by_the_profile(smoke_task):
    profile = get_profile("smoke")
    assert len(smoke_task.test) == profile.max_eval
    assert len(smoke_task.pool) + len(smoke_task.test) == profile.text_samples
    assert smoke_task.pool.labels.bincount().tolist() == [100, 100]
    assert smoke_task.test.labels.bincount().tolist() == [100, 100]
    assert smoke_task.name == "minilm->tweets" and smoke_task.encoder.name == "minilm"


def test_pool_and_test_share_no_tweet_even_as_a_retweet(smoke_task):
    pool_keys = {_dedupe_key(t) for t in smoke_task.pool.texts}
    test_keys = [_dedupe_key(t) for t in smoke_task.test.texts]
    assert len(pool_keys) == len(smoke_task.pool) and len(set(test_keys)) == len(test_keys)
    assert not pool_keys & set(test_keys)


def test_test_set_is_stored_shortest_first(smoke_task):
    lengths = [len(t) for t in smoke_task.test.texts]
    assert lengths == sorted(lengths)


def test_budgets_are_balanced_and_nested(smoke_task):
    small, large = (few_shot_indices(smoke_task.pool, n, seed=1) for n in (10, 50))
    assert smoke_task.pool.labels[small].bincount().tolist() == [10, 10]
    assert set(small.tolist()) <= set(large.tolist())
    for bad in (0, 1_000):
        with pytest.raises(DataArgumentError):
            few_shot_indices(smoke_task.pool, bad, seed=0)


def test_token_ids_are_right_padded_and_cut_at_max_length(smoke_task):
    ids = smoke_task.token_ids("pool")
    assert ids.shape[0] == len(smoke_task.pool) and ids.shape[1] <= smoke_task.max_length
    assert ids.dtype == torch.int64 and smoke_task.token_ids("pool") is ids  # computed once
    pad = smoke_task.encoder.tokenizer.pad_token_id
    real = ids != pad
    assert torch.equal(real, torch.arange(ids.shape[1]) < real.sum(1, keepdim=True))  # tokens, then pads
    assert real[:, 0].all() and ids[:, 0].eq(smoke_task.encoder.tokenizer.cls_token_id).all()
    longest = smoke_task.encoder.tokenize(["word " * 200], max_length=16)["input_ids"]
    assert longest.shape == (1, 16)


# ---------------------------------------------------------------- dynamic padding and embeddings


def test_classifier_cuts_padding_without_changing_the_logits(smoke_task):
    torch.manual_seed(0)
    model = smoke_task.make_model(pretrained=True).eval()
    texts = smoke_task.test.texts[:4]
    short = smoke_task.encoder.tokenize(texts, max_length=64)["input_ids"]
    padded = smoke_task.encoder.tokenize(texts, max_length=64, padding="max_length")["input_ids"]
    assert padded.shape[1] == 64 > short.shape[1]
    with torch.no_grad():
        together = model(padded)
        alone = torch.cat([model(smoke_task.encoder.tokenize([t])["input_ids"]) for t in texts])
    assert torch.allclose(model(short).detach(), together, atol=1e-5)
    assert torch.allclose(together, alone, atol=1e-5)


def test_pretrained_classifier_pools_the_same_vectors_as_the_encoder(smoke_task):
    model = smoke_task.make_model(pretrained=True).eval()
    ids = smoke_task.encoder.tokenize(smoke_task.pool.texts[:5], max_length=64)["input_ids"]
    captured = []
    model.head.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    with torch.no_grad():
        model(ids)
    encoded = smoke_task.encoder.encode(smoke_task.pool.texts[:5], max_length=64, normalize=False)
    assert torch.allclose(captured[0], encoded, atol=1e-4)


def test_encode_with_fixed_padding_gives_the_same_vectors(smoke_task):
    texts = smoke_task.test.texts[:6]
    dynamic = smoke_task.encoder.encode(texts, batch_size=4, max_length=64)
    fixed = smoke_task.encoder.encode(texts, batch_size=4, max_length=64, dynamic_padding=False)
    assert torch.allclose(dynamic, fixed, atol=1e-5)


def test_embeddings_are_cached_on_disk_and_keyed_by_the_texts(tiny_task, monkeypatch):
    texts = tiny_task.pool.texts[:5]
    first = cached_embeddings(tiny_task.encoder, texts)
    assert first.shape == (5, 32) and not first.is_inference()
    monkeypatch.setattr(tiny_task.encoder, "encode", lambda *a, **k: pytest.fail("not read from disk"))
    assert torch.equal(cached_embeddings(tiny_task.encoder, texts), first)
    with pytest.raises(pytest.fail.Exception):
        cached_embeddings(tiny_task.encoder, texts[:4])  # other texts: another file


def test_embedding_speed_measures_both_paddings(tiny_task):
    speed = embedding_speed(tiny_task.encoder, tiny_task.test.texts, batch_size=8)
    assert set(speed) == {"dynamic_padding", "padded_to_max_length"}
    assert all(v > 0 for v in speed.values())


# ---------------------------------------------------------------- strategies


def test_last_blocks_of_minilm(smoke_task):
    model = smoke_task.make_model(pretrained=True)
    assert list(named_blocks(model)) == ["embeddings"] + [f"layer{i}" for i in range(6)] + ["head"]
    assert text_settings(get_profile("cpu")).k == 3  # the top two layers and the head
    assert last_blocks(model, 3) == ["layer4", "layer5", "head"]
    set_trainable(model, last_blocks(model, 3))
    assert count_parameters(model, trainable_only=True) == 3_549_698  # of 22,566,146 (notebook 04)
    assert count_parameters(model) == 22_566_146  # MiniLM's 22.7M less the unused pooler, plus the head


def test_every_strategy_gives_one_row_per_run(tiny_task):
    assert set(strategies_of(tiny_task)) >= set(STRATEGIES)
    results = compare(tiny_task, STRATEGIES, (4, 10), (0, 1), TINY, progress=False)
    assert len(results) == len(STRATEGIES) * 2 * 2
    assert {"task", "strategy", "labels_per_class", "labels", "seed", "accuracy", "seconds",
            "trainable_parameters"} <= set(results.columns)
    assert results["accuracy"].between(0, 1).all()
    assert sorted(results["labels_per_class"].unique()) == [4, 10]
    assert sorted(results["labels"].unique()) == [8, 20]  # the total: two classes
    table = summarize(results)
    assert len(table) == len(STRATEGIES) * 2 and (table["runs"] == 2).all()


def test_trainable_parameters_follow_the_strategy(tiny_task):
    rows = {s: run_one(tiny_task, s, 4, 0, TINY) for s in STRATEGIES}
    n = {s: row["trainable_parameters"] for s, row in rows.items()}
    assert n["linear_probe"] == 32 * 2 + 2  # one weight per embedding dimension and class, two biases
    full = sum(p.numel() for p in tiny_task.make_model(True).parameters())
    assert n["finetune_all"] == full
    layer = sum(p.numel() for p in named_blocks(tiny_task.make_model(True))["layer1"].parameters())
    assert n["finetune_last_k"] == layer + 32 * 2 + 2  # k=2: the last layer and the head
    assert n["tfidf_logreg"] > 2 and n["scratch"] > 1_000_000  # the 30,522 x 64 token table


def test_runs_repeat_exactly_for_a_seed(tiny_task):
    for strategy in ("tfidf_logreg", "linear_probe", "scratch", "finetune_last_k"):
        a, b = (run_one(tiny_task, strategy, 4, 3, TINY)["accuracy"] for _ in range(2))
        assert a == b, strategy


def test_finetune_last_k_leaves_lower_layers_untouched(tiny_task, monkeypatch):
    trained = []
    original = tiny_task.make_model

    def keep(pretrained=True):
        trained.append(original(pretrained))
        return trained[-1]

    monkeypatch.setattr(tiny_task, "make_model", keep)
    run_one(tiny_task, "finetune_last_k", 4, 0, TINY)
    model, reference = trained[0], original(True)
    assert trainable_blocks(model) == ["layer1", "head"]
    blocks, ref_blocks = named_blocks(model), named_blocks(reference)
    for name in ("embeddings", "layer0"):
        for p, q in zip(blocks[name].parameters(), ref_blocks[name].parameters()):
            assert torch.equal(p.cpu(), q), name
    assert not all(torch.equal(p.cpu(), q) for p, q in
                   zip(blocks["layer1"].parameters(), ref_blocks["layer1"].parameters()))


def test_fine_tuning_copies_the_encoder(tiny_task):
    before = [p.clone() for p in tiny_task.encoder.model.parameters()]
    run_one(tiny_task, "finetune_all", 4, 0, TINY)
    assert all(torch.equal(a, b) for a, b in zip(before, tiny_task.encoder.model.parameters()))


def test_scratch_model_is_small_and_random(tiny_task):
    torch.manual_seed(0)
    model = tiny_task.make_model(pretrained=False)
    assert isinstance(model, TextClassifier) and list(named_blocks(model)) == ["embeddings", "layer0", "head"]
    assert model.backbone.config.hidden_size == 64


def test_unknown_strategy_names_the_real_ones(tiny_task):
    with pytest.raises(ValueError, match="tfidf_logreg"):
        run_one(tiny_task, "frozen", 4, 0, TINY)


def test_random_probe_explains_it_is_for_images(tiny_task):
    with pytest.raises(ValueError, match="tfidf_logreg"):
        run_one(tiny_task, "random_probe", 4, 0, TINY)


def test_tfidf_classifier_learns_words():
    clf = tfidf_classifier().fit(["good great fun", "bad awful dull"] * 3, [1, 0] * 3)
    assert clf.predict(["great fun", "awful"]).tolist() == [1, 0]


def test_settings_follow_the_profile():
    cpu = get_profile("cpu")
    settings = text_settings(cpu, k=4)
    assert settings.steps == cpu.text_finetune_steps and settings.k == 4
    assert settings.scratch_steps == cpu.text_scratch_steps


# ---------------------------------------------------------------- online paths, offline


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty cache and Hugging Face cache on a machine that says it is offline."""
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


@pytest.mark.parametrize("dataset, model, alternative", [
    ("sst2", "distilbert-base-uncased", "load('tweets')"),
    ("imdb", "roberta-base", "load('tweets')"),
    ("tweets", "bert-base-uncased", 'text_model("minilm")'),
    ("tweets", "gpt2", 'text_model("minilm")'),
])
def test_online_names_fail_fast_offline_naming_the_alternative(offline, dataset, model, alternative):
    start = time.perf_counter()
    with pytest.raises(OfflineError) as err:
        text_task(dataset, model=model, profile=get_profile("smoke"))
    assert time.perf_counter() - start < 10
    assert alternative in str(err.value) and "offline" in str(err.value)


def write_sst2(root: Path, n: int = 24) -> None:
    """A small SST-2 saved the way tlcourse saves the real one after its first download."""
    import datasets

    def part(k):
        sentences = [f"a joy , lovely and gripping {i}" if i % 2 else f"dull , slow and tedious {i}"
                     for i in range(k)]
        return datasets.Dataset.from_dict({"idx": list(range(k)), "sentence": sentences,
                                           "label": [i % 2 for i in range(k)]})

    data = datasets.DatasetDict({"train": part(n), "validation": part(n // 2)})
    data.save_to_disk(str(root / "hf" / "sst2"))


def test_online_path_runs_end_to_end_on_a_saved_dataset_and_a_local_model(offline, tiny_bert):
    """sst2 + a Hub-style model directory: the same code a learner with network runs."""
    write_sst2(offline / "cache")
    task = text_task("sst2", model=tiny_bert, profile=get_profile("smoke"))
    assert task.pool.labels.bincount().tolist() == [12, 12] and len(task.test) == 12
    results = compare(task, ["linear_probe", "finetune_last_k"], (4,), (0,), TINY, progress=False)
    assert results["accuracy"].between(0, 1).all() and len(results) == 2


def _tiny_gpt2_dir(path: Path) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers
    words = ["<|endoftext|>", "<unk>", "the", "cat", "sat", "on", "mat", "a", "dog", "good", "bad"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>",
                                                     unk_token="<unk>")
    tokenizer.save_pretrained(path)
    config = transformers.GPT2Config(vocab_size=len(words), n_embd=32, n_layer=2, n_head=2, n_positions=64)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    return str(path)


def test_gpt2_style_backbone_classifies_through_the_same_code(tmp_path):
    encoder = text_model(_tiny_gpt2_dir(tmp_path))
    texts = ["the cat sat on the mat", "a dog", "the dog sat", "a good cat", "a bad dog", "the mat"] * 2
    data = TextDataset(texts, [1, 0] * 6, ["negative", "positive"])
    task = TextTask("gpt2-tiny", data, data, encoder, max_length=16)
    model = task.make_model(True)
    assert list(named_blocks(model)) == ["embeddings", "layer0", "layer1", "head"]  # head: ln_f + linear
    results = compare(task, ["linear_probe", "finetune_last_k", "scratch"], (2,), (0,), TINY,
                      progress=False)
    assert isinstance(results, pd.DataFrame) and len(results) == 3


def test_freeze_panel_fine_tunes_transformer_layers_headlessly(tiny_task):
    from tlcourse.widgets import FreezePanel

    panel = FreezePanel.from_task(tiny_task, 10, 10, scratch=False, steps=3, batch_size=8)
    assert panel.blocks == ["embeddings", "layer0", "layer1", "head"]
    row = panel.train(trainable=["layer1", "head"], lr=1e-3)
    assert row["trainable_blocks"] == "layer1, head" and 0 <= row["best_val_accuracy"] <= 1
    assert trainable_blocks(panel.model) == ["layer1", "head"]


def test_validation_task_of_tweets_runs_the_text_baselines_on_held_out_pool_tweets(smoke_task):
    from tlcourse.experiments import compare, validation_task

    val = validation_task(smoke_task, 20)
    assert val.test.labels.bincount().tolist() == [20, 20]
    assert set(val.test.texts) <= set(smoke_task.pool.texts)
    assert not set(val.test.texts) & set(val.pool.texts)
    results = compare(val, ["tfidf_logreg", "linear_probe"], [10], [0], text_settings(get_profile("smoke")),
                      progress=False)
    assert results["accuracy"].between(0, 1).all() and len(results) == 2
    ids, labels = val.test_data()
    assert torch.equal(labels, val.test.labels) and len(ids) == 40
