"""Exceptions raised by datafast. Every user mistake surfaces as one of these, with a message that names
the field or placeholder at fault and what is allowed."""

from __future__ import annotations

import shutil
from pathlib import Path


class DatafastError(Exception):
    """Base class of every error datafast raises on purpose."""


class ConfigError(DatafastError, ValueError):
    """A configuration, config file or argument is invalid. Raised before any request is sent."""


class MissingAPIKeyError(ConfigError):
    """A provider was built without an API key and its environment variable is not set."""


class ProviderError(DatafastError, RuntimeError):
    """An LLM provider failed to give a usable answer. (A RuntimeError too, as the original Datafast raised.)"""


class InvalidResponseError(ProviderError):
    """The LLM's answer did not validate against the response model, even after the repair retry."""


class OutputWriteError(DatafastError, OSError):
    """A file of the run could not be written (disk full, quota, I/O error). What was received before is kept
    in the run store; a rerun finishes the run."""

    @classmethod
    def about(cls, path: str | Path, exc: OSError) -> OutputWriteError:
        """The one-line error for a failed write to `path`: the file, the system's reason, the space left."""
        path = Path(path)
        where = path if path.exists() else path.parent
        try:
            free = f"{shutil.disk_usage(where).free / 1e6:,.1f} MB free on that disk"
        except OSError:
            free = "free space unknown"
        return cls(
            f"cannot write {path}: {exc.strerror or exc} ({free}). Every answer received before is kept in the "
            "run store: make room and run the same command again to finish, nothing stored is paid for twice."
        )
