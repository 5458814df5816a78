"""The net model family: its network and hooks are in network.py."""
