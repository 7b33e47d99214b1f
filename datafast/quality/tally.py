"""The report's figures gathered one record at a time, in memory that does not grow with the records: value
counts, counts of each text length, distinct n-gram keys (`datafast.quality.ngrams`) and the near-duplicate
index (SQLite on disk). A run's sink feeds it the records it writes, so the report is ready when the last one
is; `build_report` feeds it a file's records.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from datafast.quality.records import record_text
from datafast.quality.spread import MAX_DISTINCT, Spread
from datafast.quality.text import words

if TYPE_CHECKING:
    from datafast.quality.near_duplicates import NearDuplicateIndex
    from datafast.quality.ngrams import DistinctNgrams

SHINGLE_WORDS = 3  # the report's near duplicates compare 3-word shingle sets
# Columns counted whatever their number of values; other string columns only when they look categorical.
KNOWN_CATEGORICAL = (
    "label", "language", "model_id", "prompt_template", "dataset_type",
    "document_type", "topic", "subtopic", "domain", "persona",
)  # fmt: skip
NEVER_COUNTED = frozenset({"uuid", "request_id", "document_id"})
PERCENTILES = (10, 25, 75, 90)
HISTOGRAM_BINS = 20


class _Column:
    """Value counts of one string column, abandoned once it has more than MAX_DISTINCT values."""

    def __init__(self) -> None:
        self.counts: Counter[str] | None = Counter()

    def add(self, value: str) -> None:
        if self.counts is not None:
            self.counts[value] += 1
            if len(self.counts) > MAX_DISTINCT:
                self.counts = None


class _Model:
    """One model's records: how many, their lengths (a count per length) and near duplicates."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.records = 0
        self.chars: Counter[int] = Counter()
        self.words: Counter[int] = Counter()
        self.near_duplicates = 0


class ReportTally:
    """The figures of `datafast.quality.report` over the records added so far, in their order.

    `add` takes a record as written to JSONL (a dict). A caller that already checked the record for near
    duplicates against the same earlier records (a run's cleaner: same threshold, 3-word shingles) passes
    the outcome as `near`; otherwise the tally keeps its own index. `result()` may be called at any time."""

    def __init__(self, fields: Sequence[str], near_duplicate_threshold: float) -> None:
        self.fields = tuple(fields)
        self.threshold = near_duplicate_threshold
        self.total = 0
        self._skipped = frozenset(self.fields) | NEVER_COUNTED
        self._columns: dict[str, _Column] = {}
        self._placeholders: dict[str, Spread] = {}
        self._models: dict[str, _Model] = {}
        self._ngrams: DistinctNgrams | None = None  # numpy's import waits for the first record
        self._near: NearDuplicateIndex | None = None

    def add(self, record: Mapping[str, Any], text: str | None = None, *, near: bool | None = None) -> None:
        """Count one record. `text`: its text over the fields, when known; `near`: whether an earlier record
        is a near duplicate of it, when known."""
        self.total += 1
        skipped = self._skipped
        for key, value in record.items():
            if isinstance(value, str) and key not in skipped:
                _column(self._columns, key).add(value)
        placeholders = record.get("placeholders")
        if isinstance(placeholders, Mapping):
            for name, value in placeholders.items():
                spread = self._placeholders.get(str(name))
                if spread is None:
                    spread = self._placeholders[str(name)] = Spread()
                spread.add(str(value))
        if text is None:
            text = record_text(record, self.fields)
        tokens = words(text)
        model_id = record.get("model_id")
        name = str(model_id) if model_id is not None else "?"
        model = self._models.get(name)
        if model is None:
            model = self._models[name] = _Model(len(self._models))
        model.records += 1
        model.chars[len(text)] += 1
        model.words[len(tokens)] += 1
        if near is None:
            near = self._own_index().check_and_add(tokens)
        model.near_duplicates += near
        self._distinct().add(tokens, model.index)

    def _distinct(self) -> DistinctNgrams:
        if self._ngrams is None:
            from datafast.quality.ngrams import DistinctNgrams

            self._ngrams = DistinctNgrams()
        return self._ngrams

    def _own_index(self) -> NearDuplicateIndex:
        if self._near is None:
            from datafast.quality.near_duplicates import NearDuplicateIndex

            self._near = NearDuplicateIndex(self.threshold, SHINGLE_WORDS)
        return self._near

    def result(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (see `datafast.quality.report` for the definitions)."""
        models = self._models.values()
        chars = sum((m.chars for m in models), Counter())
        words_ = sum((m.words for m in models), Counter())
        near = sum(m.near_duplicates for m in models)
        per_model: dict[str, Any] = {}
        for name, model in sorted(self._models.items()):
            per_model[name] = {
                "records": model.records,
                "chars": summary(model.chars),
                "words": summary(model.words),
                **self._distinct().ratios(model.index),
                "near_duplicate_rate": _rate(model.near_duplicates, model.records),
            }
        counts: dict[str, dict[str, int]] = {}
        for key, column in self._columns.items():
            if column.counts is not None and (key in KNOWN_CATEGORICAL or len(column.counts) <= self.total / 2):
                counts[key] = dict(column.counts.most_common())
        ordered = [k for k in KNOWN_CATEGORICAL if k in counts]
        ordered += sorted(k for k in counts if k not in KNOWN_CATEGORICAL)
        return {
            "total": self.total,
            "text_fields": list(self.fields),
            "empty_texts": words_[0],
            "counts": {k: counts[k] for k in ordered},
            "placeholders": {
                name: dict(spread.counts.most_common())
                for name, spread in sorted(self._placeholders.items())
                if spread.exact
            },
            "placeholder_spread": {name: spread.result() for name, spread in sorted(self._placeholders.items())},
            "diversity": {
                **self._distinct().ratios(),
                "near_duplicates": near,
                "near_duplicate_rate": _rate(near, self.total),
                "near_duplicate_threshold": self.threshold,
            },
            "length": {"chars": summary(chars, histogram=True), "words": summary(words_, histogram=True)},
            "per_model": per_model,
        }


def _column(columns: dict[str, _Column], name: str) -> _Column:
    column = columns.get(name)
    if column is None:
        column = columns[name] = _Column()
    return column


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def summary(counts: Counter[int], *, histogram: bool = False) -> dict[str, Any]:
    """Count, min, max, mean, median, percentiles (numpy's default linear method, to the last bit) and, with
    `histogram`, at most HISTOGRAM_BINS bins of equal whole-number width from the minimum (bin i holds
    lengths in [edges[i], edges[i + 1])) of the values counted in `counts` (value -> how many)."""
    values = sorted(v for v, c in counts.items() if c)
    n = sum(counts[v] for v in values)
    if not n:
        return {"count": 0}
    ends = list(itertools.accumulate(counts[v] for v in values))  # rank of each value's last copy, plus one

    def at(rank: int) -> int:
        # The value at this rank (0-based) of the sorted values.
        low, high = 0, len(ends) - 1
        while low < high:
            middle = (low + high) // 2
            if ends[middle] > rank:
                high = middle
            else:
                low = middle + 1
        return values[low]

    def percentile(p: float) -> float:
        index = (n - 1) * (p / 100)
        if index >= n - 1:
            return float(values[-1])
        below = math.floor(index)
        a, b = at(below), at(below + 1)
        t = index - below
        return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t

    middle = n // 2
    result: dict[str, Any] = {
        "count": n,
        "min": values[0],
        "max": values[-1],
        "mean": round(sum(v * counts[v] for v in values) / n, 3),
        "median": float(at(middle)) if n % 2 else (at(middle - 1) + at(middle)) / 2,
        **{f"p{p}": float(percentile(p)) for p in PERCENTILES},
    }
    if histogram:
        low, high = values[0], values[-1]
        width = -(-(high - low + 1) // HISTOGRAM_BINS)
        bins = [0] * -(-(high - low + 1) // width)
        for value in values:
            bins[(value - low) // width] += counts[value]
        result["histogram"] = {"edges": [low + width * i for i in range(len(bins) + 1)], "counts": bins}
    return result
