"""Files of a run: where its folder is, and writing a file whole or not at all."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def run_folder(output_file: str | Path) -> Path:
    """The run folder of an output file (`x.jsonl` → `x.datafast/`), where its store, summary, report and
    viewer go. Symlinks are followed: every name of one file has one run."""
    path = Path(output_file).resolve()
    return path.with_name(path.stem + ".datafast")


def write_atomically(path: str | Path, content: bytes | Callable[[Path], object], *, durable: bool = True) -> Path:
    """Write `path` so that it is never seen half-written: `content` (bytes, or a function that writes a file
    at the path it is given) goes to a temporary file beside it, which is flushed to disk (`durable`) and
    then renamed over `path`. A failure leaves `path` as it was and no temporary file behind."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        if callable(content):
            content(tmp)
        else:
            tmp.write_bytes(content)
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
