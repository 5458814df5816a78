"""The GPU's fp16 path, run on the CPU where torch allows it: autocast to fp16, the GradScaler
around the optimiser (the tutorial's own and torch's), its state in the checkpoint, and resume."""

import pytest
import torch

from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split
from cifarctl.errors import Interrupted
from cifarctl.recipes.sgd import MomentumSGD
from cifarctl.training.context import Context, ResumePolicy
from cifarctl.training.loop import train
from cifarctl.training.run_files import run_files
from cifarctl.training.settings import TrainSettings


@pytest.fixture
def fp16_on_the_cpu(monkeypatch):
    """`--precision fp16` as a GPU resolves it (a CPU run refuses it for speed, not correctness)."""
    monkeypatch.setattr("cifarctl.training.parts.resolve_precision", lambda requested, device: "fp16")


def test_grad_scaler_steps_the_tutorials_optimizer_and_skips_an_overflowing_step():
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    optimizer, scaler = MomentumSGD(layer.parameters(), lr=0.1, momentum=0.9), torch.amp.GradScaler("cpu")
    before = layer.weight.detach().clone()
    scaler.scale(layer(torch.ones(1, 3)).sum()).backward()
    scaler.step(optimizer)
    scaler.update()
    assert not torch.equal(layer.weight, before)
    after_first = layer.weight.detach().clone()
    optimizer.zero_grad()
    scaler.scale(layer(torch.full((1, 3), float("inf"))).sum()).backward()
    scaler.step(optimizer)  # an inf gradient: the step is skipped and the scale lowered
    scaler.update()
    assert torch.equal(layer.weight, after_first) and scaler.get_scale() < 2.0**16


@pytest.mark.parametrize("model", ["net", "fast"])
def test_an_fp16_run_trains_saves_its_scaler_and_resumes_exactly(data_dir, tmp_path, fp16_on_the_cpu, model):
    data = load_split(locate(data_dir), "train")
    options = {"width": 8} if model == "fast" else {}
    settings = TrainSettings.for_model(model, options, epochs=2, seed=3, log_every=10,
                                       batch_size=8 if model == "net" else 32)
    straight = train(settings, data, run_files(tmp_path / "straight.pth"))
    assert straight.precision == "fp16" and straight.final_loss == straight.final_loss  # finite, not NaN
    steps_per_epoch = straight.total_steps // 2
    calls = iter(range(10_000))
    files = run_files(tmp_path / "resumed.pth")
    with pytest.raises(Interrupted):
        train(settings, data, files, context=Context(should_stop=lambda: next(calls) == steps_per_epoch + 2))
    assert "scale" in torch.load(files.checkpoint, weights_only=True)["scaler"]
    train(settings, data, files, policy=ResumePolicy(resume=True))
    first, second = (torch.load(path, weights_only=True) for path in (tmp_path / "straight.pth", files.output))
    weights = (first, second) if model == "net" else (first["state_dict"], second["state_dict"])
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
