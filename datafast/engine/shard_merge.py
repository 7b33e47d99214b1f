"""The output of a sharded run, merged from its shards' outputs.

Each shard has cleaned its own records (every rule, duplicates within the shard included). The merge applies the
duplicate rules across shards (exact and near duplicates, with the run's cleaning settings: the first record in
merge order is kept, the later one goes to the dropped file with its reason), writes the output and the dropped file
whole and atomically (complete or as they were), and tallies the report of the output as it writes it. The order is
shard 0's records as it wrote them, then shard 1's, and so on; then records the output held that no shard has (its
run folder was lost once and the output adopted, see `datafast.engine.ownership`): they are kept, after the others.
Lines are copied as the shards wrote them, byte for byte.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from datafast._files import write_atomically
from datafast.engine.shards import ShardLayout
from datafast.errors import ConfigError
from datafast.outputs import dropped_path
from datafast.quality import RecordCleaner
from datafast.quality.records import record_text
from datafast.quality.tally import SHINGLE_WORDS, ReportTally
from datafast.schema.cleaning import CleaningConfig


@dataclass
class MergeResult:
    """What the merge wrote: records in the output, records in the dropped file by reason (the whole file), the
    duplicates it found across shards by reason, records kept from the earlier output, and the report."""

    records: int = 0
    dropped_by_reason: Counter[str] = field(default_factory=Counter)
    across_shards: Counter[str] = field(default_factory=Counter)
    kept_from_output: int = 0
    report: dict[str, Any] = field(default_factory=dict)


def read_lines(path: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Each complete line of a JSONL file (one a kill cut short at the end is skipped), raw and parsed."""
    if not path.exists():
        return
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n") or not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                raise ConfigError(f"{path} line {number} is not a JSON object: fix or delete that line, then run again")
            yield raw, value


class _Merger:
    def __init__(self, cleaning: CleaningConfig, text_fields: Sequence[str], output: IO[bytes], dropped: IO[bytes]):
        self.cleaner = RecordCleaner(cleaning)
        self.text_fields = tuple(text_fields)
        self.tally = ReportTally(self.text_fields, cleaning.near_duplicate_threshold)
        # The cleaner's near-duplicate check is the report's when it compares the same shingles (as in the sink).
        self.near_known = cleaning.near_duplicates and cleaning.near_duplicate_shingle_words == SHINGLE_WORDS
        self.output, self.dropped = output, dropped
        self.seen: set[str] = set()  # uuids written to either file by the merge
        self.dropped_by_shards: set[str] = set()
        self.result = MergeResult()

    def copy_dropped(self, path: Path) -> None:
        for raw, line in read_lines(path):
            record = line.get("record") or {}
            self.dropped_by_shards.add(str(record.get("uuid")))
            self.dropped.write(raw)
            self.result.dropped_by_reason[str(line.get("reason"))] += 1

    def add(self, raw: bytes, line: dict[str, Any], *, unless_dropped: bool = False) -> bool:
        """Write one record where it belongs; False when its uuid was already written (or, `unless_dropped`,
        is in a shard's dropped file)."""
        uuid = str(line.get("uuid"))
        if uuid in self.seen or (unless_dropped and uuid in self.dropped_by_shards):
            return False
        self.seen.add(uuid)
        text = record_text(line, self.text_fields)
        reason = self.cleaner.duplicate(text)
        if reason is None:
            self.output.write(raw)
            self.tally.add(line, text, near=False if self.near_known else None)
            self.result.records += 1
        else:
            self.dropped.write(json.dumps({"reason": reason, "record": line}, ensure_ascii=False).encode() + b"\n")
            self.result.dropped_by_reason[reason] += 1
            self.result.across_shards[reason] += 1
        return True


def merge_shards(
    output: Path, layout: ShardLayout, cleaning: CleaningConfig, text_fields: Sequence[str]
) -> MergeResult:
    """Write `output` and its dropped file from the shards' (see the module docstring)."""
    dropped = dropped_path(output)
    merged: MergeResult | None = None

    def write_both(output_tmp: Path) -> None:
        def write_dropped(dropped_tmp: Path) -> None:
            nonlocal merged
            with open(output_tmp, "wb") as out, open(dropped_tmp, "wb") as drop:
                merger = _Merger(cleaning, text_fields, out, drop)
                for k in range(layout.count):
                    merger.copy_dropped(layout.dropped(k))
                for path in layout.outputs():
                    for raw, line in read_lines(path):
                        merger.add(raw, line)
                before = merger.result.records
                for raw, line in read_lines(output):
                    merger.add(raw, line, unless_dropped=True)
                merger.result.kept_from_output = merger.result.records - before
                merger.result.report = merger.tally.result()
                merged = merger.result

        write_atomically(dropped, write_dropped)

    write_atomically(output, write_both)
    assert merged is not None
    return merged
