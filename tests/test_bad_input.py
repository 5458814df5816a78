"""The CLI's error contract: bad input to any command gets one line and the right exit code."""


import os
import sys

import pytest
import torch

ALL_CLASSES = "plane,car,bird,cat,deer,dog,frog,horse,ship,truck"

# (command line, exit code, a fragment of the one error line)
BAD_INPUT = [
    (["download", "--retries", "x"], 2, "--retries"),
    (["download", "--retries", "-1"], 2, "--retries"),
    (["download", "--timeout", "-5"], 2, "--timeout"),
    (["download", "--md5", "abc"], 2, "not an MD5"),
    (["download", "--url", "not-a-url"], 2, "not an http"),
    (["download", "--from", "missing.tar.gz"], 2, "no such file or folder"),
    (["download", "--from", "a.tar.gz", "--url", "http://x/y"], 2, "either --from or --url"),
    (["preview", "--count", "0"], 2, "--count"),
    (["preview", "--count", "100000"], 2, "--count"),
    (["preview", "--count", "two"], 2, "--count"),
    (["preview", "--split", "validation"], 2, "--split"),
    (["preview", "--classes", ","], 2, "at least one class"),
    (["preview", "--classes", "unicorn"], 2, "not a CIFAR-10 class"),
    (["preview", "--scale", "0"], 2, "--scale"),
    (["preview", "--save", "no/such/dir/grid.png"], 2, "does not exist"),
    (["preview", "--save", "."], 2, "is a directory"),
    (["train", "--epochs", "-1"], 2, "--epochs"),
    (["train", "--epochs", "1e9"], 2, "--epochs"),
    (["train", "--batch-size", "0"], 2, "--batch-size"),
    (["train", "--lr", "nan"], 2, "--lr"),
    (["train", "--lr", "inf"], 2, "--lr"),
    (["train", "--momentum", "-0.1"], 2, "--momentum"),
    (["train", "--width", "100000"], 2, "--width"),
    (["train", "--log-every", "0"], 2, "--log-every"),
    (["train", "--output", "no/such/dir/model.pth"], 2, "does not exist"),
    (["train", "--output", "."], 2, "is a directory"),
    (["train", "--resume"], 2, "no checkpoint"),
    (["train", "--device", "tpu"], 2, "not a device"),
    (["train", "--device", "cuda:x"], 2, "not a device"),
    (["train", "--seed", "-1"], 2, "--seed"),
    (["train", "--model", "resnet"], 2, "choose one of: net, fast, resnet18"),
    (["train", "--model", "resnet18", "--width", "8"], 2, "does not take --width"),
    (["train", "--model-option", "width"], 2, "not NAME=VALUE"),
    (["train", "--model-option", "width=big"], 2, "not a whole number"),
    (["train", "--lr", "1e308"], 2, "--lr"),
    (["train", "--precision", "fp8"], 2, "--precision"),
    (["train", "--precision", "fp16", "--device", "cpu"], 2, "fp16 needs a GPU"),
    (["train", "--time-budget", "soon"], 2, "not a duration"),
    (["train", "--time-budget", "0s"], 2, "not a duration"),
    (["train", "--model", "fast", "--time-budget", "5m", "--epochs", "3"], 2, "--time-budget sets the run's length"),
    (["train", "--model", "resnet18", "--time-budget", "5m"], 2, "starts flat"),
    (["train", "--resume", "--restart"], 2, "contradict"),
    (["train", "--output", "x.metrics.jsonl"], 2, "metrics log"),
    (["train", "--steps", "0"], 2, "--steps"),
    (["train", "--eval-every", "-1"], 2, "--eval-every"),
    (["train", "--val-split", "300"], 2, "the training set has only 300"),
    (["train", "--val-split", "0"], 2, "holds out no image"),
    (["train", "--val-split", "1.5"], 2, "neither a count"),
    (["train", "--val-seed", "-1"], 2, "--val-seed"),
    (["train", "--seeds", "4-1"], 2, "runs backwards"),
    (["train", "--seeds", "0-9223372036854775808"], 2, "seeds go up to"),
    (["train", "--seeds", "0-2", "--seed", "1"], 2, "--seeds lists every run's seed"),
    (["train", "--repeats", "0"], 2, "--repeats"),
    (["train", "--repeats", "3", "--seed", "9223372036854775806"], 2, "past the largest seed"),
    (["train", "--lr", "0.1,0.1"], 2, "twice"),
    (["train", "--class-weights", "missing.json"], 2, "no such file; give auto, none, or a file"),
    (["train", "--sampling", "even"], 2, "'even' is not one of: auto, balanced, shuffle"),
    (["train", "--init-from", "missing.pth"], 1, "--init-from missing.pth does not exist"),
    (["train", "--init-from", "."], 1, "is a directory"),
    (["train", "--freeze-backbone"], 2, "--freeze-backbone trains only the head"),
    (["predict", "--explain", "h.jpg", "x.png"], 2, "does not end in .png"),
    (["evaluate", "a.pth", "b.pth", "--explain", "e.png"], 2, "draws one model"),
    (["evaluate", "a.pth", "b.pth", "--save-reliability", "r.png"], 2, "draws one model"),
    (["evaluate", "--save-reliability", "r.jpg"], 2, "does not end in .png"),
    (["evaluate", "--model", "missing.pth"], 1, "does not exist"),
    (["evaluate", "--model", "."], 1, "is a directory"),
    (["evaluate", "--batch-size", "0"], 2, "--batch-size"),
    (["evaluate", "--split", "dev"], 2, "--split"),
    (["evaluate", "--seed", "1"], 2, "evaluate does not use --seed"),
    (["benchmark-gpu", "--widths", "6,abc"], 2, "not a whole number"),
    (["benchmark-gpu", "--widths", "1e3"], 2, "not a whole number"),
    (["benchmark-gpu", "--batch-size", "-4"], 2, "--batch-size"),
    (["benchmark-gpu", "--repeats", "0"], 2, "--repeats"),
    (["benchmark-gpu", "--steps", "0"], 2, "--steps"),
    # an option without its value before another option: a usage error naming it, not a file named --data-dir
    (["evaluate", "--model", "--data-dir", "x"], 2, "option --model needs a value, but the next word, --data-dir, is "
                                                    "an option (write --model=--data-dir if that is the value)"),
    (["evaluate", "-m", "-q"], 2, "option -m needs a value, but the next word, -q, is an option"),
    (["train", "--output", "--epochs", "1"], 2, "option --output needs a value"),
    (["train", "--lr", "--seeds", "0-1"], 2, "option --lr needs a value"),
    (["predict", "--model", "--json", "x.png"], 2, "option --model needs a value"),
    (["download", "--from", "--force"], 2, "option --from needs a value"),
    (["export", "--format", "--json"], 2, "option --format needs a value"),
    (["plot", "--label", "--smooth", "3"], 2, "option --label needs a value"),
    (["preview", "--save", "--count", "2"], 2, "option --save needs a value"),
    (["train", "--epochs", "1", "--data-dir", "--dataset", "cifar10"], 2, "option --data-dir needs a value"),
    (["--data-dir", "--dataset", "cifar10", "train"], 2, "option --data-dir needs a value"),
    (["--config", "--no-color", "train"], 2, "option --config needs a value"),
    (["--config", "missing.toml", "train"], 2, "does not exist"),
    (["--config", "/dev/zero", "train"], 2, "is a character device, not a regular file"),
    (["--config", ".", "train"], 2, "is a directory"),
]
if not torch.cuda.is_available():
    BAD_INPUT += [
        (["train", "--device", "cuda"], 1, "use --device cpu"),
        (["evaluate", "--device", "cuda:3"], 1, "use --device cpu"),
        (["benchmark-gpu", "--device", "cuda"], 1, "use --device cpu"),
    ]
if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
    BAD_INPUT.append((["train", "--device", "mps"], 1, "MPS backend is not available"))


@pytest.mark.parametrize(("args", "code", "fragment"), BAD_INPUT, ids=[" ".join(a) for a, _, _ in BAD_INPUT])
def test_bad_input_gets_one_line_and_the_right_exit_code(cli, data_dir, tmp_path, args, code, fragment):
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = cli(*args) if args[0] in ("--data-dir", "--config") else cli("--data-dir", str(data_dir), *args)
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before, "a failed command left files behind"


@pytest.mark.parametrize(("files", "args", "code", "fragment"), [
    ({"w.json": "[1, 2, 3]"}, ["train", "--class-weights", "w.json"], 2,
     "--class-weights w.json has 3 weights, but the dataset has 10 classes"),
    ({"w.txt": "1 2 three"}, ["train", "--class-weights", "w.txt"], 2, "number 3 is 'three', not a weight"),
    ({"bad.pth": "not a model"}, ["train", "--init-from", "bad.pth"], 1,
     "--init-from: model file bad.pth is not a PyTorch file or is corrupt"),
])
def test_bad_files_given_to_train_get_one_line(cli, data_dir, tmp_path, files, args, code, fragment):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = cli("--data-dir", str(data_dir), *args, "-o", "out.pth")
    assert result.exit_code == code and result.stdout == "", result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_explain_without_captum_gets_one_line(cli, data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "captum", None)  # the package is not installed
    result = cli("--data-dir", str(data_dir), "predict", "--explain", "h.png", "x.png")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "error: --explain needs the optional Captum package; install it with " \
                            "pip install 'cifarctl[explain]'\n"


def test_debug_variable_shows_the_traceback(cli, monkeypatch):
    monkeypatch.setenv("CIFARCTL_DEBUG", "1")
    result = cli("evaluate", "--model", "missing.pth")
    assert result.exit_code == 1 and "Traceback" in result.stderr


# --- untrusted files ---------------------------------------------------------------------


# --- faults ------------------------------------------------------------------------------


def test_outputs_inside_any_dataset_folder_or_over_an_input_are_refused(cli, data_dir, tmp_path):
    """Every command that writes checks its outputs against the dataset folder and its own inputs."""
    assert cli("train", "--epochs", "1", "--seed", "0").exit_code == 0
    inside = str(data_dir / "cifar-10-batches-py" / "x")
    before = (data_dir / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    for args in (["export", "--model", "cifar_net.pth", "-o", str(data_dir / "cifar-10-batches-py" / "data_batch_1")],
                 ["evaluate", "--save-confusion", inside + ".png"],
                 ["plot", "cifar_net.pth", "-o", inside + ".png"],
                 ["train", "--epochs", "1", "--tensorboard", inside, "-o", "other.pth"]):
        result = cli("--data-dir", str(data_dir), *args)
        assert result.exit_code == 2 and "inside the dataset" in result.stderr, (args, result.stderr)
    assert (data_dir / "cifar-10-batches-py" / "data_batch_1").read_bytes() == before
    (tmp_path / "m.pt").write_bytes((tmp_path / "cifar_net.pth").read_bytes())
    over = cli("export", "--model", "m.pt", "--format", "torchscript", "-o", "m.pt")
    assert over.exit_code == 2 and "the file this command reads" in over.stderr
    wrong_suffix = cli("export", "--model", "cifar_net.pth", "--format", "torchscript", "-o", "x.onnx")
    assert wrong_suffix.exit_code == 2 and "does not end in .pt" in wrong_suffix.stderr


@pytest.mark.parametrize(("change", "fragment"), [
    ({"metrics_bytes": "lots"}, "'metrics_bytes'"),
    ({"running_loss": "x"}, "'running_loss'"),
    ({"running_loss": float("nan")}, "'running_loss'"),
    ({"test_accuracy": 5.0}, "'test_accuracy'"),
    ({"dataset": {"images": "many", "fingerprint": "x"}}, "'dataset'"),
    ({"torch_rng": torch.zeros(3, dtype=torch.uint8)}, "'torch_rng'"),
    ({"model": {"a": torch.zeros(1)}}, "does not fit"),
])
def test_a_damaged_checkpoint_is_one_line_naming_what_is_wrong(cli, data_dir, tmp_path, change, fragment):
    assert cli("train", "--steps", "40", "--seed", "0", "--log-every", "5").exit_code == 0
    state = torch.load(tmp_path / "cifar_net.ckpt", weights_only=True)
    state.update({"step": 20, **change})
    torch.save(state, tmp_path / "cifar_net.ckpt")
    result = cli("train", "--steps", "40", "--seed", "0", "--log-every", "5", "--resume")
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error:") and fragment in lines[-1], result.stderr
    # nothing but the first line
    assert not [line for line in lines[:-1] if not line.startswith("training ")], result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize("text", ["1e-9", "1h1h", "30m1h", "٣s", "0.5"])
def test_durations_outside_their_documented_form_are_refused(cli, text):
    result = cli("train", "--model", "fast", "--time-budget", text)
    assert result.exit_code == 2 and "--time-budget" in result.stderr


# --- results that cannot be written ---------------------------------------------------------


def _stdout_cases(model: str, image: str) -> list[list[str]]:
    return [["evaluate", "--model", model, "--json"],
            ["evaluate", "--model", model],
            ["predict", "--model", model, image],
            ["predict", "--model", model, image, "--json"]]


@pytest.mark.parametrize("case", range(4))
def test_results_lost_on_a_full_stdout_are_an_error_not_exit_0(data_dir, tmp_path, case):
    """`cifarctl evaluate --json > /dev/full`: the results were lost, so exit 1 with one line;
    a reader that left (`| head`) stays quiet."""
    import subprocess

    from helpers import save_tutorial_model
    from PIL import Image

    model = save_tutorial_model(tmp_path)
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "red.png")
    args = ["cifarctl", "--data-dir", str(data_dir), *_stdout_cases(str(model), "red.png")[case]]
    with open("/dev/full", "w") as full:
        done = subprocess.run(args, cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("error:") == 1 and "cannot write the results to stdout: No space left" in done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr
    shell = " ".join(f"'{arg}'" for arg in args) + " | head -c 1 >/dev/null; echo status=${PIPESTATUS[0]}"
    piped = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "status=0" in piped.stdout and "error" not in piped.stderr, piped.stderr



# --- outputs over inputs ----------------------------------------------------------------------

def _photos(tmp_path):
    from PIL import Image

    (tmp_path / "photos" / "more").mkdir(parents=True)
    for name in ("photos/a.png", "photos/more/b.png", "in.png", "model.png"):
        Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / name)
    os.link(tmp_path / "in.png", tmp_path / "hardlink.png")
    (tmp_path / "model.png").write_bytes((tmp_path / "cifar_net.pth").read_bytes())


# (command line, a fragment of the refusal): every output option against every input, and two outputs
OUTPUT_OVER_INPUT = [
    (["predict", "in.png", "--save", "in.png"], "is the file this command reads"),
    (["predict", "in.png", "--save", "./photos/../in.png"], "is the file this command reads"),
    (["predict", "in.png", "--save", "hardlink.png"], "is the file this command reads"),
    (["predict", "photos", "--save", "photos/more/b.png"], "one of the files inside the folder this command reads"),
    (["predict", "photos", "--save", "photos/new.png"], None),  # a new name overwrites nothing
    (["predict", "--model", "model.png", "in.png", "--save", "model.png"], "is the file this command reads"),
    (["evaluate", "--model", "model.png", "--save-confusion", "model.png"], "is the file this command reads"),
    (["evaluate", "--save-confusion", "x.png", "--save-mistakes", "./x.png"], "name the same place"),
    (["plot", "cifar_net.pth", "-o", "cifar_net.metrics.jsonl.png", "--label", "a"], None),
    (["train", "-o", "t.pth", "--tensorboard", "t.pth"], "name the same place"),
    (["train", "-o", "cifarctl.toml"], "is the file this command reads"),  # the config file is an input too
    (["--config", "in.png", "predict", "photos", "--save", "in.png"], "is the file this command reads"),
    (["train", "-o", "t2", "--tensorboard", "t2/events"], "name the same place"),
]


@pytest.mark.parametrize(("args", "fragment"), OUTPUT_OVER_INPUT, ids=[" ".join(a) for a, _ in OUTPUT_OVER_INPUT])
def test_an_output_is_never_one_of_the_commands_inputs(cli, data_dir, tmp_path, args, fragment):
    from helpers import save_tutorial_model

    save_tutorial_model(tmp_path)
    _photos(tmp_path)
    (tmp_path / "tb").mkdir()
    (tmp_path / "cifarctl.toml").write_text("seed = 1\n")
    if "--config" in args:
        (tmp_path / "in.png").write_text("seed = 2\n")
    (tmp_path / "cifar_net.metrics.jsonl").write_text(
        '{"kind": "step", "epoch": 1, "step": 1, "global_step": 1, "images": 4, "loss": 2.0}\n')
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    result = cli("--data-dir", str(data_dir), *args)
    if fragment is None:  # a new file beside the inputs is fine
        assert result.exit_code == 0, result.stderr
        return
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("error:") == 1 and fragment in result.stderr, result.stderr
    after = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert after == before



@pytest.mark.parametrize("args", [["train", "--steps", "1"], ["export"], ["download"], ["preview"], ["evaluate"],
                                  ["evaluate", "--model", "loop"], ["export", "--model", "loop"],
                                  ["predict", "x.png"], ["train", "-o", "loop/m.pth", "--steps", "1"],
                                  ["preview", "--save", "loop/x.png"], ["download", "--from", "loop"]],
                         ids=lambda args: " ".join(args))
def test_a_loop_of_symbolic_links_is_one_clear_line(cli, tmp_path, args):
    from helpers import save_tutorial_model

    save_tutorial_model(tmp_path)
    (tmp_path / "loop").symlink_to("loop")
    data_dir = [] if "loop" in " ".join(args) else ["--data-dir", "loop"]
    result = cli(*data_dir, *args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("error:") == 1 and "is a loop of symbolic links" in result.stderr, result.stderr
    assert "internal error" not in result.stderr and "File exists" not in result.stderr


def _torchscript_net(path):
    import warnings

    from cifarctl.models.net.network import Net

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(Net().eval(), torch.zeros(1, 3, 32, 32)), path)


def _net_state(path, change):
    from cifarctl.models.net.network import Net

    state = Net().state_dict()
    change(state)
    torch.save(state, path)


def _described_net(path, classes):
    from cifarctl.inference.model_files import model_document
    from cifarctl.models import ModelInfo, registry
    from cifarctl.models.net.network import Net

    info = ModelInfo("net", registry.get("net").resolve_options({}), classes=len(classes))
    torch.save(model_document(info, Net(num_classes=len(classes)).state_dict(), False, dataset="pets",
                              classes=tuple(classes)), path)


MODEL_FILES = {
    "TorchScript": (_torchscript_net, "is a TorchScript file"),
    "a key missing": (lambda path: _net_state(path, lambda s: s.pop("fc2.weight")), "missing fc2.weight"),
    "int64 weights": (lambda path: _net_state(path, lambda s: s.update({"fc1.bias": s["fc1.bias"].long()})),
                      "stores fc1.bias as torch.int64"),
    # predict prints class names in tab-separated lines: a name that would break them is refused when read
    "a TAB in a class name": (lambda path: _described_net(path, ["a\tb", "dog"]),
                              "records the class name 'a\\tb', which holds U+0009"),
    "ESC in a class name": (lambda path: _described_net(path, ["\x1b[2Jcat", "dog"]), "which holds U+001B"),
}
MODEL_READERS = {"evaluate": ["evaluate", "--no-download"], "predict": ["predict", "image.png"], "export": ["export"]}


@pytest.mark.parametrize("kind", MODEL_FILES)
@pytest.mark.parametrize("command", MODEL_READERS)
def test_every_command_that_reads_a_model_names_what_is_wrong_with_it(cli, tmp_path, command, kind):
    from PIL import Image

    write, fragment = MODEL_FILES[kind]
    write(tmp_path / "m.pth")
    Image.new("RGB", (32, 32), "red").save(tmp_path / "image.png")
    before = sorted(tmp_path.iterdir())
    result = cli(*MODEL_READERS[command], "--model", "m.pth")
    assert result.exit_code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert sorted(tmp_path.iterdir()) == before


# --- numbers pooled that should not be --------------------------------------------------------


@pytest.fixture(scope="module")
def models_to_pool(_imported_data_dir, tmp_path_factory):
    """(data dir, folder): two seeds of one recipe, the same recipe at another rate, another family, and a
    copy of a tutorial state_dict without its checkpoint, trained once for the module."""
    import shutil
    from contextlib import redirect_stderr, redirect_stdout
    from io import StringIO

    from cifarctl.cli.app import run

    folder = tmp_path_factory.mktemp("pooling")
    data = folder / "data"
    shutil.copytree(_imported_data_dir, data, copy_function=shutil.copy2)
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("CIFARCTL_")]:
            patch.delenv(name)
        patch.setenv("CIFARCTL_THREADS", "1")
        patch.chdir(folder)
        for args in (["--seeds", "0-1", "-o", "s.pth"], ["--seed", "1", "--lr", "0.01", "-o", "lr.pth"],
                     ["--seed", "1", "--model", "fast", "--steps", "2", "-o", "fast.pth"]):
            with redirect_stdout(StringIO()), redirect_stderr(StringIO()) as err:
                code = run(["--data-dir", str(data), "train", "--epochs", "1", "--batch-size", "32", *args])
            assert code == 0, err.getvalue()
    shutil.copy(folder / "s.seed1.pth", folder / "copy.pth")
    return data, folder


# (model files, a fragment of the line that says why there is no mean ± std; None: they are pooled)
POOLING = [
    (["s.seed0.pth", "s.seed1.pth"], None),  # the tutorial's state_dicts: their checkpoints say how they were made
    (["s.seed0.ckpt", "s.seed1.ckpt"], None),
    (["s.seed0.pth", "s.seed0.ckpt"], "s.seed0.pth and s.seed0.ckpt hold the same weights"),
    (["s.seed0.pth", "s.seed1.pth", "s.seed1.ckpt"], "hold the same weights"),
    (["s.seed1.pth", "fast.pth"], "were trained differently (model net against fast"),
    (["s.seed0.pth", "lr.pth"], "were trained differently (recipe.lr 0.001 against 0.01)"),
    (["s.seed0.pth", "copy.pth"], "copy.pth does not record the run that made it"),
]


@pytest.mark.parametrize(("models", "fragment"), POOLING, ids=[" ".join(models) for models, _ in POOLING])
def test_a_mean_and_spread_describes_only_repeated_runs_of_one_recipe(cli, models_to_pool, monkeypatch, models,
                                                                       fragment):
    import json

    data, folder = models_to_pool
    monkeypatch.chdir(folder)
    paths = list(models)
    result = cli("--data-dir", str(data), "evaluate", *paths)
    assert result.exit_code == 0, result.stderr
    document = json.loads(cli("--data-dir", str(data), "evaluate", *paths, "--json").stdout)
    assert len(document["models"]) == len(models)
    if fragment is None:
        assert f"mean ± std of {len(models)} models" in result.stdout and document["pooled"] is True
        assert document["accuracy"]["n"] == len(models) and document["not_pooled"] is None
        return
    assert "mean ± std of" not in result.stdout and "t-interval" not in result.stdout, result.stdout
    assert f"{len(models)} separate models" in result.stdout
    assert fragment in " ".join(result.stdout.split()), result.stdout
    assert document["pooled"] is False and fragment in document["not_pooled"]
    assert document["accuracy"] is None and document["ece"] is None and document["macro_f1"] is None


def test_runs_that_share_a_seed_are_not_two_samples():
    from pathlib import Path

    from cifarctl.inference.repeats import RunRecord, not_repeats

    settings = {"model": "net", "seed": 3, "threads": 1, "recipe": {"lr": 0.1}}
    first, second = RunRecord(Path("a.pth"), settings, "w1"), RunRecord(Path("b.pth"), {**settings, "threads": 2}, "w2")
    assert not_repeats([first, second]) == "a.pth and b.pth were both trained with seed 3"
    third = RunRecord(Path("c.pth"), {**settings, "seed": 4}, "w3")
    assert not_repeats([first, third]) is None
    budget = {**settings, "time_budget": 60.0}
    assert not_repeats([RunRecord(Path("a"), {**budget, "steps": 10}, "w1"),
                        RunRecord(Path("b"), {**budget, "seed": 5, "steps": 12}, "w2")]) is None
