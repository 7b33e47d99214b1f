"""Exports of a dataset's records: Parquet, CSV and a Hugging Face `datasets.Dataset`.

Records may be any mix of record dicts and Pydantic rows. Columns are the union of the records' fields in
first-seen order. In Parquet and `datasets`, nested fields (placeholders, chat messages) keep their native
Arrow types; free-form `metadata` and a field whose values Arrow cannot type consistently (an always-empty
dict, mixed types) are stored as JSON strings instead. In CSV every nested field is a JSON string. Files are written
atomically: a temporary file renamed over the target when complete."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from datafast._files import write_atomically
from datafast.errors import ConfigError

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

Record = Mapping[str, Any] | BaseModel
# Free-form by design: a struct over the union of its keys would invent nulls, so it stays JSON text.
JSON_COLUMNS = frozenset({"metadata"})


def as_dicts(records: Iterable[Record]) -> list[dict[str, Any]]:
    """The records as plain JSON-ready dicts."""
    return [r.model_dump(mode="json") if isinstance(r, BaseModel) else dict(r) for r in records]


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


def _has_empty_struct(data_type: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(data_type):
        return data_type.num_fields == 0 or any(_has_empty_struct(f.type) for f in data_type)
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return _has_empty_struct(data_type.value_type)
    return False


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def records_table(records: Iterable[Record]) -> pa.Table:
    """The records as an Arrow table: native types where Arrow infers one, JSON strings otherwise."""
    import pyarrow as pa

    rows = as_dicts(records)
    arrays: dict[str, pa.Array] = {}
    for column in _columns(rows):
        values = [row.get(column) for row in rows]
        try:
            array = pa.array(values)
            if column in JSON_COLUMNS or _has_empty_struct(array.type):
                raise pa.ArrowInvalid("no fields")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = pa.array([_json_or_none(v) for v in values], type=pa.string())
        arrays[column] = array
    return pa.table(arrays) if arrays else pa.table({})


def to_parquet(records: Iterable[Record], path: str | Path) -> Path:
    """Write the records to a Parquet file at `path` (atomically) and return the path."""
    import pyarrow.parquet as pq

    table = records_table(records)
    return write_atomically(path, lambda tmp: pq.write_table(table, tmp))


def csv_text(records: Iterable[Record]) -> str:
    """The records as CSV text with a header row; nested fields as JSON strings, missing fields empty."""
    rows = as_dicts(records)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _json_or_none(v) if isinstance(v, dict | list) else v for k, v in row.items()})
    return buffer.getvalue()


def to_csv(records: Iterable[Record], path: str | Path) -> Path:
    """Write the records to a CSV file at `path` (atomically, UTF-8) and return the path."""
    text = csv_text(records)
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def to_hf_dataset(records: Iterable[Record], *, class_names: Sequence[str] | None = None) -> datasets.Dataset:
    """The records as a `datasets.Dataset` with an explicit `Features` schema. With `class_names`, the
    `label` column is a `ClassLabel` over those names (in that order); a label outside them is an error."""
    import datasets
    import pyarrow as pa

    table = records_table(records)
    features = datasets.Features.from_arrow_schema(table.schema)
    if class_names is not None:
        names = list(class_names)
        if "label" not in table.column_names:
            raise ConfigError("class names were given but the records have no 'label' column")
        index = {name: i for i, name in enumerate(names)}
        labels = table.column("label").to_pylist()
        unknown = sorted({str(label) for label in labels if label not in index})
        if unknown:
            raise ConfigError(f"label {unknown[0]!r} is not one of the classes: {', '.join(names)}")
        position = table.column_names.index("label")
        table = table.set_column(position, "label", pa.array([index[label] for label in labels], type=pa.int64()))
        features["label"] = datasets.ClassLabel(names=names)
    return datasets.Dataset(table.cast(features.arrow_schema), info=datasets.DatasetInfo(features=features))
