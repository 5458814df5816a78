"""torchvision's ResNet-18 with the stem CIFAR-10 users give it.

ImageNet's stem (7x7 conv with stride 2, then max-pooling) shrinks a 32x32 image to 8x8
before the first residual block; the usual CIFAR variant uses a 3x3 conv with stride 1 and
no max-pooling, so the blocks see 32, 16, 8 and 4 pixel feature maps.
"""

from __future__ import annotations

import torch.nn as nn
from torchvision.models import resnet18


def build(num_classes: int = 10) -> nn.Module:
    model = resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model
