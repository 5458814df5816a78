"""The fast recipe's pieces: whitening, augmentation, test-time augmentation, time budget, precision."""

import json

import pytest
import torch

from cifarctl.data.catalog import locate
from cifarctl.errors import UsageError
from cifarctl.inference.evaluation import predict_probabilities
from cifarctl.models.fast.network import FastNet, prepare
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


def test_translations_reflect_like_torch_padding_without_leaving_uint8():
    images = torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8)
    out = augment.random_crop(images, 2, seed=0, epoch=0, padding_mode="reflect")
    padded = torch.nn.functional.pad(images.float(), (2,) * 4, mode="reflect").to(torch.uint8)
    generator = augment.epoch_generator(0, 0, 3)
    dy = torch.randint(0, 5, (50,), generator=generator)
    dx = torch.randint(0, 5, (50,), generator=generator)
    expected = torch.stack([padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(50)])
    assert out.dtype == torch.uint8 and torch.equal(out, expected)


def test_every_3x3_conv_starts_as_the_identity_on_its_input_channels():
    model = FastNet(8, widen=4)
    for block in model.blocks:
        for conv in (block.conv1, block.conv2):
            inputs = min(conv.in_channels, conv.out_channels)
            identity = torch.zeros(inputs, conv.in_channels, 3, 3)
            identity[torch.arange(inputs), torch.arange(inputs), 1, 1] = 1
            assert torch.equal(conv.weight[:inputs], identity)
            if conv.out_channels > inputs:  # the other filters keep PyTorch's random initialisation
                assert conv.weight[inputs:].abs().sum() > 0
    assert model.blocks[1].conv1.out_channels == 32 and model.head.in_features == 32


def test_weight_decay_per_step_is_airbenchs_per_image():
    from cifarctl.models import registry

    recipe = registry.get("fast").recipe
    # airbench94: lr x weight_decay = 0.0153 x 1024 / (1024 x (1 + 1 / (1 - 0.85))) per step of 1024 images
    airbench_per_step = 0.0153 * 1024 / (1024 * (1 + 1 / (1 - 0.85)))
    assert recipe.lr * recipe.weight_decay == pytest.approx(airbench_per_step * recipe.batch_size / 1024, rel=0.01)
    # and that is what one optimiser step does to a weight with a zero gradient
    from cifarctl.models.fast.network import param_groups
    from cifarctl.recipes.optimizers import make_optimizer

    model = FastNet(8)
    optimizer = make_optimizer(model, recipe, param_groups)
    weight = model.head.weight
    before = weight.detach().clone()
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter) if parameter.requires_grad else None
    optimizer.step()
    # Nesterov: the first step moves by lr x (g + momentum x g) with g = weight_decay x w
    shrink = recipe.lr * recipe.weight_decay * (1 + recipe.momentum)
    assert torch.allclose(weight.detach(), before * (1 - shrink), rtol=1e-5)


def test_batch_norm_shifts_learn_faster_and_the_whitening_bias_freezes():
    from cifarctl.models.fast.network import BIAS_LR_SCALE, freeze_stem, param_groups

    model = FastNet(8)
    others, shifts = param_groups(model, 0.5, 1e-3)
    assert shifts["lr"] == 0.5 * BIAS_LR_SCALE and shifts["lr"] * shifts["weight_decay"] == pytest.approx(0.5 * 1e-3)
    assert all(p.dim() == 1 for p in shifts["params"])
    assert any(p is model.whiten.bias for p in others["params"])  # at the base rate, as airbench
    freeze_stem(model)
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    assert model.whiten.bias.grad is None and model.blocks[0].conv1.weight.grad is not None


def test_the_stem_stops_learning_after_the_recipes_epochs(data_dir, tmp_path):
    from cifarctl.data.memory import load_split
    from cifarctl.errors import Interrupted
    from cifarctl.training.context import Context, ResumePolicy
    from cifarctl.training.loop import train
    from cifarctl.training.run_files import run_files
    from cifarctl.training.settings import TrainSettings

    data = load_split(locate(data_dir), "train")
    settings = TrainSettings.for_model("fast", {"width": 8}, seed=1, epochs=3, batch_size=50, lookahead=0,
                                       freeze_stem_after=1)
    files = run_files(tmp_path / "m.pth")
    steps_per_epoch = settings.recipe.steps_per_epoch(len(data))
    calls = iter(range(10**6))
    with pytest.raises(Interrupted):  # stop at the start of epoch 2: the checkpoint holds epoch 1's end
        train(settings, data, files, context=Context(should_stop=lambda: next(calls) == steps_per_epoch))
    after_one = torch.load(files.checkpoint, weights_only=True)["model"]
    train(settings, data, files, policy=ResumePolicy(resume=True))
    final = torch.load(files.output, weights_only=True)["state_dict"]
    assert torch.equal(final["whiten.bias"], after_one["whiten.bias"])
    assert not torch.equal(final["blocks.0.conv1.weight"], after_one["blocks.0.conv1.weight"])
