"""`torchrun -m cifarctl train` with 2 CPU processes (Gloo): same weights as one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split
from cifarctl.training.loop import train
from cifarctl.training.run_files import run_files
from cifarctl.training.settings import TrainSettings

pytestmark = pytest.mark.slow


def torchrun(data_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "cifarctl", "--data-dir", str(data_dir), "train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def assert_close(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=1e-4, atol=1e-5, msg=name)


@pytest.fixture(scope="module")
def single_process_weights(tmp_path_factory, _imported_data_dir):
    """One process with the global batch of the 2-process runs: 2 x 4 = 8."""
    folder = tmp_path_factory.mktemp("single")
    data = load_split(locate(_imported_data_dir), "train")
    train(TrainSettings.for_model("net", epochs=2, batch_size=8, seed=3), data, run_files(folder / "single.pth"))
    return weights(folder / "single.pth")


def test_two_processes_equal_one_with_the_same_global_batch(data_dir, tmp_path, single_process_weights):
    done = torchrun(data_dir, tmp_path, "--epochs", "2", "--batch-size", "4", "--seed", "3", "--json",
                    "--log-every", "10")
    document = json.loads(done.stdout)  # exactly one JSON document: only rank 0 prints
    assert document["processes"] == 2 and document["global_batch_size"] == 8
    assert document["steps"] == 2 * 38  # ceil(300 / 8) global batches per epoch
    assert done.stderr.count("on 300 images") == 1
    assert done.stderr.count("[1,    10] loss:") == 1
    assert "global batch 8" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "cifar_net.ckpt", "cifar_net.metrics.jsonl", "cifar_net.pth"]
    assert_close(weights(tmp_path / "cifar_net.pth"), single_process_weights)


def test_resume_under_torchrun(data_dir, tmp_path, single_process_weights):
    torchrun(data_dir, tmp_path, "--epochs", "1", "--batch-size", "4", "--seed", "3")
    done = torchrun(data_dir, tmp_path, "--epochs", "2", "--batch-size", "4", "--resume", "--json")
    assert json.loads(done.stdout)["resumed_from"] == {"epoch": 2, "step": 0}
    assert_close(weights(tmp_path / "cifar_net.pth"), single_process_weights)


def test_resume_needs_the_same_number_of_processes(cli, data_dir, tmp_path):
    torchrun(data_dir, tmp_path, "--epochs", "1", "--batch-size", "4", "--seed", "3")
    result = cli("train", "--epochs", "2", "--batch-size", "4", "--resume")
    assert result.exit_code == 2
    assert "made by 2 process(es), this run has 1" in result.stderr
