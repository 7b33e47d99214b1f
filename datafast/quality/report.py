"""The diversity and quality report of a dataset: counts, distinct-n ratios, near-duplicate rate, length
distribution and a per-model comparison. Built in one streaming pass; saved as JSON with PNG plots.

Definitions (what the figures mean):
- words: case-folded runs of letters or digits (`datafast.quality.text.words`), per record text.
- distinct-n: distinct word n-grams / all word n-grams, over all texts (n-grams never span two records).
- near-duplicate rate: share of records with a near duplicate earlier in the file (estimated Jaccard
  similarity of 3-word shingle sets at least the threshold, 0.8 by default, MinHash LSH).
- length percentiles: numpy's linear interpolation; the histogram has at most 20 bins of equal whole-number
  width from the minimum, bin i holding lengths in [edges[i], edges[i + 1]).
"""

from __future__ import annotations

import json
import os
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console, Group, RenderableType
from rich.table import Table

from datafast.quality.near_duplicates import NearDuplicateIndex
from datafast.quality.records import record_text, text_fields_from
from datafast.quality.text import words

DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.8
# Columns counted whatever their number of values; other string columns only when they look categorical.
KNOWN_CATEGORICAL = (
    "label", "language", "model_id", "prompt_template", "dataset_type",
    "document_type", "topic", "subtopic", "domain", "persona",
)  # fmt: skip
NEVER_COUNTED = frozenset({"uuid", "request_id", "document_id"})
# Placeholders a dataset type fills from a record field: their counts repeat that field's, so the printed
# report leaves them out when the field is counted (the saved report keeps them).
FILLED_FROM_FIELD = {
    "label_name": "label", "label_description": "label", "language_name": "language",
    "language_code": "language", "document_type": "document_type", "topic": "topic",
}  # fmt: skip
MAX_DISTINCT = 1000
PERCENTILES = (10, 25, 75, 90)
_ID_BITS = 21  # n-gram keys pack three word ids exactly while the vocabulary stays under 2**21 words


class _Column:
    """Value counts of one string column, abandoned once it has more than MAX_DISTINCT values."""

    def __init__(self) -> None:
        self.counts: Counter[str] | None = Counter()

    def add(self, value: str) -> None:
        if self.counts is not None:
            self.counts[value] += 1
            if len(self.counts) > MAX_DISTINCT:
                self.counts = None


class _ReportBuilder:
    def __init__(self, fields: tuple[str, ...], threshold: float) -> None:
        self.fields = fields
        self.threshold = threshold
        self.total = 0
        self.columns: dict[str, _Column] = {}
        self.placeholders: dict[str, _Column] = {}
        self.chars = array("q")
        self.words = array("q")
        self.models: dict[str, int] = {}
        self.record_model = array("q")
        self.near_flags = array("b")
        self.vocab: dict[str, int] = {}
        self.token_ids = array("q")
        self.near = NearDuplicateIndex(threshold)

    def add(self, record: Mapping[str, Any]) -> None:
        self.total += 1
        for key, value in record.items():
            if isinstance(value, str) and key not in NEVER_COUNTED and key not in self.fields:
                self.columns.setdefault(key, _Column()).add(value)
        placeholders = record.get("placeholders")
        if isinstance(placeholders, Mapping):
            for name, value in placeholders.items():
                self.placeholders.setdefault(str(name), _Column()).add(str(value))
        text = record_text(record, self.fields)
        tokens = words(text)
        self.chars.append(len(text))
        self.words.append(len(tokens))
        model = record.get("model_id")
        self.record_model.append(self.models.setdefault(str(model) if model is not None else "?", len(self.models)))
        vocab = self.vocab
        self.token_ids.extend([vocab.setdefault(t, len(vocab)) for t in tokens])
        self.near_flags.append(self.near.check_and_add(tokens))

    def result(self) -> dict[str, Any]:
        words_per_record = np.frombuffer(self.words, dtype=np.int64) if self.total else np.zeros(0, np.int64)
        chars = np.frombuffer(self.chars, dtype=np.int64) if self.total else np.zeros(0, np.int64)
        ids = np.frombuffer(self.token_ids, dtype=np.int64) if len(self.token_ids) else np.zeros(0, np.int64)
        models = np.frombuffer(self.record_model, dtype=np.int64) if self.total else np.zeros(0, np.int64)
        near = np.frombuffer(self.near_flags, dtype=np.int8).astype(bool) if self.total else np.zeros(0, bool)
        record_of_token = np.repeat(np.arange(self.total), words_per_record)
        grams = {n: _ngram_keys(ids, record_of_token, n, len(self.vocab)) for n in (1, 2, 3)}

        per_model: dict[str, Any] = {}
        for name, index in sorted(self.models.items()):
            mine = models == index
            per_model[name] = {
                "records": int(mine.sum()),
                "chars": _summary(chars[mine]),
                "words": _summary(words_per_record[mine]),
                **{
                    f"distinct_{n}": _distinct(keys[mine[positions]])
                    for n, (keys, positions) in grams.items()
                },
                "near_duplicate_rate": _rate(int(near[mine].sum()), int(mine.sum())),
            }
        counts: dict[str, dict[str, int]] = {}
        for key, column in self.columns.items():
            if column.counts is None:
                continue
            if key in KNOWN_CATEGORICAL or len(column.counts) <= self.total / 2:
                counts[key] = dict(column.counts.most_common())
        ordered = [k for k in KNOWN_CATEGORICAL if k in counts]
        ordered += sorted(k for k in counts if k not in KNOWN_CATEGORICAL)
        return {
            "total": self.total,
            "text_fields": list(self.fields),
            "empty_texts": int((words_per_record == 0).sum()),
            "counts": {k: counts[k] for k in ordered},
            "placeholders": {
                name: dict(column.counts.most_common())
                for name, column in sorted(self.placeholders.items())
                if column.counts is not None
            },
            "diversity": {
                **{f"distinct_{n}": _distinct(keys) for n, (keys, _) in grams.items()},
                "near_duplicates": int(near.sum()),
                "near_duplicate_rate": _rate(int(near.sum()), self.total),
                "near_duplicate_threshold": self.threshold,
            },
            "length": {"chars": _summary(chars, histogram=True), "words": _summary(words_per_record, histogram=True)},
            "per_model": per_model,
        }


def build_report(
    records: Iterable[Mapping[str, Any]],
    text_field: str | Sequence[str] | None = None,
    *,
    near_duplicate_threshold: float = DEFAULT_NEAR_DUPLICATE_THRESHOLD,
) -> dict[str, Any]:
    """The report of `records` (any record dicts, read once, in order) as a JSON-ready dict.

    `text_field` names the field(s) whose text is measured; None guesses from the first record (`text`,
    else chat `messages`, else a preference record's question and responses). Counts cover `label`,
    `language`, `model_id`, `prompt_template` and the other known categorical columns, any other string
    column with at most half as many distinct values as records (and at most 1000), and every placeholder
    value."""
    iterator = iter(records)
    first = next(iterator, None)
    builder = _ReportBuilder(text_fields_from(text_field, first), near_duplicate_threshold)
    if first is not None:
        builder.add(first)
        for record in iterator:
            builder.add(record)
    return builder.result()


def read_records(path: str | Path) -> Iterable[dict[str, Any]]:
    """Stream the records of a JSONL file, with a clear error for a missing file or a bad line."""
    from datafast.errors import ConfigError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; give a JSONL file written by datafast")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{path}, line {number}: not valid JSON ({exc.msg}); expected one record per line"
                ) from None
            if not isinstance(record, dict):
                raise ConfigError(f"{path}, line {number}: a JSON {type(record).__name__}, expected an object")
            yield record


def _ngram_keys(
    ids: np.ndarray, record_of_token: np.ndarray, n: int, vocab_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One integer key per word n-gram (n-grams inside one record only) and the record each belongs to."""
    if len(ids) < n:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    count = len(ids) - n + 1
    inside = record_of_token[:count] == record_of_token[n - 1 :]
    keys = np.zeros(count, dtype=np.uint64)
    exact = vocab_size < 1 << _ID_BITS
    for offset in range(n):
        part = ids[offset : offset + count].astype(np.uint64)
        # With a huge vocabulary, mix instead of packing (a collision among billions of n-grams is what remains).
        keys = (keys << np.uint64(_ID_BITS)) | part if exact else (keys ^ part) * np.uint64(0x9E3779B97F4A7C15)
    return keys[inside], record_of_token[:count][inside]


def _distinct(keys: np.ndarray) -> float:
    return round(len(np.unique(keys)) / len(keys), 6) if len(keys) else 0.0


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _summary(values: np.ndarray, *, histogram: bool = False, bins: int = 20) -> dict[str, Any]:
    if not len(values):
        return {"count": 0}
    result: dict[str, Any] = {
        "count": len(values),
        "min": int(values.min()),
        "max": int(values.max()),
        "mean": round(float(values.mean()), 3),
        "median": float(np.median(values)),
        **{f"p{p}": float(np.percentile(values, p)) for p in PERCENTILES},
    }
    if histogram:
        # Integer-aligned bins of equal width: bin i holds lengths in [edges[i], edges[i + 1]).
        low, high = int(values.min()), int(values.max())
        width = -(-(high - low + 1) // bins)
        n_bins = -(-(high - low + 1) // width)
        counts = np.bincount((values - low) // width, minlength=n_bins)
        edges = [low + width * i for i in range(n_bins + 1)]
        result["histogram"] = {"edges": edges, "counts": counts.tolist()}
    return result


# -- saving and printing ---------------------------------------------------------------------------------


def save_report(report: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """Write `report.json` and the PNG plots (`lengths.png`, `counts.png`, and `models.png` when there
    is more than one model) into `folder`, created if missing. Returns the paths written."""
    from datafast.quality.plots import plot_counts, plot_lengths, plot_models

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json"]
    _write_atomic(written[0], json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"))
    for name, plot in (("lengths.png", plot_lengths), ("counts.png", plot_counts), ("models.png", plot_models)):
        png = plot(report)
        if png is not None:
            _write_atomic(folder / name, png)
            written.append(folder / name)
    return written


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _short(value: str, width: int = 60) -> str:
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"


def render_report(report: Mapping[str, Any], *, max_rows: int = 15) -> RenderableType:
    """The report as rich tables: overview, lengths, counts per column and placeholder (a column with one
    value is a line of the overview), and a comparison of the models when there are several."""
    diversity = report["diversity"]
    overview = Table(title="Dataset", show_header=False)
    overview.add_row("records", f"{report['total']:,}")
    overview.add_row("text fields", ", ".join(report["text_fields"]))
    overview.add_row("empty texts", str(report["empty_texts"]))
    for n in (1, 2, 3):
        overview.add_row(f"distinct-{n}", f"{diversity[f'distinct_{n}']:.3f}")
    overview.add_row(
        "near duplicates",
        f"{diversity['near_duplicates']:,} ({diversity['near_duplicate_rate']:.1%}, "
        f"Jaccard ≥ {diversity['near_duplicate_threshold']})",
    )
    lengths = Table(title="Length")
    stats = ("min", "p10", "p25", "median", "mean", "p75", "p90", "max")
    lengths.add_column("")
    for stat in stats:
        lengths.add_column(stat, justify="right")
    for unit in ("chars", "words"):
        summary = report["length"][unit]
        lengths.add_row(unit, *(f"{summary[s]:g}" if summary.get("count") else "-" for s in stats))
    parts: list[RenderableType] = [overview, lengths]
    total = report["total"] or 1
    placeholders = [
        (f"placeholder {name}", counts)
        for name, counts in report["placeholders"].items()
        if FILLED_FROM_FIELD.get(name) not in report["counts"]
    ]
    for title, counts in [*report["counts"].items(), *placeholders]:
        if len(counts) == 1:  # one value for every record: a line of the overview, not a table
            overview.add_row(title, f"{_short(next(iter(counts)))} (all)")
            continue
        table = Table(title=f"Counts: {title}")
        table.add_column("value")
        table.add_column("records", justify="right")
        table.add_column("share", justify="right")
        for value, count in list(counts.items())[:max_rows]:
            table.add_row(_short(value), f"{count:,}", f"{count / total:.1%}")
        if len(counts) > max_rows:
            table.add_row(f"… {len(counts) - max_rows} more", "", "")
        parts.append(table)
    models = Table(title="Per model")
    for column in ("model", "records", "mean words", "median words", "d-1", "d-2", "d-3", "near dup."):
        models.add_column(column, justify="left" if column == "model" else "right")
    for model, stats_ in report["per_model"].items():
        models.add_row(
            model,
            f"{stats_['records']:,}",
            f"{stats_['words'].get('mean', 0):g}",
            f"{stats_['words'].get('median', 0):g}",
            *(f"{stats_[f'distinct_{n}']:.3f}" for n in (1, 2, 3)),
            f"{stats_['near_duplicate_rate']:.1%}",
        )
    if len(report["per_model"]) > 1:
        parts.append(models)
    return Group(*parts)


def print_report(report: Mapping[str, Any], console: Console | None = None) -> None:
    """Print `render_report(report)` to `console` (standard output by default)."""
    (console or Console()).print(render_report(report))
