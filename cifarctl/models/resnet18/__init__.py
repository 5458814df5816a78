"""The resnet18 model family: its network and hooks are in network.py."""
