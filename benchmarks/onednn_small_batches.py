"""Images per second of Net training steps with oneDNN on/off and 1/2 threads, by batch size.

This is the measurement behind `SMALL_CPU_BATCH` in cifarctl/training/loop.py:
    python benchmarks/onednn_small_batches.py
"""

import time

import torch
import torch.nn as nn

from cifarctl.models.net.network import Net

inputs = torch.randn(4096, 3, 32, 32)
targets = torch.randint(0, 10, (4096,))


def images_per_second(batch_size: int, onednn: bool, threads: int) -> float:
    torch.backends.mkldnn.enabled = onednn
    torch.set_num_threads(threads)
    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    steps = max(20, 1200 // batch_size)

    def run(count: int) -> None:
        for index in range(count):
            start = (index * batch_size) % (4096 - batch_size)
            optimizer.zero_grad()
            loss = criterion(net(inputs[start : start + batch_size]), targets[start : start + batch_size])
            loss.backward()
            optimizer.step()
            loss.item()

    run(10)
    started = time.perf_counter()
    run(steps)
    return steps * batch_size / (time.perf_counter() - started)


print("| batch | oneDNN, 1 thread | oneDNN, 2 threads | plain, 1 thread | plain, 2 threads |")
print("|---|---|---|---|---|")
for batch_size in (4, 16, 64, 256):
    cells = [f"{images_per_second(batch_size, onednn, threads):,.0f}" for onednn in (True, False) for threads in (1, 2)]
    print(f"| {batch_size} | " + " | ".join(cells) + " |")
