"""The `cifarctl` application: the root callback, command registration and `main`.

Commands live in one module each and import torch only inside their bodies, so
`cifarctl --help` and shell completion stay instant.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cifarctl import __version__
from cifarctl.cli import benchmark_gpu, download, evaluate, export, plot, predict, preview, train, tune
from cifarctl.cli.startup import Group, command_using, global_option_names
from cifarctl.errors import EXIT_INTERRUPTED, EXIT_USAGE, CifarctlError, Interrupted
from cifarctl.interrupts import Stopped, stop_on_termination_signals

if TYPE_CHECKING:
    from cifarctl.cli.ui import UI

app = typer.Typer(
    name="cifarctl",
    cls=Group,
    help="PyTorch's CIFAR-10 tutorial as a toolkit: download, preview, train, evaluate, benchmark; "
         "on CIFAR-10, CIFAR-100 (--dataset cifar100) or your own labelled images.\n\n"
         "The options below go before the command or after it (cifarctl predict --workers 2 IMAGE); "
         "each command's --help lists the ones it uses. Settings come from defaults < cifarctl.toml "
         "< CIFARCTL_* variables < options.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"cifarctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """The global options are added by `startup.Group`; see cli/options.py."""


def _reports_ctrl_c(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn Ctrl-C inside a command into our `Interrupted` error.

    Typer itself turns a KeyboardInterrupt into a silent exit 130; this way the user is
    told, in the one error line, that the command was interrupted (and how).
    """

    @functools.wraps(command)
    def run_command(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as error:
            raise Interrupted(str(error) or "interrupted") from None

    return run_command


# Each command with the global options it uses besides --config, --no-color, -q and -v.
COMMANDS = {
    "download": (download.download, ("data_dir", "dataset", "workers")),
    "preview": (preview.preview, ("data_dir", "dataset", "seed")),
    "train": (train.train, ("data_dir", "dataset", "device", "seed")),
    "tune": (tune.tune, ("data_dir", "dataset", "device", "seed")),
    "evaluate": (evaluate.evaluate, ("data_dir", "dataset", "device")),
    "predict": (predict.predict, ("device", "workers")),
    "export": (export.export, ("data_dir", "dataset")),
    "benchmark-gpu": (benchmark_gpu.benchmark_gpu, ("data_dir", "dataset", "device")),
    "plot": (plot.plot, ()),
}
for name, (command, uses) in COMMANDS.items():
    app.command(name, cls=command_using(*uses))(_reports_ctrl_c(command))


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; every failure becomes one line on stderr."""
    debug = os.environ.get("CIFARCTL_DEBUG", "") not in ("", "0")
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = ["--help"]
    from cifarctl.cli.streams import WRITE_FAILURES
    from cifarctl.output_paths import forget_inputs

    WRITE_FAILURES.clear()
    forget_inputs()
    try:
        result = app(args=argv, prog_name="cifarctl", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        return _results_written(argv) if code == 0 else code
    except Stopped as error:  # SIGTERM or SIGHUP outside training (which saves and says so itself)
        _error_ui(argv).error(str(error))
        return error.exit_code
    except typer.TyperException as error:  # click-style errors: bad option, missing value
        message = _usage_message(error)
        if not message:  # `cifarctl` alone: the help was printed, nothing more to say
            return getattr(error, "exit_code", EXIT_USAGE)
        context = getattr(error, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        _error_ui(argv).error(f"{message}{hint}")
        return getattr(error, "exit_code", EXIT_USAGE)
    except CifarctlError as error:
        if debug:
            traceback.print_exc()
        _error_ui(argv).error(str(error))
        return error.exit_code
    except (typer.Abort, KeyboardInterrupt) as error:
        _error_ui(argv).error(str(error) or "interrupted")
        return EXIT_INTERRUPTED
    except typer.Exit as error:  # --version, --help
        return _results_written(argv) if error.exit_code == 0 else error.exit_code
    except OSError as error:  # disk full, permission denied, ... outside a core check
        if debug:
            traceback.print_exc()
        where = f": {error.filename}" if error.filename else ""
        _error_ui(argv).error(f"{error.strerror or error}{where}")
        return 1
    except Exception as error:  # a bug: keep it to one line unless debugging
        if debug:
            raise
        _error_ui(argv).error(
            f"internal error: {type(error).__name__}: {error} "
            "(rerun with CIFARCTL_DEBUG=1 for the traceback, and please report it)"
        )
        return 1


def _results_written(argv: list[str]) -> int:
    """0, or 1 with one line when the results could not be written to stdout (a full disk,
    an I/O error); a reader that went away (`| head`) is no failure."""
    from cifarctl.cli.streams import WRITE_FAILURES

    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    except OSError as error:
        WRITE_FAILURES.append(("stdout", error))
    except (AttributeError, ValueError):  # no stdout at all, or closed under us
        pass
    if not WRITE_FAILURES:
        return 0
    _, error = WRITE_FAILURES[0]
    _silence_stdout()
    _error_ui(argv).error(f"cannot write the results to stdout: {os.strerror(error.errno) if error.errno else error}; "
                          "the output is incomplete (free some space, or write it elsewhere)")
    return 1


def _silence_stdout() -> None:
    """Point a failed stdout at /dev/null, so Python's own flush at exit adds no second message."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def _usage_message(error: typer.TyperException) -> str:
    option, context = getattr(error, "option_name", None), getattr(error, "ctx", None)
    if option in global_option_names() and context is not None and context.parent is not None:
        return f"{context.info_name} does not use {option} (a global option that other commands use)"
    format_message = getattr(error, "format_message", None)
    message = (format_message() if format_message else str(error)).strip()
    return message[0].lower() + message[1:] if message else ""


def _error_ui(argv: list[str]) -> UI:
    """A UI for the error line, coloured only when nothing asked for plain output (the
    Config may be what failed, so the switches are read directly)."""
    from cifarctl.cli.ui import UI
    from cifarctl.config import read_environment

    try:
        color = read_environment(os.environ).get("color", True)
    except CifarctlError:  # a broken CIFARCTL_* variable: say so plainly
        color = False
    return UI(color=color and "--no-color" not in argv)


def _reserve_standard_descriptors() -> None:
    """Point closed stdin/stdout/stderr at /dev/null (`cifarctl ... >&-`).

    Otherwise the next file we open (a checkpoint, the dataset lock) gets descriptor 1 or
    2, and whatever a library prints there would land inside it.
    """
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)


def main() -> None:
    _reserve_standard_descriptors()
    stop_on_termination_signals()
    sys.exit(run())
