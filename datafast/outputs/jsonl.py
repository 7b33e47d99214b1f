"""The JSONL output file: appended as records arrive, so it can be watched while it grows, and never left
with a half-written line."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from datafast._files import write_atomically
from datafast.errors import ConfigError, OutputWriteError


class JsonlFile:
    """Appends records to a JSONL file in whole lines.

    Lines gather in memory and are written with `os.write`; when a write fails (a full disk), the file is
    cut back to its size before that write, so it never holds half a line, and `OutputWriteError` says
    which file and how much space is left. A crash (kill -9) can still interrupt a write:
    `cut_incomplete_tail` removes what it left, for a file this run owns (see `datafast.engine.run`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._size = 0  # bytes in the file, all whole lines
        self._pending = bytearray()
        self._last_flush = 0.0

    def __enter__(self) -> JsonlFile:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputWriteError.about(self.path, exc) from None
        self._size = os.fstat(self._fd).st_size

    def close(self) -> None:
        """Write what is pending and close; a failed last write still closes the file, then raises."""
        if self._fd is None:
            return
        try:
            self.flush()
        finally:
            os.close(self._fd)
            self._fd = None

    def cut_incomplete_tail(self) -> None:
        """Cut the file back to its last newline, removing what an interrupted write left behind."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            block = 65536
            position = size
            while position > 0:
                start = max(0, position - block)
                handle.seek(start)
                chunk = handle.read(position - start)
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    handle.truncate(start + newline + 1)
                    return
                position = start
            handle.truncate(0)

    def append(self, records: Iterable[BaseModel], *, sync: bool = True, flush_every: float = 0.0) -> None:
        """Append whole lines. `sync=False` skips the fsync where another durable copy exists (the run
        store); `flush_every` lets writes gather in memory for up to that many seconds between flushes,
        which saves a system call per answer while a watcher still sees the file grow."""
        if self._fd is None:
            raise RuntimeError("JsonlFile.append() before open()")
        data = b"".join(r.model_dump_json().encode("utf-8") + b"\n" for r in records)
        if not data:
            return
        self._pending += data
        if sync or time.monotonic() - self._last_flush >= flush_every:
            self.flush(sync=sync)

    def flush(self, *, sync: bool = False) -> None:
        """Write the pending lines (all or none of them stay in the file)."""
        if self._fd is None:
            return
        self._last_flush = time.monotonic()
        data = bytes(self._pending)
        self._pending.clear()
        try:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:] if written else data)
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):  # else the part line is cut off when the file is opened next
                os.ftruncate(self._fd, self._size)
            raise OutputWriteError.about(self.path, exc) from None
        self._size += len(data)

    def read(self) -> Iterator[dict[str, Any]]:
        """The complete records in the file (an interrupted last line is skipped). A line that is not a JSON
        object is a clear error naming the file and the line."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.endswith(b"\n") or not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as exc:
                    reason = getattr(exc, "msg", None) or "not UTF-8 text"
                    raise ConfigError(
                        f"{self.path} line {number} is not valid JSON ({reason}): fix or delete that line, "
                        "or use another output_file"
                    ) from None
                if not isinstance(value, dict):
                    raise ConfigError(
                        f"{self.path} line {number} is not a JSON object: fix or delete that line, "
                        "or use another output_file"
                    )
                yield value


def write_jsonl(path: str | Path, records: Iterable[BaseModel]) -> None:
    """Write `records` to `path` atomically: the file is complete or as it was."""
    data = b"".join(record.model_dump_json().encode("utf-8") + b"\n" for record in records)
    write_atomically(path, data)
