"""How every command starts: global options before or after its name, then one `start(ctx)`.

The global options are defined once (`options.global_options`). The root takes all of them;
each command takes the ones it uses after its name as well (`cifarctl predict --workers 2`),
and a value given after the command wins. They reach no command function as a parameter:
their values are recorded in the click context's `meta` (shared by the root and its
command), and `start` builds the Config and the UI from them, so a broken config file or
CIFARCTL_* variable fails a command but never `--help`.
"""

from __future__ import annotations

import copy
import functools
from typing import TYPE_CHECKING, Any, NamedTuple

import typer
import typer.core

from cifarctl.cli.options import EVERY_COMMAND, global_options
from cifarctl.config import Config, load_config

if TYPE_CHECKING:
    from cifarctl.cli.ui import UI
    from cifarctl.data.catalog import Place

GIVEN = "cifarctl.global_options"  # ctx.meta key: the global options given on the command line
GLOBAL_SECTION = "Global options (before or after the command)"


class CommandConfig(Config):
    """The Config a command runs with, which also says where its dataset is (`place()`)."""

    def place(self) -> Place:
        """The dataset the command reads: `dataset` in `data_dir`."""
        from cifarctl.data.catalog import locate

        return locate(self.data_dir, self.dataset)


class Session(NamedTuple):
    config: CommandConfig
    ui: UI


def start(ctx: typer.Context) -> Session:
    """The command's Config (defaults < cifarctl.toml < CIFARCTL_* < options) and its UI;
    with -v, every setting and where it came from."""
    from cifarctl.cli.ui import UI

    given = ctx.meta.get(GIVEN, {})
    config = load_config(
        kind=CommandConfig,
        config_file=given.get("config_file"),
        data_dir=given.get("data_dir"),
        dataset=given.get("dataset"),
        device=given.get("device"),
        seed=given.get("seed"),
        workers=given.get("workers"),
        color=False if given.get("no_color") else None,
        quiet=given.get("quiet") or None,
        verbose=given.get("verbose") or None,
    )
    ui = UI(config.color, config.quiet, config.verbose)
    ui.debug_config(config)
    if "workers" in getattr(ctx.command, "uses", ()) and config.workers:
        _say_workers_capped(config, ui)
    return Session(config, ui)


def _say_workers_capped(config: Config, ui: UI) -> None:
    """`--workers 256` on 2 CPUs: the decoders are capped at the CPU count (`capped_to_cpus`, which
    the import and predict apply), said once here, naming where the number came from."""
    from cifarctl.cpu_threads import capped_to_cpus

    capped = capped_to_cpus(config.workers, "decoder processes")
    if capped.note is not None:
        source = config.source_of("workers")
        named = "--workers" if source == "option" else f"workers in {source}"
        ui.warning(f"{named}: {capped.note}")


@functools.cache
def _global_parameters() -> tuple[Any, ...]:
    probe = typer.Typer(add_completion=False)
    probe.command()(global_options)
    return tuple(typer.main.get_command(probe).params)


def global_parameters(names: tuple[str, ...] | None = None) -> list[Any]:
    """Click parameters for the global options (all, or those named), recording their values."""
    return [_recorded(copy.copy(parameter)) for parameter in _global_parameters()
            if names is None or parameter.name in names]


def global_option_names() -> set[str]:
    """Every spelling of every global option: --data-dir, -q, --quiet, ..."""
    return {name for parameter in _global_parameters() for name in (*parameter.opts, *parameter.secondary_opts)}


def _recorded(parameter: Any) -> Any:
    check = parameter.callback

    def record(ctx: Any, param: Any, value: Any) -> Any:
        if check is not None:
            value = check(ctx, param, value)
        source = ctx.get_parameter_source(param.name)
        if source is not None and source.name == "COMMANDLINE":
            ctx.meta.setdefault(GIVEN, {})[param.name] = value
        return value

    parameter.callback = record
    parameter.expose_value = False
    parameter.is_global_option = True
    return parameter


def _is_global(parameter: Any) -> bool:
    return getattr(parameter, "is_global_option", False)


def check_values_given(command: Any, ctx: Any, args: list[str], stop_at_command: bool = False) -> None:
    """An option that takes a value followed by another option (`evaluate --model --data-dir X`)
    is missing its value: click would take the next option's name for it (a model file named
    `--data-dir`). Say so as a usage error; `--model=--odd-name` still gives such a value."""
    if ctx.resilient_parsing:  # shell completion: a half-typed line is normal
        return
    names, takes_value = set(), {}
    for parameter in command.get_params(ctx):
        if parameter.param_type_name != "option":
            continue
        names.update((*parameter.opts, *parameter.secondary_opts))
        if not parameter.is_flag and not parameter.count:
            long = max(parameter.opts, key=len)  # `--output=VALUE` works where `-o=VALUE` would not
            takes_value.update(dict.fromkeys(parameter.opts, long if long.startswith("--") else None))
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--" or (stop_at_command and not word.startswith("-")):
            return  # the end of the options, or the command whose own options follow
        if word in takes_value:
            following = args[index + 1] if index + 1 < len(args) else None
            if following is not None and _is_option(following, names):
                long = takes_value[word]
                hint = f" (write {long}={following} if that is the value)" if long else ""
                ctx.fail(f"option {word} needs a value, but the next word, {following}, is an option{hint}")
            index += 1  # its value
        index += 1


def _is_option(word: str, names: set[str]) -> bool:
    """An option's name (`--data-dir`, `-m`, `--json=...`), or a word spelt like one (`--anything`)."""
    return word.partition("=")[0] in names or (len(word) > 2 and word.startswith("--") and word[2].isalpha())


class Command(typer.core.TyperCommand):
    """A command that also takes the global options it `uses` after its name, and whose
    help names every value by what it is (FILE, N) and lists those global options apart."""

    uses: tuple[str, ...] = ()

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.params.extend(global_parameters((*self.uses, *EVERY_COMMAND)))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        check_values_given(self, ctx, args)
        return super().parse_args(ctx, args)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """Arguments, then the command's options in the panels they name (Typer's
        `rich_help_panel`, drawn as plain sections so help needs no rich), then the global ones."""
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        shared = []
        for parameter in self.get_params(ctx):
            record = parameter.get_help_record(ctx)
            if record is None:
                continue
            if parameter.param_type_name == "argument":
                # typer would add the Python type ("IMAGES <list[str]>"); the name says it all
                name = parameter.metavar or parameter.name.upper()
                sections["Arguments"].append((name + ("..." if parameter.nargs != 1 else ""), record[1]))
            elif _is_global(parameter):
                shared.append(record)
            else:
                sections.setdefault(getattr(parameter, "rich_help_panel", None) or "Options", []).append(record)
        sections[GLOBAL_SECTION] = shared
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def command_using(*names: str) -> type[Command]:
    """The command class for a command that reads these global options besides the ones
    every command reads (--config, --no-color, --quiet, --verbose)."""
    return type("Command", (Command,), {"uses": names})


class Group(typer.core.TyperGroup):
    """The root: every global option, and each command's whole summary (click would cut it
    at the terminal's width)."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.params[:0] = global_parameters()

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        check_values_given(self, ctx, args, stop_at_command=True)
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
