"""A run's folder next to its output (`sentiment.jsonl` → `sentiment.datafast/`) and the lock that keeps
two processes from writing one run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from datafast._files import run_folder
from datafast.errors import DatafastError

__all__ = ["LOCK_NAME", "RunInUseError", "RunLock", "clear_folder", "run_folder"]

try:
    import fcntl
except ImportError:  # Windows: no advisory locks through fcntl; runs there are not guarded
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "lock"


class RunInUseError(DatafastError):
    """Another process is running the same output (it holds the run folder's lock)."""


def clear_folder(folder: Path) -> None:
    """Delete what the run folder holds, except the lock held by this process."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)


class RunLock:
    """An exclusive lock on a run folder for as long as a run works on it.

    It is an OS lock (`flock`) on `<folder>/lock`: the system releases it when the process ends, however it
    ends, so a killed run never leaves a stale lock behind. The holder's pid is written in the file, so the
    refusal names the process that holds it."""

    def __init__(self, folder: Path, output_file: Path) -> None:
        self.folder = folder
        self.output_file = output_file
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise RunInUseError(
                    f"{self.output_file} is being written by another datafast process (pid {holder}; its run "
                    f"folder {self.folder} is locked). Wait for it to finish or stop it, then run again; or name "
                    "another output_file"
                ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None
