"""The diversity and quality report of a dataset: counts, distinct-n ratios, near-duplicate rate, length
distribution and a per-model comparison. Tallied one record at a time (`datafast.quality.tally`: a run
tallies the records as it writes them); saved as JSON with PNG plots.

Definitions (what the figures mean):
- words: case-folded runs of letters or digits (`datafast.quality.text.words`), per record text.
- distinct-n: distinct word n-grams / all word n-grams, over all texts (n-grams never span two records).
- near-duplicate rate: share of records with a near duplicate earlier in the file (estimated Jaccard
  similarity of 3-word shingle sets at least the threshold, 0.8 by default, MinHash LSH).
- length percentiles: linear interpolation between the closest ranks (numpy's default method); the histogram
  has at most 20 bins of equal whole-number width from the minimum, bin i holding lengths in
  [edges[i], edges[i + 1]).
- placeholder spread (`placeholder_spread`): per placeholder, its records, distinct values and the 10 most
  frequent ones (past 1000 distinct values, estimated: see `datafast.quality.spread`), and for a placeholder
  whose values are all numbers (a numeric sampler's), min, max, mean, std, median and a 10-bin histogram.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table

from datafast._files import write_atomically
from datafast.quality.records import text_fields_from
from datafast.quality.tally import ReportTally

DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.8
# Placeholders a dataset type fills from a record field: their counts repeat that field's, so the printed
# report leaves them out when the field is counted (the saved report keeps them).
FILLED_FROM_FIELD = {
    "label_name": "label", "label_description": "label", "language_name": "language",
    "language_code": "language", "document_type": "document_type", "topic": "topic",
}  # fmt: skip


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
    tally = ReportTally(text_fields_from(text_field, first), near_duplicate_threshold)
    if first is not None:
        tally.add(first)
        for record in iterator:
            tally.add(record)
    return tally.result()


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


# -- saving and printing ---------------------------------------------------------------------------------


def save_report(report: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """Write `report.json` and the PNG plots (`lengths.png`, `counts.png`, `models.png`; none of them for a
    report of no records) into `folder`, created if missing. Returns the paths written."""
    from datafast.quality.plots import plot_counts, plot_lengths, plot_models

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json"]
    write_atomically(written[0], json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"), durable=False)
    for name, plot in (("lengths.png", plot_lengths), ("counts.png", plot_counts), ("models.png", plot_models)):
        png = plot(report)
        if png is not None:
            write_atomically(folder / name, png, durable=False)
            written.append(folder / name)
    return written


def _short(value: str, width: int = 60) -> str:
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"


def count_columns(report: Mapping[str, Any]) -> list[tuple[str, Mapping[str, int]]]:
    """The report's counts to show, by title: its columns, then its placeholders (`placeholder NAME`) but
    those a counted column repeats (`label_name` with `label`)."""
    placeholders = [
        (f"placeholder {name}", counts)
        for name, counts in report["placeholders"].items()
        if FILLED_FROM_FIELD.get(name) not in report["counts"]
    ]
    return [*report["counts"].items(), *placeholders]


def spread_tables(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The placeholders printed by their spread rather than by their counts: those whose values are numbers
    (two or more of them) and those with too many distinct values to count, but those a counted column repeats."""
    shown = {}
    for name, spread in report.get("placeholder_spread", {}).items():
        if FILLED_FROM_FIELD.get(name) in report["counts"]:
            continue
        if spread["distinct"] is None or ("numeric" in spread and spread["distinct"] > 1):
            shown[name] = spread
    return shown


def _spread_table(name: str, spread: Mapping[str, Any], total: int) -> Table:
    """A numeric placeholder's histogram (or, without one, its most frequent values) with its figures, or the
    most frequent values of a placeholder with too many to count."""
    numeric = spread.get("numeric")
    notes = []
    if numeric is not None:
        figures = [f"{k} {numeric[k]:.4g}" for k in ("min", "median", "mean", "std", "max") if k in numeric]
        notes.append(", ".join(figures))
    if spread["distinct"] is None:
        notes.append(
            f"more than {spread['distinct_above']:,} distinct values: the most frequent, with counts short by up "
            f"to {spread['short_by_at_most']:,}"
        )
    kind = "Spread" if numeric is not None else "Counts"
    table = Table(title=f"{kind}: placeholder {name}", caption="\n".join(notes) or None)
    histogram = numeric.get("histogram") if numeric is not None else None
    if histogram is not None:
        for column in ("from", "to", "records"):
            table.add_column(column, justify="right")
        table.add_column("")
        edges, counts = histogram["edges"], histogram["counts"]
        most = max(counts) or 1
        for i, count in enumerate(counts):
            table.add_row(f"{edges[i]:g}", f"{edges[i + 1]:g}", f"{count:,}", "█" * round(20 * count / most))
        return table
    table.add_column("value")
    table.add_column("records", justify="right")
    table.add_column("share", justify="right")
    for entry in spread["top"]:
        table.add_row(_short(entry["value"]), f"{entry['records']:,}", f"{entry['records'] / total:.1%}")
    return table


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
    by_spread = spread_tables(report)
    for title, counts in count_columns(report):
        if title.startswith("placeholder ") and title.removeprefix("placeholder ") in by_spread:
            continue
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
    parts.extend(_spread_table(name, spread, total) for name, spread in by_spread.items())
    models = Table(title="Per model")
    # The numbers keep their width (short headers, on two lines); the model's full provider/model name
    # takes the rest, folded onto further lines when it is longer, never cut.
    models.add_column("model", overflow="fold", min_width=12)
    for column in ("records", "mean\nwords", "median\nwords", "d-1", "d-2", "d-3", "near\ndup."):
        models.add_column(column, justify="right", no_wrap=True)
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
