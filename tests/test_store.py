"""The dataset store: fast cached loading, damage detection, and safe unpickling."""

import json
import os
import pickle

import numpy as np
import pytest

from cifarctl.data.catalog import locate
from cifarctl.data.manifest import STATE_FOLDER
from cifarctl.data.safe_pickle import UnsafePickleError, load_batch
from cifarctl.data.store import batches_folder, load_arrays
from cifarctl.errors import DatasetCorruptError, DatasetMissingError


def test_loads_the_cached_arrays(data_dir):
    images, labels = load_arrays(locate(data_dir), "train")
    assert images.dtype == np.uint8 and images.shape == (300, 3, 32, 32)
    assert labels.dtype == np.int64 and labels.shape == (300,)
    test_images, _ = load_arrays(locate(data_dir), "test")
    assert test_images.shape == (100, 3, 32, 32)


def test_arrays_match_the_official_layout(data_dir, fake_batches):
    """Row-major 3072 bytes per image, red plane first, as the official batches store them."""
    document = pickle.loads((fake_batches / "data_batch_1").read_bytes())
    images, _ = load_arrays(locate(data_dir), "train")
    assert np.array_equal(images[0].reshape(-1), document["data"][0])


def test_missing_dataset_is_named_with_the_fix(tmp_path):
    with pytest.raises(DatasetMissingError, match="run 'cifarctl download'"):
        load_arrays(locate(tmp_path / "empty"), "train")


def test_truncated_data_file_is_named_as_corrupt(data_dir):
    path = batches_folder(data_dir) / "data_batch_3"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DatasetCorruptError, match=r"data_batch_3 is truncated or corrupt.*download --force"):
        load_arrays(locate(data_dir), "train")


def test_changed_bytes_are_caught_by_the_checksum(data_dir):
    path = batches_folder(data_dir) / "test_batch"
    content = bytearray(path.read_bytes())
    content[-100] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(DatasetCorruptError, match="test_batch is corrupt"):
        load_arrays(locate(data_dir), "test")


def test_a_touched_but_intact_file_is_accepted(data_dir):
    path = batches_folder(data_dir) / "data_batch_1"
    path.touch()
    images, _ = load_arrays(locate(data_dir), "train")
    assert len(images) == 300


def test_damaged_cache_is_rebuilt(data_dir):
    cache = batches_folder(data_dir) / STATE_FOLDER / "train_images.npy"
    cache.write_bytes(b"garbage")
    images, _ = load_arrays(locate(data_dir), "train")
    assert images.shape == (300, 3, 32, 32)
    assert cache.stat().st_size > 1000


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_booby_trapped_batch_never_runs_code(tmp_path):
    payload = pickle.dumps({"data": _Boom(), "labels": [0]}, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"refusing to load posix\.system"):
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


# --- a folder without its manifest ------------------------------------------------------------

def _copy_without_state(fake_batches, tmp_path):
    """What `cp cifar-10-batches-py/* data/cifar-10-batches-py/` does: the hidden .cifarctl/ stays behind."""
    import shutil

    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for path in fake_batches.iterdir():
        shutil.copy2(path, folder)
    return tmp_path / "data"


def test_a_copied_folder_that_is_not_official_is_validated_by_content(fake_batches, tmp_path, cli):
    from cifarctl.data.acquire import present_dataset
    from cifarctl.data.store import UNOFFICIAL_SOURCE

    data = _copy_without_state(fake_batches, tmp_path)
    report = present_dataset(locate(data))  # checked against the real official MD5s, which it fails
    assert report is not None and report.source == UNOFFICIAL_SOURCE
    assert report.counts == {"train": 300, "test": 100}
    assert (batches_folder(data) / STATE_FOLDER / "manifest.json").is_file()
    assert cli("preview", "--no-download", "--seed", "1").exit_code == 0


def test_a_copied_folder_with_a_bad_file_is_still_refused(fake_batches, tmp_path):
    data = _copy_without_state(fake_batches, tmp_path)
    _write_batch(batches_folder(data) / "data_batch_2", labels=[10] * 60)
    with pytest.raises(DatasetCorruptError, match="data_batch_2 has labels"):
        load_arrays(locate(data), "train")


# --- labels out of range --------------------------------------------------------------------

def _write_batch(path, labels, count=None):
    count = len(labels) if count is None else count
    document = {"data": np.zeros((count, 3072), np.uint8), "labels": labels, "batch_label": "x"}
    path.write_bytes(pickle.dumps(document, protocol=2))


@pytest.mark.parametrize("labels", [[10, 0, 1], [-1, 0, 1], [0, 1, 2**70], ["cat", 0, 1], [0.5, 1, 2]],
                         ids=["ten", "minus-one", "huge", "text", "fraction"])
def test_batch_labels_outside_0_to_9_are_refused(tmp_path, labels):
    from cifarctl.data.batches_format import read_batch

    _write_batch(tmp_path / "data_batch_1", labels)
    with pytest.raises(DatasetCorruptError, match=f"data file {tmp_path / 'data_batch_1'} has"):
        read_batch(tmp_path / "data_batch_1")


def test_importing_a_folder_with_label_10_is_refused(fake_batches, tmp_path, cli):
    import shutil

    source = tmp_path / "source"
    shutil.copytree(fake_batches, source)
    _write_batch(source / "test_batch", labels=[10] * 100)
    result = cli("download", "--from", str(source))
    assert result.exit_code == 1 and f"data file {source}/test_batch has labels" in result.stderr


# --- the manifest is validated before it is believed -------------------------------------------

def _manifest_path(data_dir):
    return batches_folder(data_dir) / STATE_FOLDER / "manifest.json"


def _reshaped_manifest(change):
    def apply(data_dir):
        import json

        document = json.loads(_manifest_path(data_dir).read_text())
        change(document)
        _manifest_path(data_dir).write_text(json.dumps(document))
    return apply


def _raw_manifest(content: bytes):
    return lambda data_dir: _manifest_path(data_dir).write_bytes(content)


BAD_MANIFESTS = {
    "a list": _raw_manifest(b"[]"),
    "not utf-8": _raw_manifest(b'{"source": "\xff\xfe"}'),
    "source a number": _reshaped_manifest(lambda d: d.update(source=1)),
    "files a list": _reshaped_manifest(lambda d: d.update(files=[])),
    "a size as text": _reshaped_manifest(lambda d: d["files"]["data_batch_1"].update(size="30000")),
    "a missing file": _reshaped_manifest(lambda d: d["files"].pop("test_batch")),
    "a bad md5": _reshaped_manifest(lambda d: d["files"]["test_batch"].update(md5=None)),
    "a negative count": _reshaped_manifest(lambda d: d["counts"].update(train=-5)),
    "counts missing": _reshaped_manifest(lambda d: d.pop("counts")),
    "cache a string": _reshaped_manifest(lambda d: d.update(cache="x")),
    "nested 100,000 deep": _raw_manifest(b"[" * 100_000 + b"]" * 100_000),
    "from a newer cifarctl": _reshaped_manifest(lambda d: d.update(version=2)),
}


@pytest.mark.parametrize("damage", BAD_MANIFESTS.values(), ids=BAD_MANIFESTS.keys())
def test_a_manifest_of_the_wrong_shape_is_treated_as_missing(data_dir, damage):
    from cifarctl.data.manifest import read_manifest

    damage(data_dir)
    assert read_manifest(batches_folder(data_dir)) is None
    images, labels = load_arrays(locate(data_dir), "train")
    assert images.shape == (300, 3, 32, 32) and labels.shape == (300,)
    assert read_manifest(batches_folder(data_dir)) is not None  # rebuilt


# --- the array cache is verified, not trusted --------------------------------------------------

def _cache(data_dir, name):
    return batches_folder(data_dir) / STATE_FOLDER / name


def _overwrite_in_place(name):
    def apply(data_dir):
        path = _cache(data_dir, name)
        with open(path, "r+b") as handle:  # same size, new content
            handle.seek(path.stat().st_size - 3000)
            handle.write(bytes(3000))
    return apply


def _replace_array(name, array):
    def apply(data_dir):
        np.save(_cache(data_dir, name), array, allow_pickle=False)
    return apply


BAD_CACHES = {
    "overwritten in place": _overwrite_in_place("test_images.npy"),
    "float64 images": _replace_array("test_images.npy", np.zeros((100, 3, 32, 32), np.float64)),
    "labels of 10": _replace_array("test_labels.npy", np.full(100, 10, np.int64)),
    "too few images": _replace_array("test_images.npy", np.zeros((99, 3, 32, 32), np.uint8)),
    "garbage": lambda data_dir: _cache(data_dir, "test_images.npy").write_bytes(b"garbage"),
    "missing": lambda data_dir: _cache(data_dir, "test_labels.npy").unlink(),
}


@pytest.mark.parametrize("damage", BAD_CACHES.values(), ids=BAD_CACHES.keys())
def test_a_changed_cache_is_rebuilt_from_the_batch_files(data_dir, fake_batches, damage):
    from cifarctl.data.batches_format import read_batch

    expected_images, expected_labels = read_batch(fake_batches / "test_batch")
    damage(data_dir)
    images, labels = load_arrays(locate(data_dir), "test")
    assert images.dtype == np.uint8 and np.array_equal(images, expected_images)
    assert labels.dtype == np.int64 and np.array_equal(labels, expected_labels)
    assert np.array_equal(np.load(_cache(data_dir, "test_images.npy")), expected_images)  # and saved


# --- a read-only or full data dir is used as it is ----------------------------------------------

def _unwritable(monkeypatch, error_number=None):
    import errno

    from cifarctl.data import array_cache, manifest

    error_number = errno.EROFS if error_number is None else error_number

    def refuse(path):
        raise OSError(error_number, os.strerror(error_number), str(path))

    for module in (manifest, array_cache):  # where the manifest and the cache are written
        monkeypatch.setattr(module, "atomic_write", refuse)


READ_ONLY_SITUATIONS = {
    "a touched batch file": lambda data_dir: (batches_folder(data_dir) / "data_batch_1").touch(),
    "no manifest": lambda data_dir: _manifest_path(data_dir).unlink(),
    "a damaged cache": lambda data_dir: _cache(data_dir, "train_images.npy").write_bytes(b"garbage"),
}
UNWRITABLE = {"read-only": "EROFS", "permission denied": "EACCES", "full": "ENOSPC", "over quota": "EDQUOT",
              "over the file size limit": "EFBIG"}


@pytest.mark.parametrize("why", UNWRITABLE.values(), ids=UNWRITABLE.keys())
@pytest.mark.parametrize("situation", READ_ONLY_SITUATIONS.values(), ids=READ_ONLY_SITUATIONS.keys())
def test_a_data_dir_that_cannot_take_the_records_but_verifies_is_usable(data_dir, monkeypatch, situation, why):
    """The manifest and the array cache are a saving: a read-only or full data dir uses what it verified."""
    import errno

    situation(data_dir)
    _unwritable(monkeypatch, getattr(errno, why))
    images, labels = load_arrays(locate(data_dir), "train")
    assert images.shape == (300, 3, 32, 32) and labels.shape == (300,)


def test_other_write_errors_of_the_records_are_still_reported(data_dir, monkeypatch):
    import errno

    (batches_folder(data_dir) / "data_batch_1").touch()
    _unwritable(monkeypatch, errno.EIO)
    with pytest.raises(OSError, match="Input/output error"):
        load_arrays(locate(data_dir), "train")


def test_evaluate_on_a_full_disk_goes_without_its_array_cache(data_dir, tmp_path):
    """The cache is rebuilt when it is missing; a disk that cannot take it (here a file-size limit, as a full
    disk does) leaves the evaluation to the verified data in memory: exit 0, and no temporary files."""
    import subprocess

    from helpers import limit_file_size, save_tutorial_model

    model = save_tutorial_model(tmp_path)
    for name in ("test_images.npy", "train_images.npy"):
        _cache(data_dir, name).unlink()
    done = subprocess.run(["cifarctl", "--data-dir", str(data_dir), "evaluate", "--model", str(model), "--json"],
                          cwd=tmp_path, capture_output=True, text=True, preexec_fn=limit_file_size(20_000),
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"] == 100
    assert not [path for path in data_dir.rglob("*") if ".tmp-" in path.name]
    assert not _cache(data_dir, "test_images.npy").exists()
