from __future__ import annotations

import io
import os
import shutil
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_cifar import write_archive, write_batches
from http_server import LocalServer

from cifarctl.data.catalog import locate


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test runs in its own folder with no CIFARCTL_* settings from the caller."""
    for name in list(os.environ):
        proxies = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")
        if name.startswith("CIFARCTL_") or name == "NO_COLOR" or name in proxies:
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "120")
    # Runs compared bit for bit (resume, --steps after --time-budget) must use the same number of
    # threads; measuring it (cpu_threads.choose_threads, tested on its own) can differ under load.
    monkeypatch.setenv("CIFARCTL_THREADS", str(min(2, os.cpu_count() or 1)))
    monkeypatch.chdir(tmp_path)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli():
    """Run `cifarctl ARGS...` in-process and capture its exit code, stdout and stderr."""
    from cifarctl.cli.app import run

    def invoke(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = run(list(args))
        return Result(code, out.getvalue(), err.getvalue())

    return invoke


@pytest.fixture(scope="session")
def fake_batches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CIFAR-10 in the official `cifar-10-batches-py/` layout (read-only, shared)."""
    return write_batches(tmp_path_factory.mktemp("fake-cifar"))


@pytest.fixture(scope="session")
def fake_archive(fake_batches: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The same data packed as `cifar-10-python.tar.gz`, with its MD5."""
    archive = tmp_path_factory.mktemp("fake-archive") / "cifar-10-python.tar.gz"
    return archive, write_archive(fake_batches, archive)


def imported_once(source: Path, dataset: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding `source` imported as `dataset` (verified and cached), for a session."""
    from cifarctl.data.acquire import import_dataset

    target = tmp_path_factory.mktemp(f"imported-{dataset}") / "data"
    import_dataset(locate(target, dataset), source)
    return target


def copied_data_dir(imported: Path, tmp_path: Path) -> Path:
    """A test's own copy of a session's data dir, which it may change."""
    target = tmp_path / "data"
    shutil.copytree(imported, target, copy_function=shutil.copy2)
    return target


@pytest.fixture(scope="session")
def _imported_data_dir(fake_batches: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return imported_once(fake_batches, "cifar10", tmp_path_factory)


@pytest.fixture
def data_dir(tmp_path: Path, _imported_data_dir: Path) -> Path:
    """A data dir holding the fake dataset, verified and cached, as after `cifarctl download`."""
    return copied_data_dir(_imported_data_dir, tmp_path)


@pytest.fixture(scope="session")
def fake_cifar100(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CIFAR-100 in the official `cifar-100-python/` layout (read-only, shared)."""
    from fake_cifar100 import write_cifar100

    return write_cifar100(tmp_path_factory.mktemp("fake-cifar100"))


@pytest.fixture(scope="session")
def _imported_cifar100(fake_cifar100: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return imported_once(fake_cifar100, "cifar100", tmp_path_factory)


@pytest.fixture
def cifar100_data_dir(tmp_path: Path, _imported_cifar100: Path) -> Path:
    """A data dir holding the fake CIFAR-100, verified and cached (use with --dataset cifar100)."""
    return copied_data_dir(_imported_cifar100, tmp_path)


@pytest.fixture
def http_server(fake_archive: tuple[Path, str]):
    """A local HTTP server on 127.0.0.1 serving the fake archive's folder."""
    archive, _ = fake_archive
    with LocalServer(archive.parent) as server:
        yield server


@pytest.fixture
def fake_official(monkeypatch: pytest.MonkeyPatch, fake_archive: tuple[Path, str], fake_batches: Path):
    """Make the fake dataset's checksums the 'official' ones, as torchvision would list them."""
    from fake_cifar import md5_of

    from cifarctl.data import acquire

    _, archive_md5 = fake_archive
    real = acquire.official_source()
    fake = type(real)(real.url, real.filename, real.base_folder, archive_md5,
                      {name: md5_of(fake_batches / name) for name in real.file_md5s})
    official = acquire.official_source
    monkeypatch.setattr(acquire, "official_source",
                        lambda name="CIFAR10": fake if name == "CIFAR10" else official(name))
    return fake


@pytest.fixture(scope="module")
def cifar100_model(_imported_cifar100: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data dir, model file): a Net trained one epoch on the fake CIFAR-100, once per test module.
    Commands that read the model: cli("--data-dir", str(data), "evaluate", "--model", str(model))."""
    from cifarctl.cli.app import run

    folder = tmp_path_factory.mktemp("cifar100-model")
    data = folder / "data"
    shutil.copytree(_imported_cifar100, data, copy_function=shutil.copy2)
    with pytest.MonkeyPatch.context() as patch:  # what _isolated_environment does for each test
        for name in list(os.environ):
            if name.startswith("CIFARCTL_") or name == "NO_COLOR":
                patch.delenv(name)
        patch.setenv("CIFARCTL_THREADS", str(min(2, os.cpu_count() or 1)))
        patch.chdir(folder)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = run(["--data-dir", str(data), "--dataset", "cifar100", "train", "--model", "net", "--epochs", "1",
                        "--batch-size", "32", "--seed", "0", "--output", "net100.pth"])
        assert code == 0, err.getvalue()
    return data, folder / "net100.pth"
