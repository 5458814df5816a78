"""The usual ResNet-18 recipe for CIFAR-10.

Nesterov SGD (momentum 0.9, weight decay 5e-4), a per-step one-cycle schedule peaking at
0.1, random 32x32 crops of the 4-pixel-padded image with horizontal flips, batch 128,
30 epochs: about 94-95 % on the official test set on a GPU.
"""

from cifarctl.recipes import Recipe

RECIPE = Recipe(
    name="resnet",
    epochs=30,
    batch_size=128,
    lr=0.1,
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    optimizer="sgd",
    schedule="onecycle",
    warmup=0.15,
    augment="crop-flip",
    precision="auto",
    epoch_report=True,
    log_every=100,
)
