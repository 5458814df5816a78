"""CIFAR-10 in memory: the epoch order is reproducible for any seed the config accepts."""

import pytest
import torch

from cifarctl.config import MAX_SEED
from cifarctl.data.memory import epoch_permutation, epoch_seed


@pytest.mark.parametrize("seed", [0, 1, 2**31, 92_233_720_368_547, 10**15, MAX_SEED])
def test_any_accepted_seed_gives_a_permutation(seed):
    order = epoch_permutation(50, seed, epoch=3)
    assert sorted(order.tolist()) == list(range(50))
    assert torch.equal(order, epoch_permutation(50, seed, epoch=3))


def test_seeds_that_fitted_before_shuffle_as_they_did():
    """Checkpoints of earlier runs must resume with the same order."""
    for seed, epoch in [(0, 0), (3, 1), (2**31 - 1, 7)]:
        assert epoch_seed(seed, epoch) == seed * 100_003 + epoch


def test_different_epochs_shuffle_differently():
    assert not torch.equal(epoch_permutation(50, MAX_SEED, 0), epoch_permutation(50, MAX_SEED, 1))
