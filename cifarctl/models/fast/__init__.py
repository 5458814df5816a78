"""The fast model family: its network and hooks are in network.py."""
