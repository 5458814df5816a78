"""`cifarctl download`: fetch and verify CIFAR-10 or CIFAR-100, or import a local copy or your own images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from cifarctl.cli.options import JsonOption
from cifarctl.cli.startup import start

SKIPPED_NAMED = 20  # more than this are counted on stderr and all listed by --json

MD5_HELP = "Expected MD5 of the archive (for a mirror that repackaged it)."


def _md5_value(value: Optional[str]) -> Optional[str]:
    if value is not None and (len(value) != 32 or any(c not in "0123456789abcdef" for c in value.lower())):
        raise typer.BadParameter(f"{value!r} is not an MD5 (32 hex digits)")
    return value.lower() if value else value


def _url_values(values: Optional[list[str]]) -> Optional[list[str]]:
    for value in values or []:
        if not value.lower().startswith(("http://", "https://", "file://")):
            raise typer.BadParameter(f"{value!r} is not an http(s):// or file:// URL")
    return values


def download(
    ctx: typer.Context,
    url: Annotated[Optional[list[str]], typer.Option(
        "--url", metavar="URL", help="Mirror URL; repeat to try several in order.", callback=_url_values,
        show_default=False)] = None,
    md5: Annotated[Optional[str], typer.Option(
        "--md5", metavar="MD5", help=MD5_HELP, callback=_md5_value, show_default=False)] = None,
    origin: Annotated[Optional[Path], typer.Option(
        "--from", metavar="PATH", show_default=False,
        help="Import a local archive (cifar-10-python.tar.gz, cifar-100-python.tar.gz), its extracted folder, or an "
             "image folder instead: train/<class>/ and test/<class>/, train/<class>/ alone, or <class>/ alone. Your "
             "own images: name the dataset (--dataset=pets); 2 to 1,000 classes, named by their folders. Images of "
             "any size and mode are cropped to their centred square, then resized to 32x32 with antialiasing; "
             "transparency is shown on white.")] = None,
    test_split: Annotated[Optional[str], typer.Option(
        "--test-split", metavar="N|FRACTION", show_default=False,
        help="With an image folder that has no test/: how many images to hold out as the test split, as a count or "
             "a fraction, as even over the classes as their counts allow. [default: 0.2]")] = None,
    split_seed: Annotated[Optional[int], typer.Option(
        "--split-seed", metavar="S", min=0, show_default=False,
        help="Seed choosing which images --test-split holds out. [default: 0]")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Download or import again even if a dataset is there (the only way to replace one).")] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", metavar="SECONDS", min=0.1, max=3600, help="Seconds to wait for data before retrying.")] = 30.0,
    retries: Annotated[int, typer.Option(
        "--retries", metavar="N", min=0, max=100, help="Extra tries per mirror; each resumes the transfer.")] = 3,
    json_output: JsonOption = False,
) -> None:
    """Download CIFAR-10 or CIFAR-100 (resumable, verified), or import a local copy or your own images with --from."""
    from cifarctl.data.acquire import download_dataset, import_dataset
    from cifarctl.data.fetch import FetchOptions
    from cifarctl.data.store import describe_dataset

    config, ui = start(ctx)
    place = config.place()
    events = ui.events()
    if origin is not None:
        if url:
            raise typer.BadParameter("use either --from or --url, not both", param_hint="'--from'")
        report = import_dataset(place, origin, md5, force, config.workers, events, test_split, split_seed)
    else:
        for name, value in (("--test-split", test_split), ("--split-seed", split_seed)):
            if value is not None:
                raise typer.BadParameter("holds a test split out of an image folder: use it with --from FOLDER",
                                         param_hint=f"'{name}'")
        options = FetchOptions(timeout=timeout, retries=retries)
        report = download_dataset(place, url, md5, options, force, events)
    ui.debug(describe_dataset(place))
    title = place.spec.title
    for note in report.notes:
        ui.warning(note)
    for path, reason in report.skipped[:SKIPPED_NAMED]:
        ui.warning(f"skipped {path}: {reason}")
    if len(report.skipped) > SKIPPED_NAMED:
        ui.warning(f"... and {len(report.skipped) - SKIPPED_NAMED:,} more skipped (all are listed by --json)")
    if json_output:
        ui.print_json(report.as_json())
        return
    counts = f"{report.counts['train']:,} training and {report.counts['test']:,} test images"
    if report.action == "present":
        again = "import it again" if origin is not None else "fetch it again"
        ui.print(f"{title} is already in {report.path} and verified ({counts}); use --force to {again}.")
    else:
        left_out = f"; {len(report.skipped):,} {'file' if len(report.skipped) == 1 else 'files'} skipped, named above" \
            if report.skipped else ""
        ui.print(f"{title} is ready in {report.path}: {counts} ({report.action} in {report.seconds:.1f} s{left_out}).")
        for line in report.facts():
            ui.print(Text(line))  # class names are text, never markup
