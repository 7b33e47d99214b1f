"""The side file of dropped records next to the output (`x.jsonl` → `x.dropped.jsonl`): each line a record
the cleaning rules dropped, with the reason (`datafast.quality.cleaner.DROP_REASONS`; `judge` and
`validator:<name>` for the judge and the validators of a config)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from datafast.outputs.jsonl import JsonlFile
from datafast.quality.cleaner import DROP_REASONS, is_drop_reason


def dropped_path(output_file: str | Path) -> Path:
    """The side file of dropped records next to an output file: `x.jsonl` -> `x.dropped.jsonl`."""
    path = Path(output_file)
    return path.with_name(path.stem + ".dropped.jsonl")


class DroppedRecord(BaseModel):
    """One line of the dropped-records file: why, and the whole record."""

    reason: str
    record: dict[str, Any]


class DroppedRecords:
    """Appends dropped records, with their reason, to `<stem>.dropped.jsonl` next to the output file.
    Use as a context manager (or `open`/`close`) around the run; `add` writes one line."""

    def __init__(self, output_file: str | Path) -> None:
        self.path = dropped_path(output_file)
        self._file = JsonlFile(self.path)

    def __enter__(self) -> DroppedRecords:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self._file.open()

    def close(self) -> None:
        self._file.close()

    def add(self, reason: str, record: dict[str, Any] | BaseModel, *, sync: bool = False) -> None:
        """Write one dropped record. `sync=True` fsyncs (the run store usually holds a durable copy)."""
        if not is_drop_reason(reason):
            raise ValueError(f"unknown drop reason {reason!r}; one of {', '.join(DROP_REASONS)}, judge, validator:NAME")
        data = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
        self._file.append([DroppedRecord(reason=reason, record=data)], sync=sync)

    def read(self) -> Iterator[dict[str, Any]]:
        """The lines written so far, as `{"reason": ..., "record": {...}}` dicts."""
        return self._file.read()
