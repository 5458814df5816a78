"""How fast can this CPU train an airbench94-shaped network? Input for the `--model fast` issue.

Times training steps (forward, loss, backward, SGD) of a network with airbench94's shape
(2x2 whitening conv to 24 channels, then conv blocks of 64, 256, 256 channels with
BatchNorm and GELU, max-pooling in each block) at batch 256, in fp32 and under bf16
autocast, and extrapolates to the published recipe's ~10 epochs of 50,000 images.
    python benchmarks/fast_recipe_feasibility.py
"""

import time

import torch
import torch.nn as nn


def block(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding="same", bias=False), nn.MaxPool2d(2),
        nn.BatchNorm2d(channels_out), nn.GELU(),
        nn.Conv2d(channels_out, channels_out, 3, padding="same", bias=False),
        nn.BatchNorm2d(channels_out), nn.GELU(),
    )


def network() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 24, 2), nn.GELU(), block(24, 64), block(64, 256), block(256, 256),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(256, 10, bias=False),
    ).to(memory_format=torch.channels_last)


def images_per_second(bf16: bool, batch_size: int = 256, steps: int = 4) -> float:
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    inputs = torch.randn(batch_size, 3, 32, 32).to(memory_format=torch.channels_last)
    targets = torch.randint(0, 10, (batch_size,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(model(inputs), targets, label_smoothing=0.2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - started)


if __name__ == "__main__":
    for bf16 in (False, True):
        rate = images_per_second(bf16)
        minutes = 10 * 50_000 / rate / 60
        print(f"{'bf16 autocast' if bf16 else 'fp32'}: {rate:,.0f} images/s -> about {minutes:.0f} min "
              "for 10 epochs of 50,000 images")
