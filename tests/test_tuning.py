"""The pieces under `cifarctl tune`: search spaces, the loop's epoch callback, the config section, the picture."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from cifarctl.config_sections import replaced_section, section_text, write_model_section
from cifarctl.errors import CifarctlError, UsageError
from cifarctl.models import registry
from cifarctl.models.search_space import Dimension, checked_settings, parse_dimension, search_space, settings_of
from cifarctl.training.tune_result import rounded_settings


def parse(text: str, family: str = "fast") -> Dimension:
    return parse_dimension(text, settings_of(registry.get(family)), family)


@pytest.mark.parametrize(("text", "dimension"), [
    ("lr=0.1:2:log", Dimension("lr", 0.1, 2.0, log=True)),
    ("label-smoothing=0:0.3", Dimension("label_smoothing", 0.0, 0.3)),
    ("warmup=0.1:0.5:0.1", Dimension("warmup", 0.1, 0.5, step=0.1)),
    ("width=32,64,96", Dimension("width", choices=(32, 64, 96), integer=True)),
    ("width=32:128:32", Dimension("width", 32, 128, step=32, integer=True)),
    ("batch_size=64:512:log", Dimension("batch_size", 64, 512, log=True, integer=True)),
    ("momentum=0.9", Dimension("momentum", choices=(0.9,))),
])
def test_space_forms(text, dimension):
    assert parse(text) == dimension
    assert parse(dimension.text()) == dimension  # written back as --space takes it


def test_every_family_declares_a_space_it_can_search():
    for family in registry.FAMILIES.values():
        dimensions = search_space(family)
        assert dimensions and any(not dimension.fixed for dimension in dimensions), family.name
        assert [dimension.text() for dimension in dimensions] == [
            parse(text, family.name).text() for text in family.search_space]


def test_overrides_replace_by_name_and_add_in_order():
    names = [dimension.name for dimension in search_space(registry.get("fast"), ["width=32", "momentum=0.8:0.9"])]
    assert names == ["lr", "weight_decay", "label_smoothing", "width", "momentum"]
    assert search_space(registry.get("fast"), ["width=32"])[3].fixed


def test_a_broken_entry_names_its_file():
    from cifarctl.models.registry import FamilyError

    broken = registry.Family("fast", "x", "x", registry.get("fast").recipe, search_space=("lr=2:1",))
    with pytest.raises(FamilyError, match=r"cifarctl/models/fast/__init__.py: search space 'lr=2:1'"):
        search_space(broken)


def test_settings_by_name_split_into_options_and_recipe():
    options, recipe = checked_settings(registry.get("fast"), {"lr": 1, "width": 96, "batch_size": 128}, "here")
    assert options == {"width": 96} and recipe == {"lr": 1.0, "batch_size": 128}
    assert isinstance(recipe["lr"], float)
    with pytest.raises(UsageError, match="here: widen = 9 is outside 1 <= widen <= 8, whole numbers"):
        checked_settings(registry.get("fast"), {"widen": 9}, "here")
    with pytest.raises(UsageError, match="here: resnet18 has no setting 'width'"):
        checked_settings(registry.get("resnet18"), {"width": 8}, "here")


def test_settings_are_written_to_four_significant_digits():
    assert rounded_settings({"lr": 0.707690718, "width": 96, "weight_decay": 0.00170416960}) == {
        "lr": 0.7077, "width": 96, "weight_decay": 0.001704}


# --- the [train.MODEL] section ----------------------------------------------------------------

def test_the_section_replaces_its_own_lines_only(tmp_path: Path):
    path = tmp_path / "cifarctl.toml"
    path.write_text('# mine\ndata_dir = "d"  # where\n\n[train.fast]\nlr = 0.5\nwidth = 32\n\n[train.net]\nlr = 0.01\n')
    write_model_section(path, "fast", {"lr": 0.7077, "width": 96}, ["written by a test"])
    assert path.read_text() == ('# mine\ndata_dir = "d"  # where\n\n[train.fast]\n# written by a test\nlr = 0.7077\n'
                                "width = 96\n\n[train.net]\nlr = 0.01\n")
    write_model_section(path, "resnet18", {"lr": 1e-05}, [])
    assert tomllib.loads(path.read_text())["train"] == {"fast": {"lr": 0.7077, "width": 96}, "net": {"lr": 0.01},
                                                        "resnet18": {"lr": 1e-05}}
    fresh = tmp_path / "new.toml"
    write_model_section(fresh, "net", {"lr": 0.02}, [])
    assert fresh.read_text() == "[train.net]\nlr = 0.02\n"


@pytest.mark.parametrize("content", ["[train]\nfast = { lr = 0.5 }\n", "train.fast.lr = 0.5\n"])
def test_a_section_set_another_way_is_left_alone(tmp_path: Path, content: str):
    path = tmp_path / "cifarctl.toml"
    path.write_text(content)
    with pytest.raises(CifarctlError, match=r"cannot write the best settings into .*: it .*; put the \[train.fast\]"):
        write_model_section(path, "fast", {"lr": 0.7}, [])
    assert path.read_text() == content


def test_a_quoted_header_is_found():
    assert replaced_section('[ train . "fast" ]\nlr = 1\n', "fast", section_text("fast", {"lr": 2.0})) == (
        "[train.fast]\nlr = 2.0\n")


# --- the loop tells its caller each epoch ------------------------------------------------------

def test_epoch_ended_hears_every_epoch_and_what_it_raises_ends_the_run(data_dir, tmp_path: Path):
    from cifarctl.data.catalog import locate
    from cifarctl.data.memory import load_split
    from cifarctl.data.validation import split_off
    from cifarctl.training.context import Context
    from cifarctl.training.loop import train
    from cifarctl.training.run_files import run_files
    from cifarctl.training.settings import TrainSettings

    data, validation, _ = split_off(load_split(locate(data_dir), "train"), 30, 0)
    settings = TrainSettings.for_model("net", seed=0, epochs=3, batch_size=64, eval_every=2)
    heard = []
    train(settings, data, run_files(tmp_path / "all.pth"), validation,
          context=Context(epoch_ended=lambda epoch, share, accuracy: heard.append((epoch, share, accuracy))))
    assert [(epoch, round(share, 3)) for epoch, share, _ in heard] == [(1, 0.333), (2, 0.667), (3, 1.0)]
    assert heard[0][2] is None and all(0 <= accuracy <= 1 for *_, accuracy in heard[1:])  # --eval-every 2 and the end

    class Enough(Exception):
        pass

    def stop_after_the_first(epoch, share, accuracy):
        raise Enough(epoch)

    files = run_files(tmp_path / "stopped.pth")
    with pytest.raises(Enough):
        train(settings, data, files, validation, context=Context(epoch_ended=stop_after_the_first))
    import torch

    assert torch.load(files.checkpoint, weights_only=True)["step"] == 5  # saved at the first epoch's end
    assert not files.output.exists()


# --- the picture ---------------------------------------------------------------------------------

def test_the_study_picture_is_a_png(tmp_path: Path):
    from cifarctl.pictures.tuning_plots import Band, StudyPicture, TrialPoint, save_study_picture

    points = (TrialPoint(0, "complete", 0.6, ((1, 0.4), (2, 0.6))), TrialPoint(1, "pruned", 0.2, ((1, 0.2),)),
              TrialPoint(2, "complete", 0.7, ((1, 0.5), (2, 0.7))))
    save_study_picture(StudyPicture("a study", points, 2, (Band("best, re-run", 0.68, 0.6, 0.76),), 0.1),
                       tmp_path / "history.png")
    assert (tmp_path / "history.png").read_bytes().startswith(b"\x89PNG")


def test_a_study_that_belongs_elsewhere_says_why_in_one_line():
    from cifarctl.training.study import identity_problem

    wanted = {"model": "fast", "dataset": "cifar10", "length": {"time_budget": 120.0, "steps": None, "epochs": None},
              "validation": {"size": 5000, "seed": 0, "of": 50000, "fingerprint": "ab"}, "seed": 0, "precision": None}
    assert identity_problem(dict(wanted), wanted) is None
    assert identity_problem({**wanted, "dataset": "cifar100"}, wanted).startswith(
        "tunes fast on cifar100, not fast on cifar10")
    assert identity_problem({**wanted, "length": {"time_budget": None, "steps": 50, "epochs": None}}, wanted) == (
        "trains each trial for --steps 50, not --time-budget 2m00s; ask for the same, or choose another --study")
    assert identity_problem({**wanted, "precision": "fp32"}, wanted) == (
        "trains its trials with --precision fp32; rerun with --precision fp32, or choose another --study")


# --- a trial reports at the share of its run done ------------------------------------------------

class _Trial:
    """What EpochReports asks of an Optuna trial, written down."""

    def __init__(self) -> None:
        self.reported, self.attributes = [], {}

    def report(self, value, step):
        self.reported.append((step, value))

    def should_prune(self):
        return False

    def set_user_attr(self, key, value):
        self.attributes[key] = value


def test_a_trial_reports_at_the_share_of_its_run_done_once_a_tenth_and_records_its_epochs():
    from cifarctl.training.distributed import ALONE
    from cifarctl.training.trials import EpochReports, report_step

    assert [report_step(share) for share in (0.05, 1 / 3, 0.5, 2 / 3, 0.92, 1.0)] == [10, 30, 50, 60, 90, 100]
    trial = _Trial()
    reports = EpochReports(trial, ALONE)
    for epoch, share, accuracy in ((1, 0.34, 0.5), (2, 0.38, 0.55), (3, 0.7, None), (4, 1.0, 0.6)):
        reports(epoch, share, accuracy)
    assert trial.reported == [(30, 0.5), (100, 0.6)]  # one report a tenth; none where nothing was measured
    assert trial.attributes["epochs"] == 4 and reports.last_epoch == 4


def test_the_median_pruner_leaves_a_narrow_trial_whose_first_epoch_is_a_third_of_its_run():
    optuna = pytest.importorskip("optuna")
    from cifarctl.training.distributed import ALONE
    from cifarctl.training.trials import EpochReports

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    for accuracy in (0.62, 0.66):  # wide trials: one epoch is their whole budget
        trial = study.ask()
        EpochReports(trial, ALONE)(1, 1.0, accuracy)
        study.tell(trial, accuracy)
    narrow = study.ask()  # three epochs in the same budget: its first is a third of its run
    reports = EpochReports(narrow, ALONE)
    reports(1, 0.34, 0.55)  # by epoch number, 0.55 against the others' 0.64 at step 1 was pruned here
    reports(2, 0.67, 0.70)
    reports(3, 1.0, 0.79)
    study.tell(narrow, 0.79)
    assert study.trials[2].intermediate_values == {30: 0.55, 60: 0.70, 100: 0.79}
    late = study.ask()  # worse than the median at the same share of its run: pruned there
    with pytest.raises(optuna.TrialPruned):
        EpochReports(late, ALONE)(1, 1.0, 0.3)
