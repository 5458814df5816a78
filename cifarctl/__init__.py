"""cifarctl: PyTorch's CIFAR-10 tutorial as a command-line toolkit."""

__version__ = "0.1.0"
