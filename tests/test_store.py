"""The dataset store: fast cached loading, damage detection, and safe unpickling."""

import pickle

import numpy as np
import pytest

from cifarctl.data.safe_pickle import UnsafePickleError, load_batch
from cifarctl.data.store import STATE_FOLDER, batches_folder, load_arrays
from cifarctl.errors import DatasetCorruptError, DatasetMissingError


def test_loads_the_cached_arrays(data_dir):
    images, labels = load_arrays(data_dir, "train")
    assert images.dtype == np.uint8 and images.shape == (300, 3, 32, 32)
    assert labels.dtype == np.int64 and labels.shape == (300,)
    test_images, _ = load_arrays(data_dir, "test")
    assert test_images.shape == (100, 3, 32, 32)


def test_arrays_match_the_official_layout(data_dir, fake_batches):
    """Row-major 3072 bytes per image, red plane first, as the official batches store them."""
    document = pickle.loads((fake_batches / "data_batch_1").read_bytes())
    images, _ = load_arrays(data_dir, "train")
    assert np.array_equal(images[0].reshape(-1), document["data"][0])


def test_missing_dataset_is_named_with_the_fix(tmp_path):
    with pytest.raises(DatasetMissingError, match="run 'cifarctl download'"):
        load_arrays(tmp_path / "empty", "train")


def test_truncated_data_file_is_named_as_corrupt(data_dir):
    path = batches_folder(data_dir) / "data_batch_3"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DatasetCorruptError, match=r"data_batch_3 is truncated or corrupt.*download --force"):
        load_arrays(data_dir, "train")


def test_changed_bytes_are_caught_by_the_checksum(data_dir):
    path = batches_folder(data_dir) / "test_batch"
    content = bytearray(path.read_bytes())
    content[-100] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(DatasetCorruptError, match="test_batch is corrupt"):
        load_arrays(data_dir, "test")


def test_a_touched_but_intact_file_is_accepted(data_dir):
    path = batches_folder(data_dir) / "data_batch_1"
    path.touch()
    images, _ = load_arrays(data_dir, "train")
    assert len(images) == 300


def test_damaged_cache_is_rebuilt(data_dir):
    cache = batches_folder(data_dir) / STATE_FOLDER / "train_images.npy"
    cache.write_bytes(b"garbage")
    images, _ = load_arrays(data_dir, "train")
    assert images.shape == (300, 3, 32, 32)
    assert cache.stat().st_size > 1000


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_booby_trapped_batch_never_runs_code(tmp_path):
    payload = pickle.dumps({"data": _Boom(), "labels": [0]}, protocol=2)
    with pytest.raises(UnsafePickleError, match="refusing to load posix.system"):
        load_batch(payload)
    assert not (tmp_path / "PWNED").exists()


def test_booby_trapped_dataset_file_is_reported_as_corrupt(tmp_path, fake_batches, cli):
    import shutil

    evil = tmp_path / "evil"
    shutil.copytree(fake_batches, evil)
    (evil / "data_batch_2").write_bytes(pickle.dumps({"data": _Boom(), "labels": [0]}, protocol=2))
    result = cli("download", "--from", str(evil))
    assert result.exit_code == 1
    assert f"data file {evil}/data_batch_2 is truncated or corrupt (refusing to load posix.system)" in result.stderr
    assert "get a fresh copy" in result.stderr
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()


def test_train_and_evaluate_refuse_to_download_with_no_download(cli, tmp_path):
    result = cli("preview", "--no-download")
    assert result.exit_code == 1
    assert "no CIFAR-10 found in data; run 'cifarctl download'" in result.stderr
