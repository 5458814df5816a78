"""The one exception family for errors a user should see as a single clear line.

The CLI catches `CifarctlError`, prints its message, and exits with `exit_code`.
Anything else is a bug and shows a traceback only with CIFARCTL_DEBUG=1.
"""

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CifarctlError(Exception):
    """A runtime failure the user can act on (network, corrupt file, missing data)."""

    exit_code = EXIT_FAILURE


class UsageError(CifarctlError):
    """A bad option value or combination: the command line itself must change."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A config file or CIFARCTL_* variable that cannot be used."""


class DownloadError(CifarctlError):
    """Every source failed, or a transfer could not be completed."""


class ChecksumError(CifarctlError):
    """A downloaded or imported file does not match its expected MD5."""


class DatasetMissingError(CifarctlError):
    """No dataset where one is needed and downloading was not allowed."""


class DatasetCorruptError(CifarctlError):
    """A dataset file exists but is truncated, tampered with or in the wrong format."""


class CheckpointError(CifarctlError):
    """A model or training checkpoint that cannot be loaded or written."""


class DeviceError(CifarctlError):
    """The requested compute device is not available on this machine."""


class Interrupted(CifarctlError):
    """The user pressed Ctrl-C; what could be saved was saved."""

    exit_code = EXIT_INTERRUPTED
