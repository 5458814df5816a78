"""The fast recipe's pieces: whitening, augmentation, test-time augmentation, time budget, precision."""

import json

import pytest
import torch

from cifarctl.errors import UsageError
from cifarctl.inference.evaluation import predict_probabilities
from cifarctl.models.fast import FastNet, prepare
from cifarctl.recipes import augment, precision
from cifarctl.recipes.schedules import Triangular


def test_whitening_makes_patches_uncorrelated():
    torch.manual_seed(0)
    base = torch.randn(400, 1, 32, 32)
    images = torch.cat([base, 0.7 * base + 0.3 * torch.randn_like(base), torch.randn_like(base)], dim=1)
    model = FastNet(16)
    prepare(model, images)
    whitened = torch.nn.functional.conv2d(images, model.whiten.weight[:12]).transpose(0, 1).reshape(12, -1)
    covariance = torch.cov(whitened)
    assert torch.allclose(covariance.diagonal(), torch.ones(12), atol=0.1)
    assert (covariance - torch.diag(covariance.diagonal())).abs().max() < 0.05
    assert torch.equal(model.whiten.weight[12:], -model.whiten.weight[:12])
    assert not model.whiten.weight.requires_grad


def _labelled_images(count: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose colour is their label, with a bright left edge to tell a flip."""
    labels = torch.arange(count) % 10
    images = (labels * 20).to(torch.uint8).view(-1, 1, 1, 1).expand(count, 3, 32, 32).clone()
    images[:, :, :, :4] = 255
    return images, labels


@pytest.mark.parametrize("kind", ["crop-flip", "flip-translate"])
def test_augmentation_keeps_every_image_with_its_label(kind):
    images, labels = _labelled_images()
    out = augment.augment_epoch(images, kind, seed=3, epoch=1)
    assert out.shape == images.shape and out.dtype == torch.uint8
    centre = out[:, 0, 16, 16]
    assert torch.equal(centre, (labels * 20).to(torch.uint8))
    assert torch.equal(out, augment.augment_epoch(images, kind, seed=3, epoch=1))  # same (seed, epoch): same images
    assert not torch.equal(out, augment.augment_epoch(images, kind, seed=3, epoch=2))


def test_alternating_flips_flip_each_image_every_other_epoch():
    first, second, third = (augment.alternating_flips(100, seed=1, epoch=epoch) for epoch in range(3))
    assert torch.equal(first, ~second) and torch.equal(first, third)
    assert 20 < int(first.sum()) < 80


def test_tta_averages_the_image_and_its_mirror():
    torch.manual_seed(0)
    model = FastNet(8).eval()
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    with_tta = predict_probabilities(model, images, torch.device("cpu"), 4, tta=True)
    plain = predict_probabilities(model, images, torch.device("cpu"), 4)
    mirrored = predict_probabilities(model, images.flip(-1), torch.device("cpu"), 4)
    logits = lambda p: p.log()  # noqa: E731 - softmax is shift-invariant, so log-probabilities stand in for logits
    expected = ((logits(plain) + logits(mirrored)) / 2).softmax(dim=1)
    assert torch.allclose(with_tta, expected, atol=1e-5)


def test_the_schedule_stays_flat_while_the_budget_is_measured():
    schedule = Triangular(warmup=0.2)
    schedule.fit(100, flat_steps=8)
    assert [schedule(step) for step in range(8)] == [0.2] * 8
    assert max(schedule(step) for step in range(100)) == 1.0 and schedule(100) == 0.0
    refitted = Triangular(warmup=0.2)
    refitted.fit(1000, flat_steps=8)
    assert [refitted(step) for step in range(8)] == [0.2] * 8  # the measured steps are the same in any length


def test_a_few_steps_reduce_the_loss(cli, data_dir):
    result = cli("train", "--model", "fast", "--width", "8", "--batch-size", "32", "--epochs", "3", "--log-every", "9",
                 "--seed", "0", "--json")
    assert result.exit_code == 0, result.stderr
    losses = [float(line.rsplit(" ", 1)[1]) for line in result.stderr.splitlines() if line.startswith("[")]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_a_cpu_follows_native_bf16(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert precision.resolve_precision("auto", torch.device("cpu")) == expected


def test_forced_precisions(cli, data_dir):
    with pytest.raises(UsageError, match="fp16 needs a GPU"):
        precision.resolve_precision("fp16", torch.device("cpu"))
    result = cli("train", "--model", "fast", "--width", "8", "--batch-size", "100", "--epochs", "1",
                 "--precision", "bf16", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["precision"] == "bf16"
    refused = cli("train", "--model", "fast", "--precision", "fp8")
    assert refused.exit_code == 2 and "--precision" in refused.stderr
