"""What cifarctl may write: absent paths and regular files only, never inside the dataset."""

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cifarctl.atomic_writes import atomic_write
from cifarctl.data.guards import check_output_file, check_output_outside_dataset
from cifarctl.errors import CifarctlError, UsageError


def _directory(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _symlink(path: Path) -> None:
    (path.parent / "real.pth").write_bytes(b"keep me")
    path.symlink_to(path.parent / "real.pth")


def _socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()


def _char_device(path: Path) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # like /dev/null
    except PermissionError:
        pytest.skip("creating a device needs CAP_MKNOD")


# (what to make at the output path, a fragment of the refusal)
NOT_REGULAR = [
    (_directory, "is a directory"),
    (_fifo, "is a FIFO"),
    (_symlink, "is a symbolic link"),
    (_socket, "is a socket"),
    (_char_device, "is a character device"),
]
IDS = [make.__name__.strip("_") for make, _ in NOT_REGULAR]


@pytest.mark.parametrize(("make", "fragment"), NOT_REGULAR, ids=IDS)
def test_check_output_file_refuses_what_is_not_a_regular_file(tmp_path, make, fragment):
    target = tmp_path / "out.pth"
    make(target)
    with pytest.raises(UsageError, match=fragment):
        check_output_file(target, "--output")


def test_the_system_null_device_is_refused():
    with pytest.raises(UsageError, match="is a character device"):
        check_output_file(Path(os.devnull), "--output")


def test_a_symlink_refusal_names_the_real_path(tmp_path):
    _symlink(tmp_path / "out.pth")
    with pytest.raises(UsageError, match=f"to {tmp_path / 'real.pth'}.*give the real path"):
        check_output_file(tmp_path / "out.pth", "--output")


@pytest.mark.parametrize(("make", "fragment"), NOT_REGULAR, ids=IDS)
def test_atomic_write_never_replaces_what_is_not_a_regular_file(tmp_path, make, fragment):
    target = tmp_path / "out.pth"
    make(target)
    kind_before = stat.S_IFMT(os.lstat(target).st_mode)
    with pytest.raises(CifarctlError, match="only replaces regular files"), atomic_write(target) as handle:
        handle.write(b"data")
    assert stat.S_IFMT(os.lstat(target).st_mode) == kind_before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_atomic_write_checks_again_before_the_rename(tmp_path):
    target = tmp_path / "out.pth"
    with pytest.raises(CifarctlError, match="is a FIFO"), atomic_write(target) as handle:
        os.mkfifo(target)  # appeared while the file was being written
        handle.write(b"data")
    assert stat.S_ISFIFO(os.lstat(target).st_mode)


def test_regular_files_and_absent_paths_are_fine(tmp_path):
    (tmp_path / "old.pth").write_bytes(b"old")
    check_output_file(tmp_path / "old.pth", "--output")
    check_output_file(tmp_path / "new.pth", "--output")
    with atomic_write(tmp_path / "old.pth") as handle:
        handle.write(b"new")
    assert (tmp_path / "old.pth").read_bytes() == b"new"


@pytest.mark.parametrize(
    "inside",
    ["data/cifar-10-batches-py/data_batch_1", "data/cifar-10-batches-py/new.png",
     "data/cifar-10-batches-py/.cifarctl/manifest.json", "data/cifar-10-python.tar.gz",
     "data/../data/./cifar-10-batches-py/test_batch"],
)
def test_outputs_inside_the_dataset_are_refused(data_dir, tmp_path, inside):
    with pytest.raises(UsageError, match="is inside the dataset"):
        check_output_outside_dataset(tmp_path / inside, data_dir, "--output")
    with pytest.raises(UsageError, match="is inside the dataset"):
        check_output_file(tmp_path / inside, "--output", data_dir=data_dir)


def test_outputs_beside_the_dataset_are_fine(cli, data_dir):
    """Only the dataset's own paths are refused: its data dir and the folder above may hold outputs."""
    assert (data_dir / "cifar-10-batches-py").is_dir()  # the outputs below are the dataset's neighbours
    for path, option in ((data_dir / "grid.png", "--save"), (data_dir.parent / "cifar_net.pth", "--output")):
        check_output_file(path, option, data_dir=data_dir)  # a refusal raises UsageError
    result = cli("preview", "--count", "2", "--seed", "0", "--save", str(data_dir / "grid.png"))
    assert result.exit_code == 0, result.stderr
    assert (data_dir / "grid.png").read_bytes().startswith(b"\x89PNG")


def test_a_link_into_the_dataset_is_caught_by_resolving(data_dir, tmp_path):
    (tmp_path / "shortcut").symlink_to(data_dir / "cifar-10-batches-py")
    with pytest.raises(UsageError, match="is inside the dataset"):
        check_output_file(tmp_path / "shortcut" / "data_batch_1", "--output", data_dir=data_dir)


@pytest.mark.parametrize(
    "args",
    [["preview", "--save", "data/cifar-10-batches-py/data_batch_1.png"],
     ["preview", "--save", os.devnull],
     ["train", "--output", os.devnull]],
)
def test_commands_refuse_such_outputs_before_any_work(cli, data_dir, args):
    before = {p: p.stat().st_mtime_ns for p in data_dir.rglob("*")}
    result = cli(*args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert {p: p.stat().st_mtime_ns for p in data_dir.rglob("*")} == before
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_preview_refuses_a_symlink_and_keeps_its_target(cli, data_dir, tmp_path):
    (tmp_path / "real.png").write_bytes(b"keep me")
    (tmp_path / "grid.png").symlink_to(tmp_path / "real.png")
    result = cli("preview", "--save", "grid.png")
    assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert (tmp_path / "grid.png").is_symlink() and (tmp_path / "real.png").read_bytes() == b"keep me"


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    from cifarctl.atomic_writes import atomic_write

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".model.pth.tmp-{dead.stdout.strip()}-abcdef"
    stale.write_bytes(b"half")
    mine = tmp_path / f".model.pth.tmp-{os.getpid()}-123456"
    mine.write_bytes(b"in progress")
    with atomic_write(tmp_path / "model.pth") as handle:
        handle.write(b"whole")
    assert not stale.exists() and mine.exists()
    assert (tmp_path / "model.pth").read_bytes() == b"whole"


@pytest.mark.parametrize(("count", "shown"), [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (1536, "1.5 kB"),
                                              (31_000_000, "31.0 MB"), (1 << 30, "1.1 GB"), (8 * 10**12, "8000.0 GB")])
def test_byte_counts_are_shown_in_si_units_as_pip_does(count, shown):
    from cifarctl.sizes import size_text

    assert size_text(count) == shown
