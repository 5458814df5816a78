"""Behaviour found by a new-user review: resume of a finished run, pipes, clearer messages."""

import json
import socket
import subprocess
import urllib.error

import pytest
import torch

from cifarctl.data import fetch


def test_resuming_a_finished_run_just_writes_the_output(cli, data_dir, tmp_path):
    assert cli("train", "--epochs", "1", "--seed", "2").exit_code == 0
    (tmp_path / "cifar_net.pth").unlink()  # as if killed between the checkpoint and the model file
    result = cli("train", "--epochs", "1", "--resume", "--json")
    assert result.exit_code == 0, result.stderr
    assert "nothing left to train" in result.stderr
    assert json.loads(result.stdout)["steps"] == 0
    torch.load(tmp_path / "cifar_net.pth", weights_only=True)


def test_resume_without_a_checkpoint_fails_before_anything_else(cli, data_dir):
    result = cli("train", "--resume")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --resume: no checkpoint at cifar_net.ckpt")


def test_evaluate_accepts_a_training_checkpoint(cli, data_dir):
    assert cli("train", "--epochs", "1", "--seed", "2").exit_code == 0
    from_model = json.loads(cli("evaluate", "--json").stdout)
    from_checkpoint = json.loads(cli("evaluate", "--model", "cifar_net.ckpt", "--json").stdout)
    assert from_model["confusion"] == from_checkpoint["confusion"]


def test_evaluate_without_a_model_says_how_to_get_one(cli, data_dir):
    result = cli("evaluate")
    assert result.exit_code == 1
    assert "train one with 'cifarctl train' or pass --model PATH" in result.stderr


def test_a_text_file_is_not_called_code(cli, data_dir, tmp_path):
    (tmp_path / "notes.pth").write_text("garbage\n")
    result = cli("evaluate", "--model", "notes.pth")
    assert result.exit_code == 1 and "not a PyTorch file" in result.stderr


def test_preview_png_only(cli, data_dir):
    result = cli("preview", "--save", "grid.jpg")
    assert result.exit_code == 2 and "does not end in .png" in result.stderr


def test_preview_names_one_image_in_the_singular(cli, data_dir):
    result = cli("preview", "--count", "1", "--seed", "1", "--save", "one.png")
    assert "saved 1 image to one.png" in result.stderr


def test_image_folder_import_warns_that_torchvision_will_not_load_it(cli, tmp_path):
    from fake_cifar import write_image_folder

    root = write_image_folder(tmp_path / "pngs")
    result = cli("--workers", "1", "download", "--from", str(root))
    assert result.exit_code == 0 and "torchvision's CIFAR10 class" in result.stderr


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


@pytest.mark.slow
def test_closing_the_pipe_does_not_stop_training(data_dir, tmp_path):
    """`cifarctl train ... | head -1`: the reader leaves, training still finishes and saves."""
    shell = (f"cifarctl --data-dir {data_dir} train --epochs 2 --log-every 1 --seed 1 2>&1 | head -1; "
             "echo status=${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "status=0" in done.stdout, done.stdout + done.stderr
    assert "BrokenPipe" not in done.stderr
    torch.load(tmp_path / "cifar_net.pth", weights_only=True)
