"""Row sources: the input rows a dataset is built from (documents for MCQ and preference pairs, input rows for
the generic pipeline).

A source is one of: a Hugging Face dataset (`hf_dataset_name`: a Hub name loaded with `datasets.load_dataset`,
or a local folder written by `Dataset.save_to_disk`), a local file (`local_file_path`: `.jsonl`, `.json` (an
array of objects, or one object a line), `.csv`, `.parquet`, or `.txt`: one row a non-empty line, in the text
column), or rows given in memory (`input_rows`: strings or mappings). `load_source_rows` reads it,
checks the columns the caller needs, applies the document-length filters and `sample_count`, and gives each
row a stable `document_id`. Every problem is a `ConfigError` raised before any LLM request is sent.

`sample_count` keeps the *first* N rows that pass the filters, in source order: reproducible without a seed,
and a large source is read only as far as needed (a Hub dataset is then streamed, not downloaded whole).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from datafast.errors import ConfigError

FILE_TYPES = (".jsonl", ".csv", ".parquet", ".json", ".txt")
# The column a plain string of `input_rows` is put in when no text column is named.
DEFAULT_TEXT_COLUMN = "text"


@dataclass(frozen=True)
class SourceRow:
    """One input row: its stable id (the `id` column when the source has one, else its index in the
    source), its index in the source (before filtering) and its column values."""

    document_id: str
    index: int
    values: dict[str, Any]

    def text(self, column: str) -> str:
        """The value of `column` as text ('' for a missing or null value)."""
        return as_text(self.values.get(column))


def as_text(value: Any) -> str:
    """A cell as prompt text: strings as they are, null as '', anything else as JSON (lists, numbers)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


class SourceFields(BaseModel):
    """Config fields naming where the input rows come from; exactly one of `hf_dataset_name`,
    `local_file_path` and `input_rows` must be given. Mixed into the configs of row-based dataset types."""

    hf_dataset_name: str | None = Field(default=None, min_length=1)
    hf_dataset_subset: str | None = None
    hf_dataset_split: str = Field(default="train", min_length=1)
    local_file_path: str | None = Field(default=None, min_length=1)
    input_rows: list[str | dict[str, Any]] | None = None
    sample_count: int | None = Field(default=None, ge=1)

    @field_validator("input_rows")
    @classmethod
    def _check_input_rows(cls, rows: list[str | dict[str, Any]] | None) -> list[str | dict[str, Any]] | None:
        if rows is not None and not rows:
            raise ValueError("input_rows is empty: give at least one row")
        return rows

    @model_validator(mode="after")
    def _check_one_source(self) -> Self:
        given = [name for name in ("hf_dataset_name", "local_file_path", "input_rows") if getattr(self, name)]
        if not given:
            raise ValueError(
                "no input source: give hf_dataset_name (a Hugging Face dataset or a save_to_disk folder), "
                "local_file_path (.jsonl, .json, .csv, .parquet or .txt) or input_rows (a list)"
            )
        if len(given) > 1:
            raise ValueError(f"give only one input source, not {' and '.join(given)}")
        return self

    def source_name(self) -> str:
        """How errors name the source."""
        if self.hf_dataset_name:
            return f"Hugging Face dataset {self.hf_dataset_name!r} (split {self.hf_dataset_split!r})"
        if self.local_file_path:
            return str(self.local_file_path)
        return "input_rows"


def load_source_rows(
    *,
    hf_dataset_name: str | None = None,
    hf_dataset_subset: str | None = None,
    hf_dataset_split: str = "train",
    local_file_path: str | Path | None = None,
    input_rows: Sequence[str | Mapping[str, Any]] | None = None,
    text_column: str | None = None,
    columns: Mapping[str, str] | None = None,
    sample_count: int | None = None,
    min_document_length: int | None = None,
    max_document_length: int | None = None,
) -> list[SourceRow]:
    """The rows of one source, checked, filtered and sampled.

    `text_column` is the column of the document text (rows whose text is empty are skipped, and the
    length filters, in characters, apply to it); `columns` maps every other column the caller needs to
    the config field that names it (e.g. `{"title": "context_column"}`), for error messages. Raises
    ConfigError for a missing file, an unsupported file type, an empty source, a missing column (listing
    the columns there are) or filters that leave no row."""
    if sum(v is not None for v in (hf_dataset_name, local_file_path, input_rows)) != 1:
        raise ConfigError("give exactly one source: hf_dataset_name, local_file_path or input_rows")
    if hf_dataset_name is not None:
        stream = sample_count is not None
        name, column_names, rows = _hf_rows(hf_dataset_name, hf_dataset_subset, hf_dataset_split, stream)
    elif local_file_path is not None:
        name, column_names, rows = _file_rows(Path(local_file_path), text_column or DEFAULT_TEXT_COLUMN)
    else:
        assert input_rows is not None
        name, column_names, rows = _memory_rows(input_rows, text_column or DEFAULT_TEXT_COLUMN)
    if column_names is None:
        raise ConfigError(f"{name} is empty (0 rows): give a source with at least one row")

    needed = dict(columns or {})
    if text_column is not None:
        needed = {text_column: "text_column", **needed}
    for column, field in needed.items():
        if column not in column_names:
            raise ConfigError(
                f"{field} {column!r} is not a column of {name}; its columns are: {', '.join(column_names)}"
            )

    kept: list[SourceRow] = []
    seen = 0
    lengths: list[int] = []
    for index, values in rows:
        seen += 1
        for column, field in needed.items():
            if column not in values:
                raise ConfigError(f"{name}: row {index} has no {field} column {column!r}")
        if text_column is not None:
            length = len(as_text(values[text_column]).strip())
            lengths.append(length)
            if length == 0:
                continue
            if min_document_length is not None and length < min_document_length:
                continue
            if max_document_length is not None and length > max_document_length:
                continue
        document_id = as_text(values["id"]) if values.get("id") is not None else str(index)
        kept.append(SourceRow(document_id, index, dict(values)))
        if sample_count is not None and len(kept) >= sample_count:
            break
    if seen == 0:
        raise ConfigError(f"{name} is empty (0 rows): give a source with at least one row")
    if not kept:
        bounds = f"at least {min_document_length or 1}"
        if max_document_length is not None:
            bounds += f" and at most {max_document_length}"
        raise ConfigError(
            f"no row of {name} is left after the length filters: {text_column} must have {bounds} characters, "
            f"and the {seen} rows have {min(lengths)} to {max(lengths)} characters; "
            "change min_document_length/max_document_length"
        )
    return kept


def load_config_rows(
    config: SourceFields,
    *,
    text_column: str | None = None,
    columns: Mapping[str, str] | None = None,
    min_document_length: int | None = None,
    max_document_length: int | None = None,
) -> list[SourceRow]:
    """`load_source_rows` for a config with `SourceFields`."""
    return load_source_rows(
        hf_dataset_name=config.hf_dataset_name,
        hf_dataset_subset=config.hf_dataset_subset,
        hf_dataset_split=config.hf_dataset_split,
        local_file_path=config.local_file_path,
        input_rows=config.input_rows,
        text_column=text_column,
        columns=columns,
        sample_count=config.sample_count,
        min_document_length=min_document_length,
        max_document_length=max_document_length,
    )


# -- readers: (name for errors, column names or None when there are no rows, iterator of (index, row)) -------

Rows = Iterator[tuple[int, dict[str, Any]]]


def _memory_rows(rows: Sequence[str | Mapping[str, Any]], text_column: str) -> tuple[str, list[str] | None, Rows]:
    if not rows:
        return "input_rows", None, iter(())
    first = rows[0]
    if isinstance(first, str):
        columns = [text_column]
    elif isinstance(first, Mapping):
        columns = list(first)
    else:
        raise ConfigError(f"input_rows[0] is a {type(first).__name__}; give strings or mappings of column values")

    def generate() -> Rows:
        for i, row in enumerate(rows):
            if isinstance(row, str) and isinstance(first, str):
                yield i, {text_column: row}
            elif isinstance(row, Mapping) and isinstance(first, Mapping):
                yield i, dict(row)
            else:
                raise ConfigError(
                    f"input_rows[{i}] is a {type(row).__name__} but input_rows[0] is a {type(first).__name__}; "
                    "give all strings or all mappings"
                )

    return "input_rows", columns, generate()


def _file_rows(path: Path, text_column: str) -> tuple[str, list[str] | None, Rows]:
    suffix = path.suffix.lower()
    if suffix not in FILE_TYPES:
        raise ConfigError(
            f"local_file_path {str(path)!r}: unsupported file type {suffix or '(none)'!r}; use {', '.join(FILE_TYPES)}"
        )
    if not path.is_file():
        raise ConfigError(f"local_file_path {str(path)!r}: file not found")
    try:
        if suffix == ".jsonl":
            return _jsonl_rows(path)
        if suffix == ".json":
            return _json_rows(path)
        if suffix == ".txt":
            return _txt_rows(path, text_column)
        if suffix == ".csv":
            return _csv_rows(path)
        return _parquet_rows(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc}") from None


def _jsonl_rows(path: Path) -> tuple[str, list[str] | None, Rows]:
    def parsed() -> Iterator[tuple[int, dict[str, Any]]]:
        index = 0
        with path.open(encoding="utf-8") as f:
            for line_number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}: line {line_number} is not valid JSON: {exc.msg}") from None
                if not isinstance(row, dict):
                    raise ConfigError(f"{path}: line {line_number} is not a JSON object")
                yield index, row
                index += 1

    rows = parsed()
    first = next(rows, None)
    if first is None:
        return str(path), None, iter(())
    return str(path), list(first[1]), _chain(first, rows)


def _json_rows(path: Path) -> tuple[str, list[str] | None, Rows]:
    """A JSON array of objects, or (as Datafast 0.0.36 read `.json` files) one object a line."""
    text = path.read_text(encoding="utf-8")
    if not text.lstrip().startswith("["):
        return _jsonl_rows(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: item {i} of the array is a {type(row).__name__}, not a JSON object")
    if not data:
        return str(path), None, iter(())
    return str(path), list(data[0]), enumerate(data)


def _txt_rows(path: Path, text_column: str) -> tuple[str, list[str] | None, Rows]:
    """One row a non-empty line (stripped), in the text column, as Datafast 0.0.36 read `.txt` files."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    rows = [{text_column: line} for line in lines if line]
    if not rows:
        return str(path), None, iter(())
    return str(path), [text_column], enumerate(rows)


def _csv_rows(path: Path) -> tuple[str, list[str] | None, Rows]:
    f = path.open(encoding="utf-8", newline="")
    reader = csv.DictReader(f)
    columns = reader.fieldnames

    def generate() -> Rows:
        with f:
            for i, row in enumerate(reader):
                yield i, {k: v for k, v in row.items() if k is not None}

    rows = generate()
    first = next(rows, None)
    if first is None or not columns:
        f.close()
        return str(path), None, iter(())
    return str(path), list(columns), _chain(first, rows)


def _parquet_rows(path: Path) -> tuple[str, list[str] | None, Rows]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("reading .parquet files needs pyarrow: pip install pyarrow") from None
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own error types for a damaged file
        raise ConfigError(f"{path}: not a readable Parquet file: {exc}") from None
    if parquet.metadata.num_rows == 0:
        return str(path), None, iter(())

    def generate() -> Rows:
        index = 0
        for batch in parquet.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield index, row
                index += 1

    return str(path), list(parquet.schema_arrow.names), generate()


def _hf_rows(name: str, subset: str | None, split: str, stream: bool) -> tuple[str, list[str] | None, Rows]:
    """A dataset folder written by `save_to_disk`, or a Hub dataset: downloaded and cached, or with `stream`
    (when only the first rows are needed) streamed, so a sample of a large dataset costs only its rows."""
    try:
        import datasets
    except ImportError:
        raise ConfigError("hf_dataset_name needs the datasets package: pip install datasets") from None
    label = f"Hugging Face dataset {name!r}"
    folder = Path(name)
    try:
        if folder.is_dir() and ((folder / "state.json").exists() or (folder / "dataset_dict.json").exists()):
            loaded = datasets.load_from_disk(str(folder))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise ConfigError(
                        f"{label} has no split {split!r}; its splits are: {', '.join(loaded)} (set hf_dataset_split)"
                    )
                loaded = loaded[split]
        else:
            loaded = datasets.load_dataset(name, subset, split=split, streaming=stream)
        if isinstance(loaded, datasets.IterableDataset):
            rows = _reading(label, enumerate(loaded))
            first = next(rows, None)
            if first is None:
                return label, None, iter(())
            return label, list(first[1]), _chain(first, rows)
    except ConfigError:
        raise
    except Exception as exc:  # datasets raises many error types (missing dataset, bad split, no network)
        raise ConfigError(f"cannot load {label}: {type(exc).__name__}: {exc}") from None
    if not isinstance(loaded, datasets.Dataset):
        raise ConfigError(f"{label} did not load as one table (got {type(loaded).__name__}); name a split")
    if loaded.num_rows == 0:
        return label, None, iter(())
    return label, list(loaded.column_names), enumerate(loaded)


def _reading(label: str, rows: Rows) -> Rows:
    """`rows`, with an error while streaming them (the network, a bad file) turned into a ConfigError."""
    try:
        yield from rows
    except Exception as exc:
        raise ConfigError(f"cannot read {label}: {type(exc).__name__}: {exc}") from None


def _chain(first: tuple[int, dict[str, Any]], rest: Rows) -> Rows:
    yield first
    yield from rest
