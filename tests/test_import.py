"""`cifarctl download --from`: archives, batches folders and image folders, offline."""

import errno
import hashlib
import io
import json
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from fake_cifar import SHORT_NAMES, write_image_folder
from helpers import limit_file_size

from cifarctl.data.catalog import locate


def test_import_archive(cli, fake_archive, fake_official, tmp_path):
    archive, _ = fake_archive
    result = cli("download", "--from", str(archive))
    assert result.exit_code == 0, result.stderr
    assert "imported" in result.stdout


def test_import_repackaged_archive_needs_md5(cli, fake_archive, tmp_path):
    archive, md5 = fake_archive
    refused = cli("download", "--from", str(archive))  # the real official checksums
    assert refused.exit_code == 1 and "pass --md5" in refused.stderr
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()
    accepted = cli("download", "--from", str(archive), "--md5", md5)
    assert accepted.exit_code == 0, accepted.stderr


def test_import_extracted_folder(cli, fake_batches, tmp_path):
    result = cli("download", "--from", str(fake_batches), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == {"train": 300, "test": 100}
    assert "differ from the official release" in result.stderr  # fake data, honestly reported


def test_import_parent_of_extracted_folder(cli, fake_batches):
    assert cli("download", "--from", str(fake_batches.parent)).exit_code == 0


@pytest.mark.parametrize("names", ["long", "short"])
def test_import_image_folder(cli, tmp_path, names):
    from fake_cifar import LONG_NAMES

    root = write_image_folder(tmp_path / "pngs", names=LONG_NAMES if names == "long" else SHORT_NAMES)
    result = cli("--workers", "1", "download", "--from", str(root), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == {"train": 60, "test": 30}
    from cifarctl.data.store import load_arrays

    images, labels = load_arrays(locate(tmp_path / "data"), "train")
    assert images.shape == (60, 3, 32, 32) and sorted(set(labels.tolist())) == list(range(10))


def test_import_jpeg_folder_with_parallel_workers(cli, tmp_path):
    root = write_image_folder(tmp_path / "jpgs", suffix=".jpg", per_class_train=210)
    result = cli("--workers", "2", "download", "--from", str(root))
    assert result.exit_code == 0, result.stderr
    assert "2,100 training and 30 test images" in result.stdout


def test_image_folder_with_a_wrong_class_is_refused_and_other_sizes_are_resized(cli, tmp_path):
    from PIL import Image

    root = write_image_folder(tmp_path / "pngs")
    Image.new("RGB", (64, 64)).save(root / "train" / "cat" / "big.png")
    result = cli("download", "--from", str(root))
    assert result.exit_code == 0 and "resized 1 image to 32x32" in result.stdout and "64x64 (1)" in result.stdout
    (root / "train" / "cat" / "big.png").unlink()
    shutil.move(root / "test" / "dog", root / "test" / "wolf")
    result = cli("download", "--from", str(root))
    result = cli("download", "--from", str(root), "--force")
    assert result.exit_code == 2 and "'wolf' is not a CIFAR-10 class" in result.stderr
    assert "61 training" in cli("download").stdout  # the dataset imported before is left as it was


def test_from_a_missing_or_unknown_path(cli, tmp_path):
    assert cli("download", "--from", str(tmp_path / "nope")).exit_code == 2
    (tmp_path / "empty").mkdir()
    result = cli("download", "--from", str(tmp_path / "empty"))
    assert result.exit_code == 2 and "expected cifar-10-python.tar.gz" in result.stderr


def test_an_unreadable_archive_of_the_user_is_not_ours_to_delete(cli, tmp_path):
    import hashlib

    bogus = tmp_path / "cifar-10-python.tar.gz"
    bogus.write_text("this is not a tarball\n")
    result = cli("download", "--from", str(bogus), "--md5", hashlib.md5(bogus.read_bytes()).hexdigest())
    assert result.exit_code == 1 and "not a readable .tar.gz archive" in result.stderr
    assert "delete it" not in result.stderr and "import an extracted cifar-10-batches-py folder" in result.stderr
    assert bogus.exists()


# --- image folders as people actually have them ------------------------------------------------

def test_hidden_folders_and_files_are_skipped(cli, tmp_path):
    root = write_image_folder(tmp_path / "pngs")
    for split in ("train", "test"):
        (root / split / ".ipynb_checkpoints").mkdir()
        (root / split / ".ipynb_checkpoints" / "x.png").write_bytes(b"not an image")
    (root / "train" / "cat" / "._0001.png").write_bytes(b"macOS resource fork")
    result = cli("--workers", "1", "download", "--from", str(root))
    assert result.exit_code == 0, result.stderr
    assert "60 training and 30 test images" in result.stdout


def test_a_stray_folder_is_named_with_what_to_do(cli, tmp_path):
    root = write_image_folder(tmp_path / "pngs")
    (root / "train" / "misc").mkdir()
    result = cli("download", "--from", str(root))
    assert result.exit_code == 2
    assert f"{root / 'train' / 'misc'} is not a class folder" in result.stderr and "move it out" in result.stderr


def _png_header_only(path, width, height):
    """A PNG that claims to be width x height: enough for Pillow to read its size."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize(("size", "fragment"), [((100_000, 100_000), "far too large"),
                                                ((20_000, 10_000), "far too large"),
                                                ((33, 32), "is not a readable image")])
def test_huge_images_are_refused_before_decoding(cli, tmp_path, size, fragment):
    root = write_image_folder(tmp_path / "pngs")
    bomb = root / "train" / "cat" / "bomb.png"
    _png_header_only(bomb, *size)
    result = cli("--workers", "1", "download", "--from", str(root))
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: {bomb}") and fragment in lines[-1], result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "DecompressionBombWarning" not in result.stderr


@pytest.mark.parametrize(
    ("workers", "chunks", "cpus", "expected"),
    [(0, 25, 2, 2), (64, 25, 2, 2), (64, 1, 16, 1), (3, 25, 16, 3), (0, 4, 16, 4), (1, 25, 16, 1), (0, 0, 8, 1)],
)
def test_decode_processes_are_bounded_by_the_work_and_the_cpus(workers, chunks, cpus, expected):
    from cifarctl.data.image_folder import decode_processes

    assert decode_processes(workers, chunks, cpus) == expected


@pytest.mark.parametrize("value", ["257", "100000"])
def test_the_workers_option_is_capped(cli, value):
    result = cli("--workers", value, "download", "--from", ".")
    assert result.exit_code == 2 and "--workers" in result.stderr


def test_image_folder_import_warns_that_torchvision_will_not_load_it(cli, tmp_path):
    from fake_cifar import write_image_folder

    root = write_image_folder(tmp_path / "pngs")
    result = cli("--workers", "1", "download", "--from", str(root))
    assert result.exit_code == 0 and "torchvision's CIFAR10 class" in result.stderr


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for info, content in members:
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return hashlib.md5(path.read_bytes()).hexdigest()


def _file(name: str, content: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    return info, content


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        ([_file("cifar-10-batches-py/../../escaped")], "outside cifar-10-batches-py/"),
        ([_file("/tmp/absolute-escape")], "outside cifar-10-batches-py/"),
        ([_file("elsewhere/data_batch_1")], "outside cifar-10-batches-py/"),
        ([_link("cifar-10-batches-py/data_batch_1", "/etc/passwd")], "a link or device"),
        ([_link("cifar-10-batches-py/data_batch_1", "../../x", tarfile.LNKTYPE)], "a link or device"),
        ([_file("cifar-10-batches-py/data_batch_1")], "has no data_batch_2"),
    ],
)
def test_hostile_or_incomplete_archives_are_refused(cli, tmp_path, members, fragment):
    archive = tmp_path / "evil.tar.gz"
    md5 = _tar(archive, members)
    result = cli("download", "--from", str(archive), "--md5", md5)
    assert result.exit_code == 1 and fragment in result.stderr, result.stderr
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/absolute-escape").exists()
    leftovers = [p.name for p in (tmp_path / "data").iterdir()] if (tmp_path / "data").exists() else []
    assert leftovers in ([], [".cifarctl.lock"])


def test_a_file_that_is_not_an_archive(cli, tmp_path):
    bogus = tmp_path / "cifar-10-python.tar.gz"
    bogus.write_text("this is not a tarball\n")
    md5 = hashlib.md5(bogus.read_bytes()).hexdigest()
    result = cli("download", "--from", str(bogus), "--md5", md5)
    assert result.exit_code == 1 and "not a readable .tar.gz archive" in result.stderr


def test_disk_full_while_importing_is_clear_and_leaves_no_temp_files(fake_batches, tmp_path):
    data = tmp_path / "data"
    done = subprocess.run(["cifarctl", "--data-dir", str(data), "download", "--from", str(fake_batches)],
                          capture_output=True, text=True, preexec_fn=limit_file_size(100_000), timeout=120)
    assert done.returncode == 1, done.stderr
    assert "File too large" in done.stderr and "ulimit -f" in done.stderr
    assert "Traceback" not in done.stderr and ".tmp-" not in done.stderr  # the real name, not the hidden one
    assert f"cannot write {data / 'cifar-10-batches-py'}" in done.stderr
    assert [p.name for p in data.iterdir()] == [".cifarctl.lock"]


def test_a_full_disk_on_import_names_the_file_by_its_real_name_and_the_disk(tmp_path):
    """The folder import stages its files in a hidden scratch folder; a full disk is said about the dataset's
    real path and the folder whose disk is full, never `.pets.tmp-123-x/pets/train`."""
    from cifarctl.atomic_writes import real_name, write_error

    data = tmp_path / "data"
    message = str(write_error(data / ".pets.tmp-41-x1y2z3/pets/train", OSError(errno.ENOSPC, "No space left")))
    assert message == (f"cannot write {data / 'pets' / 'train'}: No space left on device; free some space on the "
                       f"disk that holds {tmp_path} (or choose another location) and try again")
    quota = str(write_error(tmp_path / ".m.pth.tmp-7-ab12", OSError(errno.EDQUOT, "Disk quota exceeded")))
    assert quota.startswith(f"cannot write {tmp_path / 'm.pth'}: Disk quota exceeded; free some space on the disk")
    assert real_name(Path("d/.cifar-10-batches-py.tmp-3-zz/cifar-10-batches-py/data_batch_1")) == Path(
        "d/cifar-10-batches-py/data_batch_1")


def test_an_image_folder_that_will_not_fit_is_refused_before_anything_is_written(cli, tmp_path, monkeypatch):
    from collections import namedtuple

    from PIL import Image

    from cifarctl import output_paths

    for name in ("cat", "dog"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for index in range(20):
            Image.new("RGB", (8, 8), (index, 0, 0)).save(tmp_path / "pets" / name / f"{index}.png")
    usage = namedtuple("usage", "total used free")
    real = shutil.disk_usage
    monkeypatch.setattr(output_paths.shutil, "disk_usage",
                        lambda path: usage(1 << 30, 1 << 30, 50_000) if "data" in str(path) else real(path))
    result = cli("--data-dir", str(tmp_path / "data"), "--dataset", "pets", "download", "--from",
                 str(tmp_path / "pets"))
    assert result.exit_code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"importing {tmp_path / 'pets'} needs about" in errors[0], result.stderr
    assert f"free in {tmp_path / 'data'}, which has 50.0 kB" in errors[0]
    assert [p.name for p in (tmp_path / "data").iterdir()] == [".cifarctl.lock"]


# `cifarctl ARGS...` killed (SIGKILL, as kill -9) where it calls `module.function`, a known point
# instead of a moment guessed with sleep(): python -c KILLED_AT module function ARGS...
KILLED_AT = """
import importlib, os, signal, sys
module, function = sys.argv[1:3]
setattr(importlib.import_module(module), function, lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL))
sys.argv[1:] = sys.argv[3:]
from cifarctl.cli.app import main
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize(("module", "function"), [
    ("cifarctl.data.batches_format", "write_dataset"),  # the images decoded, no dataset file written yet
    ("cifarctl.data.store", "write_manifest"),  # the files and the cache written, not the manifest
    ("cifarctl.data.folder_import", "atomic_replace_dir"),  # all written, not yet renamed into place
])
def test_kill_9_during_import_then_rerun_finishes(tmp_path, module, function):
    source = write_image_folder(tmp_path / "pngs")
    data = tmp_path / "data"
    args = ["--workers", "1", "--data-dir", str(data), "download", "--from", str(source)]
    killed = subprocess.run([sys.executable, "-c", KILLED_AT, module, function, *args],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, f"the import never called {module}.{function}: {killed.stderr}"
    assert not (data / "cifar-10-batches-py").exists()  # no half dataset under the real name
    assert [p for p in data.iterdir() if ".tmp-" in p.name], "the kill left no scratch folder to clean"
    done = subprocess.run(["cifarctl", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "60 training" in done.stdout, done.stdout
    assert (data / "cifar-10-batches-py" / ".cifarctl" / "manifest.json").is_file()
    assert not [p for p in data.iterdir() if ".tmp-" in p.name], "stale temporaries were not cleaned"


def test_every_file_under_a_class_folder_is_imported_or_named_as_skipped(cli, tmp_path):
    """Nested folders are part of their class; what is not an image is counted and named, never dropped silently."""
    from PIL import Image

    root = write_image_folder(tmp_path / "pngs")
    nested = root / "train" / "cat" / "more" / "deeper"
    nested.mkdir(parents=True)
    for index in range(3):
        Image.new("RGB", (32, 32), (index, 0, 0)).save(nested / f"extra{index}.jpg")
    (root / "train" / "cat" / "notes.txt").write_text("shot on a phone")
    (root / "test" / "dog" / "clip.gif").write_bytes(b"GIF89a")
    (root / "train" / "cat" / "Thumbs.db").write_bytes(b"litter")
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"litter")
    (root / "train" / "dog" / "link").symlink_to(nested)
    result = cli("--workers", "1", "download", "--from", str(root), "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["counts"] == {"train": 63, "test": 30}
    skipped = {Path(entry["path"]).name: entry["reason"] for entry in document["skipped"]}
    assert set(skipped) == {"notes.txt", "clip.gif", "link"}, skipped
    assert result.stderr.count("warning: skipped ") == 3
    plain = cli("--workers", "1", "download", "--from", str(root), "--force")
    assert "3 files skipped, named above" in plain.stdout


def test_a_repackaged_archive_installs_only_the_files_the_dataset_needs(cli, fake_batches, tmp_path):
    """`download --from bomb.tar.gz --md5 ...`: an extra member never reaches the disk."""
    archive = tmp_path / "bomb.tar.gz"
    members = [_file(f"cifar-10-batches-py/{path.name}", path.read_bytes())
               for path in sorted(fake_batches.iterdir()) if path.is_file()]
    members.append(_file("cifar-10-batches-py/extra.bin", b"\0" * 5_000_000))
    members.append(_file("cifar-10-batches-py/sub/more.bin", b"\0" * 1000))
    result = cli("download", "--from", str(archive), "--md5", _tar(archive, members))
    assert result.exit_code == 0, result.stderr
    installed = tmp_path / "data" / "cifar-10-batches-py"
    assert not (installed / "extra.bin").exists() and not (installed / "sub").exists()
    from cifarctl.data.batches_format import REQUIRED_FILES

    assert sorted(path.name for path in installed.iterdir() if not path.name.startswith(".")) == sorted(
        REQUIRED_FILES + ("readme.html",))


@pytest.mark.parametrize(("members", "fragment"), [
    ([_file(f"cifar-10-batches-py/x{index}") for index in range(1001)], "more than 1,000 members or 8 GB"),
    ([_file("cifar-10-batches-py/batches.meta", b"\0" * (2 << 20))], "far larger than a CIFAR-10 data file"),
    ([_file("cifar-10-batches-py/test_batch"), _file("cifar-10-batches-py/test_batch")], "twice"),
])
def test_archives_beyond_the_size_and_count_limits_are_refused(cli, tmp_path, members, fragment):
    archive = tmp_path / "big.tar.gz"
    md5 = _tar(archive, members)
    result = cli("download", "--from", str(archive), "--md5", md5)
    assert result.exit_code == 1 and fragment in result.stderr, result.stderr
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()
