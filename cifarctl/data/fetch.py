"""Download one file over HTTP(S) from a list of mirrors, resuming cut transfers.

The partial download lives at `<name>.part` beside the destination, so a later run picks
up where the last one stopped (HTTP Range). The file appears under its real name only
after its MD5 matches. Proxies come from the standard `HTTPS_PROXY`/`HTTP_PROXY` variables.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cifarctl import __version__
from cifarctl.atomic_writes import write_error
from cifarctl.errors import ChecksumError, DownloadError
from cifarctl.events import Events
from cifarctl.input_files import md5_of

CHUNK = 256 * 1024


@dataclass(frozen=True)
class FetchOptions:
    timeout: float = 30.0  # seconds without any data before a try is abandoned
    retries: int = 3  # extra tries per mirror after a failure, each resuming the transfer
    backoff: float = 1.0  # seconds before the first retry; doubles each time


class _Permanent(Exception):
    """A failure retrying cannot fix (404, 403, a bad URL)."""


class _Incomplete(Exception):
    """The connection ended before the whole body arrived."""


def partial_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part")


def fetch_archive(
    urls: list[str],
    destination: Path,
    expected_md5: str,
    options: FetchOptions = FetchOptions(),
    events: Events = Events(),
) -> Path:
    """Download `destination` from the first mirror that delivers a file with `expected_md5`."""
    partial = partial_path(destination)
    failures: list[str] = []
    for number, url in enumerate(urls):
        if number > 0:
            events.warning(f"trying the next mirror: {url}")
        try:
            _download_with_retries(url, partial, options, events)
        except DownloadError as error:
            failures.append(str(error))
            continue
        actual = md5_of(partial)
        if actual == expected_md5:
            try:
                os.replace(partial, destination)
            except OSError as error:
                raise write_error(destination, error) from None
            return destination
        partial.unlink(missing_ok=True)
        message = (f"checksum mismatch for {url}: expected MD5 {expected_md5}, got {actual}; "
                   "the bad file was deleted")
        if number == len(urls) - 1:
            raise ChecksumError(message + " (if this mirror repackaged the archive, pass its --md5)")
        events.warning(message)
        failures.append(message)
    raise DownloadError(_summary(failures))


def _summary(failures: list[str]) -> str:
    if len(failures) == 1:
        return failures[0]
    return f"all {len(failures)} sources failed; last: {failures[-1]}"


def _download_with_retries(url: str, partial: Path, options: FetchOptions, events: Events) -> None:
    delay = options.backoff
    for attempt in range(options.retries + 1):
        try:
            _transfer(url, partial, options.timeout, events)
            return
        except _Permanent as error:
            raise DownloadError(f"{url}: {error}") from None
        except (_Incomplete, OSError, http.client.HTTPException) as error:
            reason = _describe(error)
            if attempt == options.retries:
                raise DownloadError(f"cannot download {url}: {reason}; {_advice(error)}") from None
            events.warning(f"{reason}; retrying in {delay:.0f} s (try {attempt + 2} of {options.retries + 1})")
            time.sleep(delay)
            delay *= 2


def _transfer(url: str, partial: Path, timeout: float, events: Events) -> None:
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"cifarctl/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # asked to resume past the end: the file is whole
            return
        if error.code in (400, 401, 403, 404, 410):
            raise _Permanent(f"HTTP {error.code} {error.reason}") from None
        raise
    except ValueError as error:  # malformed URL
        raise _Permanent(str(error)) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, socket.gaierror):  # no DNS answer: retrying in seconds will not help
            raise _Permanent(_advice(error)) from None
        raise
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored Range: start again from zero
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        events.task_started(f"downloading {url.rsplit('/', 1)[-1]}", total, unit="bytes", completed=have)
        received = have
        try:
            with open(partial, "ab" if have else "wb") as handle:
                while chunk := response.read(CHUNK):
                    handle.write(chunk)
                    received += len(chunk)
                    events.task_advanced(received)
        except OSError as error:
            if isinstance(error, (socket.timeout, ConnectionError)):
                raise
            raise write_error(partial, error) from None
        finally:
            events.task_finished()
        if total is not None and received < total:
            raise _Incomplete(f"connection closed after {received:,} of {total:,} bytes")


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out waiting for data"
    if isinstance(error, http.client.IncompleteRead):
        return "connection closed mid-transfer"
    return str(error) or type(error).__name__


def _advice(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    if isinstance(reason, socket.gaierror):
        return ("the host cannot be resolved: are you offline? Behind a proxy, set HTTPS_PROXY; "
                "or import a local copy with 'cifarctl download --from PATH'")
    if isinstance(reason, ssl.SSLError) or isinstance(error, ssl.SSLError):
        return "TLS failed (a proxy or old certificates?); try another mirror with --url"
    if isinstance(reason, ConnectionRefusedError) or isinstance(error, ConnectionRefusedError):
        return "the server refused the connection; try again later or another mirror with --url"
    return "run the command again to resume, or add a mirror with --url"
