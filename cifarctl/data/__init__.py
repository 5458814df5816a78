"""CIFAR-10 on disk and in memory: fetch, import, verify, cache and batch."""
