"""The course's own small CNN: what we pretrain on rendered letters and then transfer.

Four conv blocks and a linear head, each a named attribute, so freezing "everything up to
block2" is one line and the learner can point at each piece of the network by name.
"""
from __future__ import annotations

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int, pool: bool) -> nn.Sequential:
    """3x3 conv -> BatchNorm -> ReLU, then 2x2 max-pool when ``pool`` (halves the side)."""
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),  # BN has the bias
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """A ~0.4M-parameter CNN for small grey or colour images (built for 32x32, fine on 28x28).

    Children, in the order the input flows through them (shapes for a 32x32 input)::

        stem    conv  in_channels -> width, then max-pool    (N, w,  16, 16)
        block1  conv  width  -> 2*width, then max-pool       (N, 2w,  8,  8)
        block2  conv  2*width -> 4*width, then max-pool      (N, 4w,  4,  4)
        block3  conv  4*width -> 8*width, keeps the side     (N, 8w,  4,  4)
        head    Linear(8*width, num_classes) after global average pooling

    Pooling early keeps a training step cheap on a laptop CPU (about 14M multiply-adds per
    32x32 image) while every block still sees a wider patch than the one before: early blocks
    see strokes and edges, later blocks most of the character. That is why transfer usually
    keeps the early blocks.
    """

    def __init__(self, num_classes: int = 26, in_channels: int = 1, width: int = 32):
        super().__init__()
        self.stem = conv_block(in_channels, width, pool=True)
        self.block1 = conv_block(width, 2 * width, pool=True)
        self.block2 = conv_block(2 * width, 4 * width, pool=True)
        self.block3 = conv_block(4 * width, 8 * width, pool=False)
        self.num_features = 8 * width  # length of the vector the head reads
        self.head = nn.Linear(self.num_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features before the head: (N, C, H, W) images -> (N, num_features)."""
        x = self.block3(self.block2(self.block1(self.stem(x))))
        # Averaging over the spatial grid (not flattening) makes the head independent of
        # the input side, so 28x28 and 32x32 images both work.
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (logits): (N, C, H, W) images -> (N, num_classes)."""
        return self.head(self.features(x))
