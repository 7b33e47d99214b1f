"""Where a run's records go: cleaned as they arrive, the kept ones appended to the output JSONL, the dropped
ones to the side file `<name>.dropped.jsonl` with their reason. Nothing already written is rewritten. The
report of the output is tallied as records are written, so it is ready when the last one is."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from datafast.engine.judging import RecordJudge
from datafast.outputs import DroppedRecords, JsonlFile, write_jsonl
from datafast.quality import RecordCleaner
from datafast.quality.preload import LANGUAGE, NEAR_DUPLICATES, PLOTS, Preload
from datafast.quality.records import record_text
from datafast.quality.tally import SHINGLE_WORDS, ReportTally
from datafast.quality.validators import RecordValidators
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.data_rows import DatasetRow

# Once the libraries have loaded, each write also works off at most this many records that waited for them:
# a backlog of hundreds (a second of answers at full speed) is written over the next answers, not in one stall.
BACKLOG_PER_WRITE = 64


class Judged(NamedTuple):
    """A record on its way to the output: its text, and the rule it breaks on its own (a cleaning rule, a
    validator, the judge's threshold; None if none; the language and duplicate rules are applied when it is
    written)."""

    record: DatasetRow
    text: str
    flaw: str | None


class RecordSink:
    """The output of one run.

    `scan()` reads what earlier runs wrote: the records in the output and in the dropped file (`present`,
    by uuid: a rerun writes only records not there, so a request whose records are only partly in the
    output gets the missing ones back) and the output's texts (later records are checked against them for
    duplicates). Dropped records are checked again with the current rules, so switching a rule off and
    running again brings back what it dropped (the dropped file keeps its lines: it is the log of what was
    dropped when); `scan(reclean=True)`, for cleaning rules changed since the output was written, also
    checks the output's records again and moves those the rules now drop to the dropped file (the output
    is rewritten atomically). A dropped record is never written twice (its uuid is stable).

    The sink only ever opens files this run owns (`datafast.engine.run` checks): opening cuts off what a
    crash left half-written at their ends.

    The language and duplicate rules and the report need libraries that take a second or two to load; the
    sink loads them in the background from the moment it is made (`datafast.quality.preload`), and records
    written before they are loaded wait in memory, in order, rather than the event loop waiting for them.
    `kept`, `dropped_by_reason` and `report()` count every record written, waiting ones included. A failed
    write (a full disk) raises `OutputWriteError`; the records it held are written by the next run.

    `validators` and a `record_judge` are rules of the same kind: a record failing a validator, or scored
    under the judge's threshold, is dropped as it arrives (and checked again on a rerun, as the cleaning rules
    are). With a judge, a dropped record that the current rules would bring back but that was never judged
    is left out of `present`: the run judges it before it is written."""

    def __init__(
        self,
        output_file: str | Path,
        cleaning: CleaningConfig,
        text_fields: Sequence[str],
        record_class: type[DatasetRow],
        label_field: str | None = None,
        *,
        validators: RecordValidators | None = None,
        record_judge: RecordJudge | None = None,
    ) -> None:
        self.output = JsonlFile(output_file)
        self.dropped = DroppedRecords(output_file)
        self.cleaner = RecordCleaner(cleaning)
        self.text_fields = tuple(text_fields)
        self.record_class = record_class
        self.label_field = label_field  # the field the label-restatement rule compares the text with
        self.validators = validators
        self.record_judge = record_judge
        self.present: set[str] = set()  # uuids of the records in the output or the dropped file
        self._dropped_uuids: set[str] = set()
        self._restored: list[DatasetRow] = []
        self._moved: list[tuple[str, DatasetRow]] = []  # kept before, dropped by rules changed since
        self._kept = 0
        self._dropped_by_reason: Counter[str] = Counter()
        self._waiting: list[Judged] = []
        self._loading = Preload(NEAR_DUPLICATES, PLOTS, *([LANGUAGE] if cleaning.wrong_language else []))
        self.tally = ReportTally(self.text_fields, cleaning.near_duplicate_threshold)
        # The cleaner's near-duplicate check is the report's when it compares the same shingles: a record it
        # keeps has no near duplicate before it in the output.
        self._cleaner_finds_near = cleaning.near_duplicates and cleaning.near_duplicate_shingle_words == SHINGLE_WORDS

    @property
    def kept(self) -> int:
        """Records written to the output, by this run and (restored from the dropped file) on resume."""
        self._settle()
        return self._kept

    @property
    def dropped_by_reason(self) -> Counter[str]:
        """Records this run dropped, by reason."""
        self._settle()
        return self._dropped_by_reason

    def report(self) -> dict[str, Any]:
        """The report (`datafast.quality.report`) of the whole output file as written so far."""
        self._settle()
        return self.tally.result()

    def scan(self, *, reclean: bool = False) -> None:
        in_output: set[str] = set()
        lines: Iterable[dict[str, Any]] = self._reclean(self.output.read()) if reclean else self.output.read()
        for line in lines:
            in_output.add(str(line.get("uuid")))
            text = record_text(line, self.text_fields)
            near = self.cleaner.remember(text)
            self.tally.add(line, text, near=near if self._cleaner_finds_near else None)
        unjudged: set[str] = set()
        for line in self.dropped.read():
            record = line["record"]
            self._dropped_uuids.add(record.get("uuid"))
            if record.get("uuid") in in_output:
                continue
            row = self.record_class.model_validate(record)
            # Whether an answer was cut off is not in the record: the reason it was dropped for says so.
            judged = self._judge(row, truncated=line["reason"] == "truncated")
            if self.record_judge is not None and row.judge_scores is None and judged.flaw is None:
                unjudged.add(row.uuid)  # not checked for duplicates now: that would remember its text
                continue
            if self._reason(judged) is None:
                self._restored.append(row)
                self._tally(row, judged.text)
                in_output.add(record.get("uuid"))
        self.present = (in_output | self._dropped_uuids | {row.uuid for _, row in self._moved}) - unjudged

    def _reclean(self, lines: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
        """The output's records that the current rules keep; the others wait in `_moved` for the dropped
        file. The output is rewritten now, atomically, when any is moved."""
        self._loading.wait()
        kept: list[dict[str, Any]] = []
        rows: list[DatasetRow] = []
        checker = RecordCleaner(self.cleaner.config)  # the kept texts are remembered as `scan` reads them
        for line in lines:
            row = self.record_class.model_validate(line)
            reason = self._reason(self._judge(row, truncated=False), checker)
            if reason is None:
                kept.append(line)
                rows.append(row)
            else:
                self._moved.append((reason, row))
        if self._moved:
            write_jsonl(self.output.path, rows)
        return kept

    def __enter__(self) -> RecordSink:
        self.output.cut_incomplete_tail()
        JsonlFile(self.dropped.path).cut_incomplete_tail()
        self.output.open()
        self.dropped.open()
        for reason, row in self._moved:
            if row.uuid not in self._dropped_uuids:
                self.dropped.add(reason, row)
                self._dropped_uuids.add(row.uuid)
            self._dropped_by_reason[reason] += 1
        self._moved = []
        self.output.append(self._restored, sync=False)
        self._kept += len(self._restored)
        self._restored = []
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._settle()
        finally:
            try:
                self.output.close()
            finally:
                self.dropped.close()

    def judge(self, records: Sequence[DatasetRow], *, truncated: bool) -> list[Judged]:
        """Each record with its text and the rule it breaks on its own (language and duplicates aside);
        nothing is written or remembered."""
        return [self._judge(record, truncated) for record in records]

    def _judge(self, record: DatasetRow, truncated: bool) -> Judged:
        text = record_text(record.model_dump(include=set(self.text_fields)), self.text_fields)
        label = getattr(record, self.label_field) if self.label_field else None
        flaw = self.cleaner.flaw(text, label=label, truncated=truncated)
        if flaw is None and self.validators:
            flaw = self.validators.check(record, text)
        if flaw is None and self.record_judge is not None:
            flaw = self.record_judge.flaw(record)
        return Judged(record, text, flaw)

    def missing(self, records: Sequence[DatasetRow]) -> list[DatasetRow]:
        """The records not yet in the output or the dropped file."""
        return [record for record in records if record.uuid not in self.present]

    def write(self, judged: Sequence[Judged]) -> None:
        """Write each judged record where it belongs, after the language and duplicate checks; while the
        libraries those need are loading, the records wait (see the class)."""
        self.present.update(j.record.uuid for j in judged)
        self._waiting.extend(judged)
        if self._loading.ready():
            self._write_waiting(len(judged) + BACKLOG_PER_WRITE)

    def _settle(self) -> None:
        """Write the records still waiting, waiting for the libraries first if need be."""
        if self._waiting:
            self._loading.wait()
            self._write_waiting(len(self._waiting))

    def _write_waiting(self, count: int) -> None:
        """Write the first `count` records waiting. The run store holds the answers durably, so the output
        needs no fsync, and a flush every quarter second is enough to watch it grow."""
        waiting, self._waiting = self._waiting[:count], self._waiting[count:]
        kept = []
        for judged in waiting:
            reason = self._reason(judged)
            if reason is None:
                kept.append(judged.record)
                self._tally(judged.record, judged.text)
            elif judged.record.uuid not in self._dropped_uuids:
                self.dropped.add(reason, judged.record)
                self._dropped_by_reason[reason] += 1
        self.output.append(kept, sync=False, flush_every=0.25)
        self._kept += len(kept)

    def _reason(self, judged: Judged, cleaner: RecordCleaner | None = None) -> str | None:
        """Why the record is dropped (None: kept, and remembered for later duplicate checks)."""
        cleaner = cleaner or self.cleaner
        language = judged.record.language
        return judged.flaw or cleaner.language_flaw(judged.text, language) or cleaner.duplicate(judged.text)

    def _tally(self, record: DatasetRow, text: str) -> None:
        near = False if self._cleaner_finds_near else None
        self.tally.add(record.model_dump(mode="json"), text, near=near)
