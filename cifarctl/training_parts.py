"""The parts a recipe puts together for one run: model, optimiser, schedule, loss, augmentation,
weight averaging and precision, and the single training step that uses them.

The training loop asks these parts for an epoch's inputs and to take a step; it never needs
to know which family or recipe it is running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cifarctl.cpu_threads import uses_small_batch_mode
from cifarctl.data.memory import Split, epoch_permutation, normalize
from cifarctl.distributed import Cluster
from cifarctl.model_files import save_trained_model
from cifarctl.models import ModelInfo, build_model, count_parameters, family_module
from cifarctl.recipes.augment import augment_epoch
from cifarctl.recipes.optimizers import make_optimizer
from cifarctl.recipes.precision import autocast, resolve_precision
from cifarctl.recipes.schedules import make_scheduler
from cifarctl.settings import TrainSettings

class TrainingParts:

    def __init__(self, settings: TrainSettings, device: torch.device, data: Split, cluster: Cluster | None) -> None:
        self.settings, self.recipe, self.device, self.cluster = settings, settings.recipe, device, cluster
        self.info = ModelInfo(settings.model, settings.options)
        family = self.info.family
        self.mean, self.std = family.normalization
        self.precision = resolve_precision(settings.precision, device)
        # channels-last convolutions are faster on GPUs and for oneDNN's CPU kernels; tiny CPU
        # batches use PyTorch's plain convolution, which wants the usual layout.
        tiny_cpu_batches = uses_small_batch_mode(device.type, settings.batch_size)
        self.memory_format = torch.contiguous_format if tiny_cpu_batches else torch.channels_last
        self.images = data.images.to(device)
        torch.manual_seed(settings.seed)
        self.plain_model = build_model(self.info).to(device, memory_format=self.memory_format)
        prepare = getattr(family_module(family), "prepare", None)
        if prepare is not None:  # e.g. initialising a whitening layer from the training images
            prepare(self.plain_model, self._normalized(self.images))
        self.parameter_count = count_parameters(self.plain_model)
        self.model: nn.Module = self.plain_model
        if cluster is not None:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.model = DistributedDataParallel(self.plain_model, device_ids=ids)
        self.optimizer = make_optimizer(self.plain_model, self.recipe)
        self.scheduler = None
        self.averaged = self._averaged_model()
        self.scaler = torch.amp.GradScaler(device.type) if self.precision == "fp16" else None
        # Alone: the batch mean, as the tutorial. Under DDP, which averages gradients over
        # ranks: each rank's sum scaled so the average is the mean over the global batch,
        # exact even when the last global batch does not split evenly.
        self.criterion = nn.CrossEntropyLoss(reduction="mean" if cluster is None else "sum",
                                             label_smoothing=self.recipe.label_smoothing)
        self.counts_correct = self.recipe.epoch_report
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct_sum = torch.zeros((), dtype=torch.int64, device=device)
        self._unaugmented: torch.Tensor | None = None

    def _averaged_model(self):
        if not self.recipe.ema:
            return None
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        return AveragedModel(self.plain_model, multi_avg_fn=get_ema_multi_avg_fn(self.recipe.ema), use_buffers=True)

    def set_total_steps(self, total_steps: int, flat_steps: int = 0) -> None:
        """Make (or refit) the per-step schedule for a run of `total_steps` steps."""
        if self.scheduler is not None:
            for multiplier in self.scheduler.lr_lambdas:
                multiplier.fit(total_steps, flat_steps)
        else:
            self.scheduler = make_scheduler(self.optimizer, self.recipe.schedule, total_steps, self.recipe.warmup,
                                            flat_steps)

    # --- data -------------------------------------------------------------------------------
    def _normalized(self, images: torch.Tensor) -> torch.Tensor:
        inputs = normalize(images, self.mean, self.std)
        return inputs.contiguous(memory_format=self.memory_format)

    def epoch_inputs(self, epoch: int) -> torch.Tensor:
        """The whole training set for one epoch, augmented by the recipe and normalised."""
        if self.recipe.augment == "none":
            if self._unaugmented is None:
                self._unaugmented = self._normalized(self.images)
            return self._unaugmented
        return self._normalized(augment_epoch(self.images, self.recipe.augment, self.settings.seed, epoch))

    def epoch_order(self, epoch: int, count: int) -> torch.Tensor:
        return epoch_permutation(count, self.settings.seed, epoch).to(self.device)

    # --- the step ---------------------------------------------------------------------------
    def train_step(self, inputs: torch.Tensor, targets: torch.Tensor, global_count: int) -> None:
        self.optimizer.zero_grad()
        with autocast(self.device, self.precision):
            outputs = self.model(inputs)
            loss = self.criterion(outputs.float(), targets)
        if self.cluster is not None:
            loss = loss * (self.cluster.world_size / global_count)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.averaged is not None:
            self.averaged.update_parameters(self.plain_model)
        self.loss_sum += loss.detach()
        if self.counts_correct:
            self.correct_sum += (outputs.detach().argmax(dim=1) == targets).sum()

    def synchronize(self) -> None:
        """Wait for the device's queued work, so a clock read measures it."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def take_losses(self) -> float:
        """The sum of the losses since the last call (one device sync)."""
        total = float(self.loss_sum)
        self.loss_sum.zero_()
        return total

    def take_correct(self) -> int:
        total = int(self.correct_sum)
        self.correct_sum.zero_()
        return total

    def learning_rate(self) -> float:
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups else float(self.optimizer.lr)

    # --- the result -------------------------------------------------------------------------
    def evaluation_model(self) -> nn.Module:
        return self.averaged.module if self.averaged is not None else self.plain_model

    def test_accuracy(self, data: Split) -> float:
        from cifarctl.evaluation import predict

        model = self.evaluation_model()
        predicted = predict(model, data.images, self.device, 1000, self.mean, self.std, precision=self.precision)
        return float((predicted == data.labels).float().mean())

    def save_model(self, path: Path) -> None:
        state = {name: tensor.detach().cpu() for name, tensor in self.evaluation_model().state_dict().items()}
        save_trained_model(path, self.info, state, tta=self.recipe.tta)

    # --- checkpoints ------------------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "model": self.plain_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "averaged_model": self.averaged.module.state_dict() if self.averaged is not None else None,
            "averaged_count": int(self.averaged.n_averaged) if self.averaged is not None else 0,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        try:
            self.plain_model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None and state.get("scheduler") is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            if self.averaged is not None and state.get("averaged_model") is not None:
                self.averaged.module.load_state_dict(state["averaged_model"])
                self.averaged.n_averaged.fill_(int(state.get("averaged_count", 0)))
            if self.scaler is not None and state.get("scaler") is not None:
                self.scaler.load_state_dict(state["scaler"])
        except (RuntimeError, ValueError, KeyError, TypeError) as error:
            from cifarctl.errors import CheckpointError

            detail = " ".join(str(error).split())[:120]
            raise CheckpointError(f"the checkpoint does not fit {self.info.describe()} ({detail}); "
                                  "it is damaged or from another run") from None
