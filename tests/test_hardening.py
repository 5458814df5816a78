"""Reliability and security: bad input everywhere, untrusted files, and injected faults."""

import hashlib
import io
import os
import resource
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import torch

ALL_CLASSES = "plane,car,bird,cat,deer,dog,frog,horse,ship,truck"

# (command line, exit code, a fragment of the one error line)
BAD_INPUT = [
    (["download", "--retries", "x"], 2, "--retries"),
    (["download", "--retries", "-1"], 2, "--retries"),
    (["download", "--timeout", "-5"], 2, "--timeout"),
    (["download", "--md5", "abc"], 2, "not an MD5"),
    (["download", "--url", "not-a-url"], 2, "not an http"),
    (["download", "--from", "missing.tar.gz"], 2, "no such file or folder"),
    (["download", "--from", "a.tar.gz", "--url", "http://x/y"], 2, "either --from or --url"),
    (["preview", "--count", "0"], 2, "--count"),
    (["preview", "--count", "100000"], 2, "--count"),
    (["preview", "--count", "two"], 2, "--count"),
    (["preview", "--split", "validation"], 2, "--split"),
    (["preview", "--classes", ","], 2, "at least one class"),
    (["preview", "--classes", "unicorn"], 2, "not a CIFAR-10 class"),
    (["preview", "--scale", "0"], 2, "--scale"),
    (["preview", "--save", "no/such/dir/grid.png"], 2, "does not exist"),
    (["preview", "--save", "."], 2, "is a directory"),
    (["train", "--epochs", "-1"], 2, "--epochs"),
    (["train", "--epochs", "1e9"], 2, "--epochs"),
    (["train", "--batch-size", "0"], 2, "--batch-size"),
    (["train", "--lr", "nan"], 2, "--lr"),
    (["train", "--lr", "inf"], 2, "--lr"),
    (["train", "--momentum", "-0.1"], 2, "--momentum"),
    (["train", "--width", "100000"], 2, "--width"),
    (["train", "--log-every", "0"], 2, "--log-every"),
    (["train", "--output", "no/such/dir/model.pth"], 2, "does not exist"),
    (["train", "--output", "."], 2, "is a directory"),
    (["train", "--resume"], 2, "no checkpoint"),
    (["train", "--device", "tpu"], 2, "not a device"),
    (["train", "--device", "cuda:x"], 2, "not a device"),
    (["train", "--seed", "-1"], 2, "--seed"),
    (["evaluate", "--model", "missing.pth"], 1, "does not exist"),
    (["evaluate", "--model", "."], 1, "is a directory"),
    (["evaluate", "--batch-size", "0"], 2, "--batch-size"),
    (["evaluate", "--split", "dev"], 2, "--split"),
    (["benchmark-gpu", "--widths", "6,abc"], 2, "not a whole number"),
    (["benchmark-gpu", "--widths", "1e3"], 2, "not a whole number"),
    (["benchmark-gpu", "--batch-size", "-4"], 2, "--batch-size"),
    (["benchmark-gpu", "--repeats", "0"], 2, "--repeats"),
    (["benchmark-gpu", "--steps", "0"], 2, "--steps"),
    (["--config", "missing.toml", "train"], 2, "does not exist"),
]
if not torch.cuda.is_available():
    BAD_INPUT += [
        (["train", "--device", "cuda"], 1, "use --device cpu"),
        (["evaluate", "--device", "cuda:3"], 1, "use --device cpu"),
        (["benchmark-gpu", "--device", "cuda"], 1, "use --device cpu"),
    ]
if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
    BAD_INPUT.append((["train", "--device", "mps"], 1, "MPS backend is not available"))


@pytest.mark.parametrize(("args", "code", "fragment"), BAD_INPUT, ids=[" ".join(a) for a, _, _ in BAD_INPUT])
def test_bad_input_gets_one_line_and_the_right_exit_code(cli, data_dir, tmp_path, args, code, fragment):
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = cli("--data-dir", str(data_dir), *args) if args[0] != "--data-dir" and args[0] != "--config" else cli(*args)
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before, "a failed command left files behind"


def test_debug_variable_shows_the_traceback(cli, monkeypatch):
    monkeypatch.setenv("CIFARCTL_DEBUG", "1")
    result = cli("evaluate", "--model", "missing.pth")
    assert result.exit_code == 1 and "Traceback" in result.stderr


# --- untrusted files ---------------------------------------------------------------------

class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_booby_trapped_training_checkpoint_is_refused(cli, data_dir, tmp_path):
    torch.save({"format": "cifarctl-training-checkpoint", "version": 1, "model": _Evil()}, tmp_path / "cifar_net.ckpt")
    result = cli("train", "--resume", "--seed", "0")
    assert result.exit_code == 1 and "refusing to load it" in result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_checkpoint_of_another_kind_is_refused(cli, data_dir, tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "cifar_net.ckpt")
    result = cli("train", "--resume", "--seed", "0")
    assert result.exit_code == 1 and "not a cifarctl training checkpoint" in result.stderr


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


# --- faults ------------------------------------------------------------------------------

def test_stalled_server_times_out_and_resumes(cli, http_server, fake_official):
    http_server.behaviour.stall_seconds = 3.0
    result = cli("download", "--url", http_server.url("cifar-10-python.tar.gz"), "--timeout", "0.5", "--retries", "0")
    assert result.exit_code == 1 and "timed out" in result.stderr
    http_server.behaviour.stall_seconds = 0.0
    assert cli("download", "--url", http_server.url("cifar-10-python.tar.gz")).exit_code == 0


def test_server_error_on_the_first_mirror_falls_back(cli, http_server, fake_official, fake_archive):
    from http_server import LocalServer

    with LocalServer(fake_archive[0].parent) as broken:
        broken.behaviour.status = 500
        result = cli("download", "--url", broken.url("cifar-10-python.tar.gz"), "--retries", "0",
                     "--url", http_server.url("cifar-10-python.tar.gz"))
    assert result.exit_code == 0, result.stderr
    assert "HTTP 500" not in result.stdout and "trying the next mirror" in result.stderr


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_disk_full_while_importing_is_clear_and_leaves_no_temp_files(fake_batches, tmp_path):
    data = tmp_path / "data"
    done = subprocess.run(["cifarctl", "--data-dir", str(data), "download", "--from", str(fake_batches)],
                          capture_output=True, text=True, preexec_fn=_limit_file_size(100_000), timeout=120)
    assert done.returncode == 1, done.stderr
    assert "File too large" in done.stderr and "free some space" in done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in data.iterdir()] == [".cifarctl.lock"]


def test_disk_full_while_saving_a_model_keeps_the_old_one(cli, data_dir, tmp_path):
    assert cli("train", "--epochs", "1", "--seed", "0").exit_code == 0
    good = (tmp_path / "cifar_net.pth").read_bytes()
    done = subprocess.run(["cifarctl", "--data-dir", str(data_dir), "train", "--epochs", "1", "--seed", "1",
                           "--width", "64"], cwd=tmp_path, capture_output=True, text=True,
                          preexec_fn=_limit_file_size(len(good) + 1000), timeout=120)
    assert done.returncode == 1 and "File too large" in done.stderr, done.stderr
    assert (tmp_path / "cifar_net.pth").read_bytes() == good
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


@pytest.mark.slow
def test_kill_9_during_download_then_rerun_resumes(http_server, fake_official, fake_archive, tmp_path, monkeypatch):
    """kill -9 mid-transfer: nothing under the real name; the rerun resumes with Range."""
    archive, _ = fake_archive
    http_server.behaviour.delay_per_chunk = 0.2
    command = [sys.executable, "-c",
               "import sys; from cifarctl.cli.app import run; sys.exit(run(sys.argv[1:]))",
               "--data-dir", str(tmp_path / "data"), "download", "--url", http_server.url("cifar-10-python.tar.gz")]
    # The official checksums are patched in this process only, so the child checks nothing;
    # it must not get far enough to matter: it is killed mid-transfer.
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = tmp_path / "data" / "cifar-10-python.tar.gz.part"
    deadline = time.monotonic() + 30
    while (not part.exists() or part.stat().st_size < 100_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert part.exists() and 0 < part.stat().st_size < archive.stat().st_size
    assert not (tmp_path / "data" / "cifar-10-python.tar.gz").exists()
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()
    partial_size = part.stat().st_size
    http_server.behaviour.delay_per_chunk = 0.0
    from cifarctl.data.acquire import download_dataset

    monkeypatch.chdir(tmp_path)
    requests_before = len(http_server.behaviour.requests)
    download_dataset(tmp_path / "data", [http_server.url("cifar-10-python.tar.gz")])
    assert http_server.behaviour.requests[requests_before]["range"] == f"bytes={partial_size}-"
    assert (tmp_path / "data" / "cifar-10-python.tar.gz").read_bytes() == archive.read_bytes()


@pytest.mark.slow
def test_two_downloads_at_once_take_turns(fake_archive, tmp_path):
    archive, md5 = fake_archive
    command = ["cifarctl", "--data-dir", str(tmp_path / "data"), "download", "--from", str(archive), "--md5", md5]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("is ready in") == 1 and stdout.count("already in") == 1
    from cifarctl.data.store import load_arrays

    assert load_arrays(tmp_path / "data", "train")[0].shape == (300, 3, 32, 32)


@pytest.mark.slow
def test_kill_9_during_import_then_rerun_finishes(tmp_path):
    from fake_cifar import write_image_folder

    source = write_image_folder(tmp_path / "jpgs", per_class_train=400, suffix=".jpg")
    data = tmp_path / "data"
    command = ["cifarctl", "--workers", "1", "--data-dir", str(data), "download", "--from", str(source)]
    for delay in (0.8, 1.6):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not (data / "cifar-10-batches-py").exists() or (data / "cifar-10-batches-py" / ".cifarctl" / "manifest.json").exists()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "4,000 training" in done.stdout or "already in" in done.stdout
    assert not [p for p in data.iterdir() if ".tmp-" in p.name], "stale temporaries were not cleaned"


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    from cifarctl.files import atomic_write

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".model.pth.tmp-{dead.stdout.strip()}-abcdef"
    stale.write_bytes(b"half")
    mine = tmp_path / f".model.pth.tmp-{os.getpid()}-123456"
    mine.write_bytes(b"in progress")
    with atomic_write(tmp_path / "model.pth") as handle:
        handle.write(b"whole")
    assert not stale.exists() and mine.exists()
    assert (tmp_path / "model.pth").read_bytes() == b"whole"
