"""Where a run's records go: cleaned as they arrive, the kept ones appended to the output JSONL, the dropped
ones to the side file `<name>.dropped.jsonl` with their reason. Nothing already written is rewritten."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from datafast.outputs import JsonlFile
from datafast.quality import DroppedRecords, RecordCleaner
from datafast.quality.records import record_text
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.data_rows import DatasetRow


class Judged(NamedTuple):
    """A record on its way to the output: its text, and the cleaning rule it breaks on its own (None if
    none; duplicates are checked when it is written)."""

    record: DatasetRow
    text: str
    flaw: str | None


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
            judged = self._judge(row, truncated=line["reason"] == "truncated")
            if (judged.flaw or self.cleaner.duplicate(judged.text)) is None:
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

    def judge(self, records: Sequence[DatasetRow], *, truncated: bool) -> list[Judged]:
        """Each record with its text and the rule it breaks on its own (duplicates aside); nothing is
        written or remembered."""
        return [self._judge(record, truncated) for record in records]

    def _judge(self, record: DatasetRow, truncated: bool) -> Judged:
        text = record_text(record.model_dump(include=set(self.text_fields)), self.text_fields)
        label = getattr(record, "label", None)
        return Judged(record, text, self.cleaner.flaw(text, language=record.language, label=label, truncated=truncated))

    def write(self, judged: Sequence[Judged]) -> None:
        """Write each judged record where it belongs, after the duplicate check. The run store holds the
        answer durably, so the output needs no fsync, and a flush every quarter second is enough to watch
        it grow."""
        kept = []
        for record, text, flaw in judged:
            reason = flaw or self.cleaner.duplicate(text)
            if reason is None:
                kept.append(record)
            elif record.uuid not in self._dropped_uuids:
                self.dropped.add(reason, record)
                self.dropped_by_reason[reason] += 1
        self.output.append(kept, sync=False, flush_every=0.25)
        self.kept += len(kept)
