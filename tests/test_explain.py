"""Grad-CAM: the heatmap sits where the evidence for the asked class is, and the model is left alone."""
import pytest
import torch
from torch import nn

from tlcourse.explain import grad_cam
from tlcourse.models import SmallCNN, pretrained


class TwoBlobs(nn.Module):
    """Class 0 reads channel 0, class 1 reads channel 1 (a 1x1 identity conv, then the means)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, kernel_size=1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        self.head = nn.Flatten(2)

    def forward(self, x):
        return self.head(self.conv(x)).mean(dim=2)


def blob_image() -> torch.Tensor:
    image = torch.zeros(1, 2, 16, 16)
    image[0, 0, 2:5, 2:5] = 1  # class 0's evidence, top left
    image[0, 1, 11:14, 11:14] = 1  # class 1's evidence, bottom right
    return image


@pytest.mark.parametrize("target, peak", [(0, (3, 3)), (1, (12, 12))])
def test_the_heatmap_sits_on_the_evidence_for_the_asked_class(target, peak):
    cam = grad_cam(TwoBlobs(), blob_image(), "conv", target=target)
    assert cam.shape == (1, 16, 16) and cam.min() >= 0 and cam.max() == pytest.approx(1)
    row, col = divmod(int(cam[0].argmax()), 16)
    assert abs(row - peak[0]) <= 1 and abs(col - peak[1]) <= 1
    other = (12, 12) if target == 0 else (3, 3)
    assert cam[0, other[0], other[1]] < 0.05


def test_the_predicted_class_is_explained_by_default_and_the_model_is_untouched():
    model = SmallCNN(num_classes=10).train()
    before = [p.detach().clone() for p in model.parameters()]
    images = torch.rand(3, 1, 32, 32)
    cam = grad_cam(model, images, "block3")
    assert cam.shape == (3, 32, 32) and torch.isfinite(cam).all()
    assert model.training and all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
    predicted = model.eval()(images).argmax(1)
    assert torch.allclose(cam, grad_cam(model, images, "block3", target=predicted))


def test_a_block_the_forward_pass_never_calls_is_refused_with_a_way_out():
    model = pretrained("efficientnet_lite0", num_classes=2, weights=False)
    with pytest.raises(ValueError, match="choose a block before or after"):
        grad_cam(model, torch.rand(1, 3, 32, 32), "neck")  # conv_head and bn2, grouped only by name
    assert grad_cam(model, torch.rand(1, 3, 32, 32), "stage7").shape == (1, 32, 32)
    with pytest.raises(ValueError, match="its blocks are"):
        grad_cam(model, torch.rand(1, 3, 32, 32), "stage9")


def test_a_frozen_block_can_still_be_explained():
    model = TwoBlobs()
    model.conv.weight.requires_grad_(False)  # nothing below the block needs a gradient
    cam = grad_cam(model, blob_image(), "conv", target=1)
    row, col = divmod(int(cam[0].argmax()), 16)
    assert abs(row - 12) <= 1 and abs(col - 12) <= 1
    assert not model.conv.weight.requires_grad
