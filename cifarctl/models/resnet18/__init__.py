"""torchvision's ResNet-18 with the CIFAR stem (the torch code is in network.py), and its usual recipe."""

from cifarctl.models.registry import Family
from cifarctl.recipes import Recipe

# The usual ResNet-18 recipe for CIFAR-10: Nesterov SGD (momentum 0.9, weight decay 5e-4), a
# per-step one-cycle schedule peaking at 0.1, random crops of the 4-pixel-padded image with
# flips, batch 128, 30 epochs: about 94-95 % on the official test set on a GPU.
FAMILY = Family(
    name="resnet18",
    title="ResNet-18",
    summary="torchvision's ResNet-18 with the CIFAR stem (3x3 conv, stride 1, no max-pool), 11.2M parameters",
    recipe=Recipe(name="resnet", epochs=30, batch_size=128, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
                  optimizer="sgd", schedule="onecycle", warmup=0.15, augment="crop-flip", precision="auto",
                  epoch_report=True, log_every=100),
    cpu_note="slow on a CPU: about 40 images/s on 2 cores, meant for a GPU",
    images_per_second_cpu=40.0,
    head="fc", explain_layer="layer4",
    search_space=("lr=0.02:0.4:log", "weight_decay=1e-4:2e-3:log", "label_smoothing=0:0.2"),  # `tune`'s default
)
