"""Freeze helpers checked against what actually happens: requires_grad, optimizer state, buffers."""
import pytest
import timm
import torch
import torchvision
from torch import nn

from tlcourse import freeze
from tlcourse.models import SmallCNN
from tlcourse.train import fit


def _models():
    torch.manual_seed(0)
    return {
        "small_cnn": SmallCNN(num_classes=10),
        "lite0": timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=3),
        "resnet18": torchvision.models.resnet18(num_classes=3),
    }


EXPECTED_BLOCKS = {
    "small_cnn": ["stem", "block1", "block2", "block3", "head"],
    "lite0": ["stem"] + [f"stage{i}" for i in range(1, 8)] + ["neck", "head"],
    "resnet18": ["stem", "layer1", "layer2", "layer3", "layer4", "head"],
}


@pytest.mark.parametrize("name", EXPECTED_BLOCKS)
def test_blocks_are_named_in_order_and_cover_every_parameter(name):
    model = _models()[name]
    blocks = freeze.named_blocks(model)
    assert list(blocks) == EXPECTED_BLOCKS[name]
    in_blocks = {id(p) for b in blocks.values() for p in b.parameters()}
    assert in_blocks == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("name", EXPECTED_BLOCKS)
def test_set_trainable_matches_requires_grad(name):
    model = _models()[name]
    blocks = freeze.named_blocks(model)
    freeze.set_trainable(model, freeze.last_blocks(model, 2))
    for block_name, block in blocks.items():
        expected = block_name in EXPECTED_BLOCKS[name][-2:]
        assert all(p.requires_grad == expected for p in block.parameters()), block_name
    assert freeze.trainable_blocks(model) == EXPECTED_BLOCKS[name][-2:]
    summary = freeze.trainable_summary(model)
    assert summary["trainable"].sum() == freeze.count_parameters(model, trainable_only=True)
    assert summary["parameters"].sum() == freeze.count_parameters(model)


def test_freeze_and_unfreeze_named_blocks():
    model = _models()["small_cnn"]
    freeze.freeze(model, ["stem", "block1"])
    assert freeze.trainable_blocks(model) == ["block2", "block3", "head"]
    freeze.unfreeze(model, ["block1"])
    assert freeze.trainable_blocks(model) == ["block1", "block2", "block3", "head"]
    freeze.freeze(model)
    assert freeze.trainable_blocks(model) == []
    freeze.unfreeze(model)
    assert freeze.count_parameters(model, True) == freeze.count_parameters(model)


def test_unknown_block_names_list_the_real_ones():
    with pytest.raises(ValueError, match="block1"):
        freeze.freeze(_models()["small_cnn"], ["layer4"])


def test_param_groups_hold_only_trainable_parameters_with_discriminative_rates():
    model = _models()["small_cnn"]
    freeze.set_trainable(model, ["block2", "block3", "head"])
    groups = freeze.param_groups(model, lr=1e-2, decay=0.5)
    assert [g["name"] for g in groups] == ["block2", "block3", "head"]
    assert [g["lr"] for g in groups] == pytest.approx([2.5e-3, 5e-3, 1e-2])
    held = {id(p) for g in groups for p in g["params"]}
    assert held == {id(p) for p in model.parameters() if p.requires_grad}
    freeze.freeze(model)
    with pytest.raises(ValueError, match="unfreeze"):
        freeze.param_groups(model, lr=1e-3)


def _bn_buffers(module):
    return {n: b.clone() for n, b in module.named_buffers()}


def _fit_head_only(bn_policy):
    torch.manual_seed(0)
    model = SmallCNN(num_classes=4)
    x, y = torch.rand(64, 1, 32, 32), torch.randint(0, 4, (64,))
    freeze.set_trainable(model, ["head"])
    before = {n: p.clone() for n, p in model.named_parameters()}
    buffers = _bn_buffers(model)
    fit(model, (x, y), epochs=2, lr=1e-2, batch_size=16, bn_policy=bn_policy, progress=False)
    return model, before, buffers


def test_frozen_weights_and_batchnorm_statistics_stay_bit_identical():
    model, before, buffers = _fit_head_only("frozen_eval")
    for name, param in model.named_parameters():
        if name.startswith("head"):
            assert not torch.equal(param, before[name]), "the head should have learned"
        else:
            assert torch.equal(param, before[name]), name
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, buffers[name]), name


def test_train_all_policy_lets_frozen_batchnorm_statistics_drift():
    model, _, buffers = _fit_head_only("train_all")
    drifted = [n for n, b in model.named_buffers() if "running_mean" in n and not torch.equal(b, buffers[n])]
    assert drifted, "with train_all, BatchNorm running means change even in frozen blocks"


def test_bn_policy_modes():
    model = _models()["small_cnn"]
    freeze.set_trainable(model, ["head", "block3"])
    bns = {n: m for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    freeze.apply_bn_policy(model.train(), "frozen_eval")
    assert all(m.training == n.startswith("block3") for n, m in bns.items())
    freeze.apply_bn_policy(model.train(), "eval_all")
    assert not any(m.training for m in bns.values())
    with pytest.raises(ValueError, match="frozen_eval"):
        freeze.apply_bn_policy(model, "sometimes")


def test_is_batchnorm_finds_every_layer_with_running_statistics():
    for name, model in _models().items():
        with_stats = {n for n, m in model.named_modules() if hasattr(m, "running_mean")}
        assert {n for n, m in model.named_modules() if freeze.is_batchnorm(m)} == with_stats, name
    assert not freeze.is_batchnorm(nn.LayerNorm(4)) and not freeze.is_batchnorm(nn.GroupNorm(2, 4))


@pytest.mark.parametrize("name", ["small_cnn", "lite0"])
def test_frozen_batchnorms_in_train_mode_names_the_blocks_whose_statistics_would_drift(name):
    model = _models()[name]
    trained = freeze.last_blocks(model, 2)
    freeze.set_trainable(model, trained)
    frozen_with_bn = [n for n, b in freeze.named_blocks(model).items()
                      if n not in trained and any(isinstance(m, nn.BatchNorm2d) for m in b.modules())]
    assert freeze.frozen_batchnorms_in_train_mode(model.train()) == frozen_with_bn
    assert freeze.frozen_batchnorms_in_train_mode(freeze.apply_bn_policy(model, "frozen_eval")) == []
    model.train()
    assert freeze.frozen_batchnorms_in_train_mode(freeze.apply_bn_policy(model, "train_all")) == frozen_with_bn
    assert freeze.frozen_batchnorms_in_train_mode(model.eval()) == []


# ---------------------------------------------------------------- transformer layers


def _tiny_transformers():
    """Tiny randomly initialised BERT, DistilBERT, GPT-2 and the course's TextClassifier."""
    import transformers

    from tlcourse.models.text import TextClassifier, drop_pooler

    torch.manual_seed(0)
    bert = transformers.BertModel(transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=37))
    distil = transformers.DistilBertModel(transformers.DistilBertConfig(
        vocab_size=100, dim=32, n_layers=3, n_heads=2, hidden_dim=37))
    gpt2 = transformers.GPT2Model(transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=3, n_head=2))
    classifier = TextClassifier(drop_pooler(transformers.BertModel(bert.config)), 2, pad_token_id=0)
    return {"bert": bert, "distilbert": distil, "gpt2": gpt2, "classifier": classifier}


LAYERS = ["embeddings", "layer0", "layer1", "layer2"]


@pytest.mark.parametrize("name", ["bert", "distilbert", "gpt2", "classifier"])
def test_transformers_are_named_embeddings_layers_head_and_cover_every_parameter(name):
    model = _tiny_transformers()[name]
    blocks = freeze.named_blocks(model)
    assert list(blocks) == (LAYERS if name == "distilbert" else LAYERS + ["head"])  # DistilBERT: no pooler
    in_blocks = [id(p) for b in blocks.values() for p in b.parameters()]
    assert sorted(in_blocks) == sorted(id(p) for p in model.parameters())  # each exactly once


def test_freezing_the_lower_transformer_layers_sets_requires_grad_and_the_optimizer_groups():
    model = _tiny_transformers()["classifier"]
    freeze.set_trainable(model, freeze.last_blocks(model, 3))  # layer1, layer2, head
    for name, module in model.named_modules():
        if name.startswith("backbone.encoder.layer.") and name.count(".") == 3:
            layer = int(name.split(".")[-1])
            assert all(p.requires_grad == (layer >= 1) for p in module.parameters()), name
    assert not any(p.requires_grad for p in model.backbone.embeddings.parameters())
    groups = freeze.param_groups(model, lr=1e-3, decay=0.5)
    assert [g["name"] for g in groups] == ["layer1", "layer2", "head"]
    assert [g["lr"] for g in groups] == pytest.approx([2.5e-4, 5e-4, 1e-3])
    held = {id(p) for g in groups for p in g["params"]}
    assert held == {id(p) for p in model.parameters() if p.requires_grad}


def test_frozen_transformer_layers_stay_bit_identical_after_training():
    model = _tiny_transformers()["classifier"]
    freeze.set_trainable(model, ["layer2", "head"])
    before = {n: p.clone() for n, p in model.named_parameters()}
    ids = torch.randint(1, 100, (32, 12))
    fit(model, (ids, torch.randint(0, 2, (32,))), epochs=2, lr=1e-2, batch_size=8, progress=False)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert all(n.startswith(("backbone.encoder.layer.2.", "head.")) for n in moved), moved
    assert any(n.startswith("backbone.encoder.layer.2.") for n in moved) and "head.weight" in moved
