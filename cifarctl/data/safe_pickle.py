"""Read the official CIFAR-10 batch files without letting a pickle run code.

The official batches are Python pickles of dicts holding lists, strings, bytes, ints and
one numpy uint8 array. This unpickler resolves only the few globals such a file needs;
any other global (os.system, builtins.eval, ...) is refused before it can be called.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes in protocol-2 pickles
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file asks for something no CIFAR-10 batch contains."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def load_batch(data: bytes) -> Any:
    """Unpickle one batch file's bytes, as torchvision does (latin1 strings)."""
    return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
