"""A family's torch code (`models/<name>/network.py`): loaded, checked, its hooks always there.

A network module defines `build(**options, num_classes) -> nn.Module` and may define hooks:
functions named as the fields of `FamilyHooks`. How a hook is found, and why it cannot be
missed without a word:

- By its name, and nothing else: there is no list of hooks to keep in step with the module.
- Every public function a network module defines must be `build` or a hook; a helper is
  private (`_identity_conv`). So a misspelled hook (`def prepar(...)`) stops the module
  loading, with the file and the name it meant, instead of being a helper nobody calls. (A
  `@hook` decorator would check the names it is put on, but a misspelled hook written without
  it would be ignored again: the rule has nothing to forget.)
- Each hook must take the arguments its default takes, and `build` the entry's options and
  `num_classes`; a recipe that needs a hook (`freeze_stem_after` needs `freeze_stem`, a plain
  `state_dict` needs `matches`) needs it in the module. All of it is checked when the module is
  loaded: at the first model built, before any training.

Callers get a `FamilyHooks` whose every hook is callable: the family's function, or the
default, so no caller asks whether a family has one. Importing this module imports no torch.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from cifarctl.errors import UsageError
from cifarctl.models.registry import Family, FamilyError

if TYPE_CHECKING:
    import torch
    import torch.nn as nn


@dataclass(frozen=True)
class FamilyHooks:
    """A family's hooks, each always callable: the family's own function, or the default."""

    # prepare(model, images): set data-dependent weights once, after building, before training.
    # `images` are the training images as loaded (uint8); the family's `prepare` gets them
    # normalised, a cost paid only by families that have one. Default: nothing.
    prepare: Callable[[nn.Module, torch.Tensor], None]
    # param_groups(model, lr, weight_decay) -> optimiser groups (recipes with optimizer="sgd").
    # Default: weight decay on weights with more than one dimension, not on biases or norms.
    param_groups: Callable[[nn.Module, float, float], list[dict[str, Any]]]
    # freeze_stem(model): stop the first layer learning, at the start of every epoch from the
    # recipe's freeze_stem_after on. Default: refuses (a recipe may not ask a family without one).
    freeze_stem: Callable[[nn.Module], None]
    # matches(state_dict) -> options or None: recognise a bare state_dict (plain_state_dict
    # families). Default: None (recognises nothing).
    matches: Callable[[dict[str, torch.Tensor]], dict[str, Any] | None]
    # for_inference(model) -> a model that predicts the same, faster (e.g. batch norm folded into
    # the convolutions); given a copy in eval mode, never trained again. Default: the model.
    for_inference: Callable[[nn.Module], nn.Module]


def _prepares_nothing(model: nn.Module, images: torch.Tensor) -> None:
    return None


def _standard_param_groups(model: nn.Module, lr: float, weight_decay: float) -> list[dict[str, Any]]:
    from cifarctl.recipes.optimizers import standard_param_groups

    return standard_param_groups(model, lr, weight_decay)


def _has_no_stem_to_freeze(model: nn.Module) -> None:
    raise UsageError("this model family has no freeze_stem hook, so its recipe's freeze_stem_after must be 0")


def _matches_nothing(state_dict: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    return None


def _as_trained(model: nn.Module) -> nn.Module:
    return model


DEFAULTS = FamilyHooks(prepare=_prepares_nothing, param_groups=_standard_param_groups,
                       freeze_stem=_has_no_stem_to_freeze, matches=_matches_nothing, for_inference=_as_trained)
HOOKS = tuple(hook.name for hook in fields(FamilyHooks))


@dataclass(frozen=True)
class Network:
    """A family's loaded network module: how to build the model, and its hooks."""

    build: Callable[..., nn.Module]
    hooks: FamilyHooks


_LOADED: dict[str, Network] = {}


def load(family: Family) -> Network:
    """The family's network module, imported and checked once (see the module's docstring)."""
    if family.name not in _LOADED:
        _LOADED[family.name] = _load(family)
    return _LOADED[family.name]


def _load(family: Family) -> Network:
    try:
        module = importlib.import_module(family.network_module)
    except ModuleNotFoundError as error:
        if error.name != family.network_module:
            raise  # something network.py imports is missing: that error says what
        raise FamilyError(f"model family {family.name} has no network.py beside its __init__.py "
                          "(it holds build() and the hooks)") from None
    where = getattr(module, "__file__", None) or module.__name__
    _refuse_unknown_functions(module, where)
    build = getattr(module, "build", None)
    if not callable(build):
        raise FamilyError(f"{where} defines no build(**options, num_classes) -> nn.Module")
    _check_arguments(build, where, "build", **{option.name: option.default for option in family.options},
                     num_classes=10)
    found = {name: getattr(module, name) for name in HOOKS if hasattr(module, name)}
    for name, function in found.items():
        default = getattr(DEFAULTS, name)
        _check_arguments(function, where, name, *inspect.signature(default).parameters)
    _check_recipe_needs(family, found, where)
    if "prepare" in found:
        found["prepare"] = _normalising(found["prepare"], family.normalization)
    return Network(build=build, hooks=replace(DEFAULTS, **found))


def _refuse_unknown_functions(module: Any, where: str) -> None:
    known = ("build", *HOOKS)
    for name, value in vars(module).items():
        if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_") \
                and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            meant = f"did you mean {close[0]}? " if close else ""
            raise FamilyError(f"{where} defines {name}(), which is neither build nor a hook "
                              f"({', '.join(HOOKS)}); {meant}(a helper's name starts with _: _{name})")


def _check_arguments(function: Callable[..., Any], where: str, name: str, *args: Any, **kwargs: Any) -> None:
    if not callable(function):
        raise FamilyError(f"{where}: {name} is not a function")
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError:
        wanted = ", ".join([*map(str, args), *(f"{key}=" for key in kwargs)])
        raise FamilyError(f"{where}: {name}{inspect.signature(function)} cannot be called as "
                          f"{name}({wanted})") from None


def _check_recipe_needs(family: Family, found: dict[str, Any], where: str) -> None:
    if family.recipe.freeze_stem_after and "freeze_stem" not in found:
        raise FamilyError(f"{where}: the {family.name} recipe freezes the stem after {family.recipe.freeze_stem_after} "
                          "epochs, but the module defines no freeze_stem(model)")
    if family.plain_state_dict and "matches" not in found:
        raise FamilyError(f"{where}: {family.name} is saved as a bare state_dict (plain_state_dict), but the module "
                          "defines no matches(state_dict) to recognise one")


def _normalising(prepare: Callable[..., None], normalization: tuple[tuple[float, ...], tuple[float, ...]]
                 ) -> Callable[[nn.Module, torch.Tensor], None]:
    """The family's prepare, called with the images normalised as the family trains on them."""

    def prepare_normalised(model: nn.Module, images: torch.Tensor) -> None:
        from cifarctl.data.memory import normalize

        prepare(model, normalize(images, *normalization))

    return prepare_normalised
