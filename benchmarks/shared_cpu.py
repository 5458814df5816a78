"""Training-step time at batch 4 with 1 and 2 threads, alone and beside a busy process.

The measurement behind training on one thread for tiny CPU batches:
    python benchmarks/shared_cpu.py
"""

import multiprocessing
import time

import torch
import torch.nn as nn

from cifarctl.models.net.network import Net


def busy() -> None:
    while True:
        pass


def ms_per_step(threads: int, steps: int = 400) -> float:
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = False
    net, criterion = Net(), nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    inputs, targets = torch.randn(steps * 4, 3, 32, 32), torch.randint(0, 10, (steps * 4,))

    def step(index: int) -> None:
        optimizer.zero_grad()
        criterion(net(inputs[index * 4 : index * 4 + 4]), targets[index * 4 : index * 4 + 4]).backward()
        optimizer.step()

    for index in range(20):
        step(index)
    started = time.perf_counter()
    for index in range(steps):
        step(index)
    return 1000 * (time.perf_counter() - started) / steps


if __name__ == "__main__":
    print("| CPU | 1 thread ms/step | 2 threads ms/step |")
    print("|---|---|---|")
    print(f"| idle | {ms_per_step(1):.2f} | {ms_per_step(2):.2f} |")
    neighbour = multiprocessing.Process(target=busy, daemon=True)
    neighbour.start()
    time.sleep(0.5)
    try:
        print(f"| one busy process beside it | {ms_per_step(1):.2f} | {ms_per_step(2, steps=100):.2f} |")
    finally:
        neighbour.terminate()
