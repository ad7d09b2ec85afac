"""The frozen prefix computed once: the cut model computes what the whole model computes, the
top trains the model's own weights, and finetune_last_k gives the same result with and without it."""
import dataclasses

import pytest
import torch
from torch import nn

from tlcourse import get_profile
from tlcourse.experiments import Settings, run_one
from tlcourse.freeze import last_blocks, named_blocks, set_trainable
from tlcourse.models import SmallCNN, pretrained
from tlcourse.models.text import TextClassifier
from tlcourse.prefix import pack_tokens, split_model, stages, unpack_tokens
from tlcourse.train import predict
from tlcourse.tasks import digits_task


def tiny_bert(layers: int = 3) -> TextClassifier:
    """A small random BERT classifier (pad id 0): fast, and the same code path as MiniLM."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, pad_token_id=0)
    torch.manual_seed(0)
    return TextClassifier(BertModel(config, add_pooling_layer=False), 2, pad_token_id=0)


def token_ids(n: int = 6, width: int = 12) -> torch.Tensor:
    """Texts of different lengths, padded on the right with 0."""
    torch.manual_seed(1)
    ids = torch.randint(1, 50, (n, width))
    for row, length in enumerate(torch.linspace(2, width - 3, n).long()):
        ids[row, length:] = 0
    return ids


def cut_everywhere(model: nn.Module, x: torch.Tensor):
    """(block, largest difference between model(x) and suffix(prefix(x))) for every cut."""
    model.eval()
    with torch.no_grad():
        expected = model(x)
        for k in range(1, len(named_blocks(model))):
            set_trainable(model, last_blocks(model, k))
            prefix, suffix = split_model(model, last_blocks(model, k)[0])
            got = suffix(predict(prefix, x, batch_size=4))
            yield last_blocks(model, k)[0], (got - expected).abs().max().item()


@pytest.mark.parametrize("build, x", [
    (lambda: SmallCNN(num_classes=10), torch.rand(6, 1, 32, 32)),
    pytest.param(lambda: pretrained("efficientnet_lite0", num_classes=3, weights=False), torch.rand(2, 3, 32, 32),
                 marks=pytest.mark.slow),  # nine cuts of a 4.7M-parameter network: about 5 s
    (lambda: tiny_bert(), token_ids()),
], ids=["small_cnn", "lite0", "bert"])
def test_the_cut_model_computes_what_the_whole_model_computes(build, x):
    torch.manual_seed(0)
    for block, difference in cut_everywhere(build(), x):
        assert difference < 1e-5, f"cut at {block}: outputs differ by {difference}"


@pytest.mark.slow  # about 3 s
def test_a_resnet_cuts_the_same_way():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(num_classes=4)
    assert list(stages(model)) == list(named_blocks(model))
    for block, difference in cut_everywhere(model, torch.rand(2, 3, 64, 64)):
        assert difference < 1e-5, block


def test_text_padding_is_masked_out_of_the_cached_tokens():
    model, ids = tiny_bert(), token_ids()
    set_trainable(model.eval(), last_blocks(model, 2))
    prefix, suffix = split_model(model, "layer2")
    packed = predict(prefix, ids, batch_size=2)  # the layers cut each batch to its own longest text
    assert packed.shape == (6, ids.shape[1], 16 + 1)
    hidden, mask = unpack_tokens(packed)
    assert torch.equal(mask.sum(1), (ids != 0).sum(1))
    unmasked = pack_tokens(hidden, torch.ones_like(mask))
    with torch.no_grad():  # without the mask, padding would change every prediction
        assert not torch.allclose(suffix(unmasked), model(ids), atol=1e-4)


def test_the_top_trains_the_models_own_weights_and_the_prefix_stays():
    model = SmallCNN(num_classes=10)
    set_trainable(model, ["block3", "head"])
    prefix, top = split_model(model, "block3")
    assert [name for name, _ in top.named_children()] == ["block3", "head"]  # the freeze helpers' names
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(top.parameters(), lr=0.1)
    loss = top(predict(prefix, torch.rand(4, 1, 32, 32))).sum()
    loss.backward()
    optimizer.step()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(n.startswith(("block3", "head")) for n in moved)


def test_a_trainable_block_below_the_cut_or_an_unknown_model_is_refused():
    model = SmallCNN(num_classes=10)
    with pytest.raises(ValueError, match="must be frozen"):
        split_model(model, "block3")  # nothing frozen yet
    with pytest.raises(ValueError, match="its blocks are"):
        split_model(model, "block9")
    with pytest.raises(ValueError, match="Train the whole model"):
        stages(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)))


@pytest.fixture(scope="module")
def digits():
    return digits_task(get_profile("smoke"))


def test_finetune_last_k_gives_the_same_result_with_the_prefix_cached(digits):
    """SmallCNN has no dropout and its frozen BatchNorms keep their statistics, so computing the
    frozen blocks once changes nothing but the time."""
    settings = Settings(steps=6, batch_size=8, k=2)
    cached = run_one(digits, "finetune_last_k", 2, 0, settings)
    plain = run_one(digits, "finetune_last_k", 2, 0, dataclasses.replace(settings, cache_frozen=False))
    assert abs(cached["accuracy"] - plain["accuracy"]) <= 1 / len(digits.test)
    assert cached["trainable_parameters"] == plain["trainable_parameters"]
    assert set(vars(digits)["_frozen_test"]) == {2}  # the test set went through the prefix once


def test_batchnorm_that_learns_statistics_is_not_cached(digits, monkeypatch):
    import tlcourse.experiments as experiments

    def refuse(*args, **kwargs):
        raise AssertionError("the prefix must not be cached when frozen BatchNorms update")

    monkeypatch.setattr(experiments, "_fit_top", refuse)
    run_one(digits, "finetune_last_k", 1, 0, Settings(steps=2, batch_size=8, bn_policy="train_all"))
