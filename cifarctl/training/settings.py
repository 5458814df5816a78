"""What one training run is: a model family with its options, a recipe, a seed.

`TrainSettings.for_model` starts from the registry entry and its recipe and applies the
options the user gave; everything else reads the result. The settings travel in the
checkpoint as plain data, and `--json` reports them flattened.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cifarctl.data.catalog import DEFAULT_DATASET, SHORT_NAMES, Classes
from cifarctl.models import registry
from cifarctl.recipes import Recipe


@dataclass(frozen=True)
class TrainSettings:
    model: str = "net"
    options: dict[str, int] = field(default_factory=lambda: {"width": 6})
    recipe: Recipe = field(default_factory=lambda: registry.get("net").recipe)
    seed: int = 0
    eval_every: int = 0  # measure test accuracy every N epochs (0: never during training)
    precision: str = "fp32"  # as asked: auto, fp32, bf16 or fp16 (auto is resolved per device)
    steps: int | None = None  # total steps, overriding epochs (repeats a --time-budget run)
    time_budget: float | None = None  # seconds of training to fit the schedule to
    threads: int | None = None  # CPU threads (None: measured at the start, then kept for a resume)
    compile: bool = False  # run the model through torch.compile
    pick_size: bool = False  # a time budget picks the family's size (no size option was given)
    validation: dict[str, Any] | None = None  # the held-out split (ValidationSplit.as_dict()), if any
    dataset: str = DEFAULT_DATASET  # what it trains on (--dataset)
    classes: tuple[str, ...] = SHORT_NAMES  # the dataset's class names, in label order: the head's outputs
    # Fitted to the data (training/data_fit.py): the recipe's batch when a small dataset halved it,
    # the loss's class weights ({"source": "auto" or "file", "file", "weights"}; None: none), and
    # how an epoch draws its images ("shuffle": each once; "balanced": every class equally often).
    batch_fitted_from: int | None = None
    class_weights: dict[str, Any] | None = None
    sampling: str = "shuffle"
    # Where the weights started (training/init_from.py): a model file, recorded with its MD5, whether
    # its head was replaced and whether the backbone trains; None: from scratch.
    init_from: dict[str, Any] | None = None

    @classmethod
    def for_model(cls, name: str, options: dict[str, Any] | None = None, *, seed: int = 0, eval_every: int = 0,
                  precision: str | None = None, steps: int | None = None, time_budget: float | None = None,
                  threads: int | None = None, compile: bool = False, pick_size: bool = False,
                  validation: dict[str, Any] | None = None, dataset: str = DEFAULT_DATASET,
                  **recipe_changes: Any) -> TrainSettings:
        family = registry.get(name)
        recipe = family.recipe.replace(**recipe_changes)
        if recipe_changes.get("log_every") is None and recipe.batch_size != family.recipe.batch_size:
            # The recipe's loss line comes every so many images (the tutorial's: 2000 batches of 4),
            # so a larger batch prints as often per epoch rather than never.
            every = round(family.recipe.log_every * family.recipe.batch_size / recipe.batch_size)
            recipe = recipe.replace(log_every=max(1, every))
        return cls(model=name, options=family.resolve_options(options or {}), recipe=recipe, seed=seed,
                   eval_every=eval_every, precision=precision or recipe.precision, steps=steps,
                   time_budget=time_budget, threads=threads, compile=compile,
                   pick_size=pick_size and time_budget is not None and bool(family.budget_sizes),
                   validation=validation, dataset=dataset)

    def trained_on(self, classes: Classes) -> TrainSettings:
        """These settings for data of these classes (the model's head has one output per class)."""
        return dataclasses.replace(self, classes=tuple(classes.names))

    @property
    def epochs(self) -> float:
        return self.recipe.epochs

    @property
    def batch_size(self) -> int:
        return self.recipe.batch_size

    @property
    def log_every(self) -> int:
        return self.recipe.log_every

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the checkpoint."""
        document = dataclasses.asdict(self)
        document["recipe"] = self.recipe.as_json()
        document["classes"] = list(self.classes)
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> TrainSettings:
        values = dict(document)
        values["recipe"] = Recipe(**values["recipe"])
        if "classes" in values:
            values["classes"] = tuple(values["classes"])
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        """Flat, for `train --json`'s `config`: model, its options, the recipe's fields, seed."""
        recipe = self.recipe.as_json()
        recipe.pop("name")
        return {"model": self.model, **self.options, "recipe": self.recipe.name, **recipe, "seed": self.seed,
                "eval_every": self.eval_every, "precision": self.precision, "steps": self.steps,
                "time_budget": self.time_budget, "threads": self.threads, "compile": self.compile,
                "val_split": None if self.validation is None else self.validation["size"],
                "val_seed": None if self.validation is None else self.validation["seed"],
                "dataset": self.dataset, "classes": len(self.classes), "batch_fitted_from": self.batch_fitted_from,
                "class_weights": None if self.class_weights is None else self.class_weights["weights"],
                "class_weights_from": None if self.class_weights is None
                else self.class_weights.get("file") or self.class_weights["source"],
                "sampling": self.sampling, "init_from": None if self.init_from is None else self.init_from["path"],
                "freeze_backbone": bool(self.init_from and self.init_from.get("freeze_backbone"))}
