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
