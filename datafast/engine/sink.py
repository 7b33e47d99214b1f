"""Where a run's records go: cleaned as they arrive, the kept ones appended to the output JSONL, the dropped
ones to the side file `<name>.dropped.jsonl` with their reason. Nothing already written is rewritten."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from datafast.outputs import JsonlFile
from datafast.quality import DroppedRecords, RecordCleaner
from datafast.quality.records import record_text
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.data_rows import DatasetRow


class RecordSink:
    """The output of one run.

    `scan()` reads what earlier runs wrote: the requests whose records are in the output (a rerun does not
    write them again) and their texts (later records are checked against them for duplicates). Dropped
    records are checked again with the current rules, so switching a rule off and running again brings
    back what it dropped (the dropped file keeps its lines: it is the log of what was dropped when). A
    request found only in the dropped file is rebuilt from the run store on resume, because a crash can
    lose kept lines that were still buffered; a dropped record is never written twice (its uuid is
    stable)."""

    def __init__(
        self,
        output_file: str | Path,
        cleaning: CleaningConfig,
        text_fields: Sequence[str],
        record_class: type[DatasetRow],
    ) -> None:
        self.output = JsonlFile(output_file)
        self.dropped = DroppedRecords(output_file)
        self.cleaner = RecordCleaner(cleaning)
        self.text_fields = tuple(text_fields)
        self.record_class = record_class
        self.written_requests: set[str] = set()
        self._dropped_uuids: set[str] = set()
        self._restored: list[DatasetRow] = []
        self.kept = 0
        self.dropped_by_reason: Counter[str] = Counter()

    def scan(self) -> None:
        # `read` skips a line a crash left half-written; `open` (on entering) cuts it off both files.
        in_output: set[str] = set()
        for line in self.output.read():
            self.written_requests.add(line.get("request_id"))
            in_output.add(line.get("uuid"))
            self.cleaner.remember(record_text(line, self.text_fields))
        for line in self.dropped.read():
            record = line["record"]
            self._dropped_uuids.add(record.get("uuid"))
            if record.get("uuid") in in_output:
                continue
            row = self.record_class.model_validate(record)
            # Whether an answer was cut off is not in the record: the reason it was dropped for says so.
            if self._check(row, truncated=line["reason"] == "truncated") is None:
                self._restored.append(row)
                in_output.add(record.get("uuid"))
                self.written_requests.add(record.get("request_id"))

    def __enter__(self) -> RecordSink:
        self.output.open()
        self.dropped.open()
        self.output.append(self._restored, sync=False)
        self.kept += len(self._restored)
        self._restored = []
        return self

    def __exit__(self, *exc: object) -> None:
        self.output.close()
        self.dropped.close()

    def _text(self, record: DatasetRow) -> str:
        return record_text(record.model_dump(include=set(self.text_fields)), self.text_fields)

    def _check(self, record: DatasetRow, truncated: bool = False) -> str | None:
        return self.cleaner.check(
            self._text(record), language=record.language, label=getattr(record, "label", None), truncated=truncated
        )

    def flaws(self, records: Sequence[DatasetRow], *, truncated: bool) -> list[str | None]:
        """For each record, the rule it breaks on its own (duplicates aside), or None; nothing is written."""
        return [
            self.cleaner.flaw(
                self._text(r), language=r.language, label=getattr(r, "label", None), truncated=truncated
            )
            for r in records
        ]

    def write(
        self, records: Sequence[DatasetRow], *, truncated: bool, flaws: Sequence[str | None] | None = None
    ) -> None:
        """Check each record and write it where it belongs (`flaws`, when given, are those of `flaws()`).
        The run store holds the answer durably, so the output needs no fsync, and a flush every quarter
        second is enough to watch it grow."""
        if flaws is None:
            flaws = self.flaws(records, truncated=truncated)
        kept = []
        for record, flaw in zip(records, flaws, strict=True):
            reason = flaw or self.cleaner.duplicate(self._text(record))
            if reason is None:
                kept.append(record)
            elif record.uuid not in self._dropped_uuids:
                self.dropped.add(reason, record)
                self.dropped_by_reason[reason] += 1
        self.output.append(kept, sync=False, flush_every=0.25)
        self.kept += len(kept)
