"""The JSONL output file: appended as records arrive, so it can be watched while it grows, and never left
with a half-written line."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel


class JsonlFile:
    """Appends records to a JSONL file, one `write` and `fsync` per batch.

    A crash can interrupt a write; opening the file again drops the incomplete last line, so every line
    in the file is always a whole record and each batch is either all there or not at all.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: IO[bytes] | None = None
        self._last_flush = 0.0

    def __enter__(self) -> JsonlFile:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.drop_incomplete_tail()
        self._handle = open(self.path, "ab", buffering=1 << 20)  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def drop_incomplete_tail(self) -> None:
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
        if self._handle is None:
            raise RuntimeError("JsonlFile.append() before open()")
        data = b"".join(r.model_dump_json().encode("utf-8") + b"\n" for r in records)
        if not data:
            return
        self._handle.write(data)
        now = time.monotonic()
        if sync or now - self._last_flush >= flush_every:
            self._handle.flush()
            self._last_flush = now
        if sync:
            os.fsync(self._handle.fileno())

    def read(self) -> Iterator[dict[str, Any]]:
        """The complete records in the file (an interrupted last line is skipped)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            for line in handle:
                if not line.endswith(b"\n") or not line.strip():
                    continue
                yield json.loads(line)


def write_jsonl(path: str | Path, records: Iterable[BaseModel]) -> None:
    """Write `records` to `path` atomically: a temporary file renamed over the target when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        for record in records:
            handle.write(record.model_dump_json().encode("utf-8") + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
