"""`cifarctl download` against a local HTTP server: resume, checksums, mirrors, fast path."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest

from cifarctl.data import fetch
from cifarctl.data.catalog import locate
from cifarctl.data.fetch import partial_path
from cifarctl.data.store import load_arrays


def dataset_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "cifar-10-batches-py").iterdir() if p.is_file())


def test_download_from_a_local_server(cli, http_server, fake_official, tmp_path):
    url = http_server.url("cifar-10-python.tar.gz")
    result = cli("download", "--url", url)
    assert result.exit_code == 0, result.stderr
    assert "300 training and 100 test images" in result.stdout
    assert dataset_files(tmp_path / "data") == sorted(
        ["batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
         "readme.html", "test_batch"])
    assert (tmp_path / "data" / "cifar-10-python.tar.gz").is_file()
    assert not partial_path(tmp_path / "data" / "cifar-10-python.tar.gz").exists()


def test_already_present_is_instant_and_idempotent(cli, http_server, fake_official, tmp_path):
    url = http_server.url("cifar-10-python.tar.gz")
    assert cli("download", "--url", url).exit_code == 0
    requests_before = len(http_server.behaviour.requests)
    started = time.perf_counter()
    result = cli("download", "--url", url)
    assert time.perf_counter() - started < 5  # generous: the point is no network and no re-extraction
    assert result.exit_code == 0
    assert "already in" in result.stdout
    assert len(http_server.behaviour.requests) == requests_before


def test_force_downloads_again(cli, http_server, fake_official):
    url = http_server.url("cifar-10-python.tar.gz")
    assert cli("download", "--url", url).exit_code == 0
    before = len(http_server.behaviour.requests)
    result = cli("download", "--url", url, "--force")
    assert result.exit_code == 0 and "downloaded" in result.stdout
    assert len(http_server.behaviour.requests) == before + 1


def test_cut_transfer_resumes_with_a_range_request(cli, http_server, fake_official, fake_archive):
    http_server.behaviour.cut_after = 50_000
    result = cli("download", "--url", http_server.url("cifar-10-python.tar.gz"), "--retries", "2")
    assert result.exit_code == 0, result.stderr
    ranges = [request["range"] for request in http_server.behaviour.requests]
    assert ranges == [None, "bytes=50000-"]
    assert "retrying" in result.stderr


def test_partial_file_from_an_earlier_run_is_resumed(cli, http_server, fake_official, fake_archive, tmp_path):
    archive, _ = fake_archive
    data = tmp_path / "data"
    data.mkdir()
    partial_path(data / "cifar-10-python.tar.gz").write_bytes(archive.read_bytes()[:1234])
    result = cli("download", "--url", http_server.url("cifar-10-python.tar.gz"))
    assert result.exit_code == 0, result.stderr
    assert http_server.behaviour.requests[0]["range"] == "bytes=1234-"


def test_server_ignoring_range_restarts_from_zero(cli, http_server, fake_official, fake_archive, tmp_path):
    archive, _ = fake_archive
    data = tmp_path / "data"
    data.mkdir()
    partial_path(data / "cifar-10-python.tar.gz").write_bytes(b"x" * 999)
    http_server.behaviour.ignore_range = True
    result = cli("download", "--url", http_server.url("cifar-10-python.tar.gz"))
    assert result.exit_code == 0, result.stderr
    assert (data / "cifar-10-python.tar.gz").read_bytes() == archive.read_bytes()


def test_wrong_checksum_is_rejected_and_nothing_is_left(cli, http_server, fake_official, tmp_path):
    result = cli("download", "--url", http_server.url("cifar-10-python.tar.gz"), "--md5", "0" * 32)
    assert result.exit_code == 1
    assert "expected MD5 " + "0" * 32 in result.stderr and fake_official.archive_md5 in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        result.stderr.strip().splitlines()[-1]]
    data = tmp_path / "data"
    leftovers = [p.name for p in data.rglob("*") if p.name != ".cifarctl.lock"]
    assert leftovers == []


def test_mirror_fallback_after_a_failing_first_url(cli, http_server, fake_official):
    good = http_server.url("cifar-10-python.tar.gz")
    result = cli("download", "--url", http_server.url("missing.tar.gz"), "--url", good)
    assert result.exit_code == 0, result.stderr
    assert "trying the next mirror" in result.stderr


def test_server_errors_are_retried_then_reported(cli, http_server, fake_official, monkeypatch):
    monkeypatch.setattr("cifarctl.data.fetch.FetchOptions.backoff", 0.01, raising=False)
    http_server.behaviour.status = 500
    result = cli("download", "--url", http_server.url("cifar-10-python.tar.gz"), "--retries", "1")
    assert result.exit_code == 1
    assert "HTTP 500" in result.stderr
    assert len(http_server.behaviour.requests) == 2
    assert "Traceback" not in result.stderr


def test_connection_refused_is_one_clear_line(cli, fake_official):
    result = cli("download", "--url", "http://127.0.0.1:9/cifar-10-python.tar.gz", "--retries", "0")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "refused" in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--md5", "xyz"], "not an MD5"),
        (["--url", "ftp://x/y"], "not an http(s)://"),
        (["--retries", "-1"], "--retries"),
        (["--timeout", "0"], "--timeout"),
    ],
)
def test_bad_download_options_are_usage_errors(cli, args, fragment):
    result = cli("download", *args)
    assert result.exit_code == 2
    assert fragment in result.stderr


def test_json_report(cli, http_server, fake_official):
    import json

    result = cli("download", "--url", http_server.url("cifar-10-python.tar.gz"), "--json")
    document = json.loads(result.stdout)
    assert document["action"] == "downloaded"
    assert document["counts"] == {"train": 300, "test": 100}


# --- a dataset that is already there is never replaced without --force -----------------------

def test_a_damaged_dataset_is_not_replaced_without_force(cli, http_server, fake_official, tmp_path):
    url = http_server.url("cifar-10-python.tar.gz")
    assert cli("download", "--url", url).exit_code == 0
    damaged = tmp_path / "data" / "cifar-10-batches-py" / "data_batch_3"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    requests_before = len(http_server.behaviour.requests)
    result = cli("download", "--url", url)
    assert result.exit_code == 1
    assert "data_batch_3 is truncated" in result.stderr and "nothing was replaced" in result.stderr
    assert "'cifarctl download --force'" in result.stderr
    assert damaged.stat().st_size == 1000 and len(http_server.behaviour.requests) == requests_before
    assert cli("download", "--url", url, "--force").exit_code == 0


def test_a_custom_import_that_lost_its_manifest_is_kept(cli, http_server, fake_official, tmp_path):
    """`cp cifar-10-batches-py/*` skips the hidden .cifarctl/: the copy must still be usable,
    and a plain `download` must not swap it for the official data."""
    import shutil

    from fake_cifar import write_image_folder

    root = write_image_folder(tmp_path / "pngs")
    assert cli("--workers", "1", "download", "--from", str(root)).exit_code == 0
    shutil.rmtree(tmp_path / "data" / "cifar-10-batches-py" / ".cifarctl")
    result = cli("download", "--url", http_server.url("cifar-10-python.tar.gz"), "--json")
    assert result.exit_code == 0, result.stderr
    assert '"action": "present"' in result.stdout and '"train": 60' in result.stdout
    assert "not the official release" in result.stdout
    assert http_server.behaviour.requests == []


def test_download_rebuilds_a_cache_tampered_with_behind_its_back(cli, http_server, fake_official, tmp_path):
    """A cache file changed with its mtime put back slips past the quick check on load; the
    thorough check `download` makes of a present dataset hashes it and rebuilds it."""
    import os

    import numpy as np

    url = http_server.url("cifar-10-python.tar.gz")
    assert cli("download", "--url", url).exit_code == 0
    cache = tmp_path / "data" / "cifar-10-batches-py" / ".cifarctl" / "test_images.npy"
    good, stat = cache.read_bytes(), cache.stat()
    with open(cache, "r+b") as handle:
        handle.seek(len(good) - 5000)
        handle.write(bytes(5000))
    os.utime(cache, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    result = cli("download", "--url", url)
    assert result.exit_code == 0 and "already in" in result.stdout
    assert cache.read_bytes() == good
    from cifarctl.data.store import load_arrays

    assert np.count_nonzero(load_arrays(locate(tmp_path / "data"), "test")[0][-1]) > 0


def test_dns_failure_moves_on_without_retrying(monkeypatch, tmp_path):
    calls = []

    def offline(request, timeout):
        calls.append(request.full_url)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(fetch.urllib.request, "urlopen", offline)
    with pytest.raises(fetch.DownloadError, match="are you offline"):
        fetch.fetch_archive(["https://a.example/x", "https://b.example/x"], tmp_path / "x", "0" * 32,
                            fetch.FetchOptions(retries=3, backoff=0))
    assert calls == ["https://a.example/x", "https://b.example/x"]


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
    download_dataset(locate(tmp_path / "data"), [http_server.url("cifar-10-python.tar.gz")])
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

    assert load_arrays(locate(tmp_path / "data"), "train")[0].shape == (300, 3, 32, 32)


# --- CIFAR-100: the same download path, its own archive, folder and checksums ----------------

@pytest.fixture
def cifar100_server(fake_cifar100, tmp_path_factory, monkeypatch):
    """A local server holding a fake cifar-100-python.tar.gz, whose MD5s stand in for the official ones."""
    from fake_cifar import md5_of
    from fake_cifar100 import write_archive
    from http_server import LocalServer

    from cifarctl.data import acquire

    root = tmp_path_factory.mktemp("server100")
    archive = root / "cifar-100-python.tar.gz"
    write_archive(fake_cifar100, archive)
    real = acquire.official_source("CIFAR100")
    fake = type(real)(real.url, real.filename, real.base_folder, md5_of(archive),
                      {name: md5_of(fake_cifar100 / name) for name in real.file_md5s})
    official = acquire.official_source
    monkeypatch.setattr(acquire, "official_source",
                        lambda name="CIFAR10": fake if name == "CIFAR100" else official(name))
    with LocalServer(root) as server:
        yield server, fake


def test_cifar100_downloads_where_torchvision_finds_it(cli, cifar100_server, fake_cifar100, tmp_path, monkeypatch):
    server, fake = cifar100_server
    server.behaviour.cut_after = 40_000  # and resumes like CIFAR-10
    result = cli("--dataset", "cifar100", "download", "--url", server.url("cifar-100-python.tar.gz"))
    assert result.exit_code == 0, result.stderr
    assert "CIFAR-100 is ready in data/cifar-100-python: 800 training and 300 test images" in result.stdout
    assert [request["range"] for request in server.behaviour.requests] == [None, "bytes=40000-"]
    folder = tmp_path / "data" / "cifar-100-python"
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["meta", "test", "train"]
    assert (tmp_path / "data" / "cifar-100-python.tar.gz").is_file()
    # torchvision's own class reads the folder (given the fake files' checksums as the official ones)
    from torchvision.datasets import CIFAR100

    monkeypatch.setattr(CIFAR100, "train_list", [["train", fake.file_md5s["train"]]])
    monkeypatch.setattr(CIFAR100, "test_list", [["test", fake.file_md5s["test"]]])
    monkeypatch.setattr(CIFAR100, "meta", {**CIFAR100.meta, "md5": fake.file_md5s["meta"]})
    theirs = CIFAR100(str(tmp_path / "data"), train=False)
    ours = load_arrays(locate(tmp_path / "data", "cifar100"), "test")
    assert theirs.targets == ours[1].tolist()
    assert theirs.classes[:3] == ["apple", "aquarium_fish", "baby"]
    assert (theirs.data.transpose(0, 3, 1, 2) == ours[0]).all()
    again = cli("--dataset", "cifar100", "download", "--url", server.url("cifar-100-python.tar.gz"))
    assert "CIFAR-100 is already in" in again.stdout


def test_cifar100_and_cifar10_live_side_by_side(cli, cifar100_server, http_server, fake_official, tmp_path):
    server, _ = cifar100_server
    assert cli("--dataset", "cifar100", "download", "--url", server.url("cifar-100-python.tar.gz")).exit_code == 0
    assert cli("download", "--url", http_server.url("cifar-10-python.tar.gz")).exit_code == 0
    ten = load_arrays(locate(tmp_path / "data"), "test")
    hundred = load_arrays(locate(tmp_path / "data", "cifar100"), "test")
    assert (len(ten[1]), int(ten[1].max())) == (100, 9)
    assert (len(hundred[1]), int(hundred[1].max())) == (300, 99)


def test_cifar100_archive_with_the_wrong_checksum_is_refused(cli, cifar100_server, fake_archive, tmp_path):
    import shutil

    archive, _ = fake_archive  # CIFAR-10's archive offered as CIFAR-100's
    _, fake = cifar100_server
    named = cli("--dataset", "cifar100", "download", "--from", str(archive))
    assert named.exit_code == 2
    assert f"--from {archive} is CIFAR-10's archive; add --dataset cifar10" in named.stderr
    renamed = shutil.copy(archive, tmp_path / "mirror.tar.gz")
    result = cli("--dataset", "cifar100", "download", "--from", str(renamed))
    assert result.exit_code == 1
    assert f"expected {fake.archive_md5}" in result.stderr
    assert not (tmp_path / "data" / "cifar-100-python").exists()


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (["--dataset", "pets", "download"], 2, "'pets' is not a built-in dataset (those are cifar10 and cifar100)"),
    (["--dataset", "CIFAR-100", "download"], 2, "is not how a built-in dataset is spelled; use cifar10 or cifar100"),
    (["--dataset", "../up", "download"], 2, "is not a usable dataset name"),
    (["--dataset", "cifar-10-batches-py", "download"], 2, "is not a usable dataset name"),
    (["--dataset", "pets", "train"], 1,
     "no dataset 'pets' in data; import it with 'cifarctl download --dataset pets --from FOLDER'"),
])
def test_dataset_names_that_cannot_be_used_get_one_line(cli, args, code, fragment):
    result = cli(*args)
    assert result.exit_code == code
    assert fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_json_report_names_the_classes_of_a_dataset_already_there(cli, cifar100_data_dir):
    result = cli("--data-dir", str(cifar100_data_dir), "--dataset", "cifar100", "download", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["action"] == "present" and document["classes"][:2] == ["apple", "aquarium_fish"]
    assert len(document["classes"]) == 100 and document["resized"] is None
