"""Images of any size and mode brought to what the network takes: 32x32 RGB uint8.

Used by `predict`: inputs are listed (folders recursively), then decoded in parallel chunks
by worker processes, as the image-folder import decodes. The pixel rules (crop or stretch,
transparency, grey, bit depth) are `data.pixels`, shared with that import. A file that cannot be read is
collected as an `ImageFailure`, not raised, so one bad file does not stop a thousand good ones.
No torch here: worker processes only need Pillow and numpy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError

from cifarctl.cpu_threads import capped_to_cpus
from cifarctl.data.pixels import SIDE, load_image
from cifarctl.errors import CifarctlError
from cifarctl.interrupts import prepare_worker, stop_workers

# Folders are searched for these; a file named on the command line is tried whatever its name.
FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Below this many files, starting worker processes costs more than it saves.
PARALLEL_MIN_FILES = 256
MAX_CHUNK = 256  # files per task: amortises the hand-over, bounds the wait after a stop


@dataclass(frozen=True)
class ImageFailure:
    path: Path
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"path": str(self.path), "error": self.reason}


@dataclass
class Listing:
    files: list[Path]
    failures: list[ImageFailure]  # inputs that do not exist or hold no images


@dataclass
class DecodedChunk:
    paths: list[Path]  # the files that decoded, in input order
    images: np.ndarray  # (len(paths), 3, 32, 32) uint8
    failures: list[ImageFailure]


def list_inputs(inputs: Iterable[Path]) -> Listing:
    """The image files named or found (recursively, in sorted order) under the inputs."""
    files: list[Path] = []
    failures: list[ImageFailure] = []
    for path in inputs:
        if path.is_dir():
            found = sorted(_images_under(path, failures))
            if not found:
                failures.append(ImageFailure(path, f"no images in this folder ({', '.join(FOLDER_SUFFIXES)})"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            failures.append(ImageFailure(path, "not a regular file (a FIFO, device or socket would hang or never end)"))
        elif os.path.lexists(path):
            failures.append(ImageFailure(path, "a symbolic link to nothing, or a loop of links"))
        else:
            failures.append(ImageFailure(path, "no such file or folder"))
    return Listing(files, failures)


def _images_under(folder: Path, failures: list[ImageFailure]) -> Iterator[Path]:
    def unreadable(error: OSError) -> None:
        failures.append(ImageFailure(Path(error.filename), f"cannot list this folder: {_reason(error)}"))

    for root, folders, names in os.walk(folder, onerror=unreadable):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in names:
            if name.lower().endswith(FOLDER_SUFFIXES) and not name.startswith("."):
                if Path(root, name).is_file():
                    yield Path(root, name)
                else:
                    failures.append(ImageFailure(Path(root, name), "not a regular file; skipped"))


def decode_chunk(paths: list[Path], resize: str) -> DecodedChunk:
    """Decode some files; the unreadable ones become failures with the reason."""
    good: list[Path] = []
    images: list[np.ndarray] = []
    failures: list[ImageFailure] = []
    for path in paths:
        try:
            images.append(load_image(path, resize))
            good.append(path)
        except UnidentifiedImageError:
            failures.append(ImageFailure(path, "not an image Pillow can read"))
        except Exception as error:
            failures.append(ImageFailure(path, _reason(error)))
    array = np.stack(images) if images else np.zeros((0, 3, SIDE, SIDE), np.uint8)
    return DecodedChunk(good, array, failures)


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()  # "permission denied", "is a directory"
    detail = str(error) or type(error).__name__
    return f"unreadable image ({detail})"


class ImageDecoder:
    """Decodes files into chunks, yielded in input order, in worker processes when there are many.

    The workers start as soon as the decoder is made, so decoding overlaps whatever the
    caller does next: `predict` makes it before importing torch and loading the model
    (about 2 s on the dev machine, enough to decode 10,000 small PNGs). Forking before torch
    is loaded also keeps torch's threads out of the workers.
    """

    def __init__(self, files: list[Path], resize: str, workers: int = 0) -> None:
        self.files = files
        self.resize = resize
        processes = capped_to_cpus(workers).count  # 0: one per CPU; never more (`predict --workers 256`)
        self.parallel = processes > 1 and len(files) >= PARALLEL_MIN_FILES
        self._pool: ProcessPoolExecutor | None = None
        self._results: Iterator[DecodedChunk] | None = None
        if self.parallel:
            # Several chunks per process keep them all busy to the end and the progress bar moving.
            size = min(MAX_CHUNK, max(32, -(-len(files) // (processes * 4))))
            chunks = [files[start : start + size] for start in range(0, len(files), size)]
            self._pool = ProcessPoolExecutor(max_workers=processes, initializer=prepare_worker)
            self._results = self._pool.map(decode_chunk, chunks, [resize] * len(chunks))  # submits them all now

    def __iter__(self) -> Iterator[DecodedChunk]:
        if self._results is None:
            for start in range(0, len(self.files), MAX_CHUNK):
                yield decode_chunk(self.files[start : start + MAX_CHUNK], self.resize)
            return
        try:
            yield from self._results
        except BrokenProcessPool:
            self._close(broken=True)
            raise CifarctlError("an image decoder process died (out of memory, or a crash in an image library); "
                                "rerun with 'cifarctl --workers 1 predict ...' to find the file that causes it"
                                ) from None

    def __enter__(self) -> ImageDecoder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close(broken=False, finished=exc_info[0] is None)

    def _close(self, broken: bool, finished: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if broken or finished:  # a broken pool has failed every chunk itself; cancelling would race it
            pool.shutdown(wait=True)
        else:
            # --strict, Ctrl-C, SIGTERM or an error: chunks not started are dropped and the
            # running ones ended, so the command stops now (see stop_workers).
            stop_workers(pool)

