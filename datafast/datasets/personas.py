"""Reading the texts a `{personas: ...}` placeholder draws from: one column of a local file or of a Hugging Face
dataset. Read when a run or a plan draws its first persona, not when the config is built; kept for the rest of
the process (a file until it changes), so a rerun in the same process does not read it again."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datafast.errors import ConfigError
from datafast.schema.placeholders import PersonaDataset, PersonaFile, PersonaSource
from datafast.sources import as_text, load_source_rows

_loaded: dict[tuple[Any, ...], tuple[str, ...]] = {}
_lock = threading.Lock()


def load_personas(source: PersonaSource) -> tuple[str, ...]:
    """The non-empty texts of `source`'s column, in source order; a ConfigError naming the source when it
    cannot be read, lacks the column or holds no text."""
    key = _key(source)
    with _lock:
        if key not in _loaded:
            values = _read_file(source) if isinstance(source, PersonaFile) else _read_hf(source)
            texts = tuple(text for text in (as_text(v).strip() for v in values) if text)
            if not texts:
                raise ConfigError(
                    f"personas: {source.describe()} has no text in column {source.column!r}; give a source with "
                    "at least one persona"
                )
            _loaded[key] = texts
        return _loaded[key]


def _key(source: PersonaSource) -> tuple[Any, ...]:
    if isinstance(source, PersonaDataset):
        return ("hf", source.hf_dataset, source.config, source.split, source.column)
    path = Path(source.file)
    try:
        stat = path.stat()
    except OSError:
        raise ConfigError(
            f"personas: file {source.file!r} not found (a relative path is read from the working directory, "
            f"{Path.cwd()}); fix the path"
        ) from None
    return ("file", str(path.resolve()), stat.st_mtime_ns, stat.st_size, source.column)


def _read_file(source: PersonaFile) -> Iterable[Any]:
    path = Path(source.file)
    if path.suffix.lower() == ".parquet":
        return _read_parquet_column(source, path)
    if path.suffix.lower() == ".txt":  # one persona a line, whatever the column is called
        rows = load_source_rows(local_file_path=path, text_column=source.column)
    else:
        rows = load_source_rows(local_file_path=path, columns={source.column: "personas column"})
    return (row.values.get(source.column) for row in rows)


def _read_parquet_column(source: PersonaFile, path: Path) -> list[Any]:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        _check_column(source, names)
        return pq.read_table(path, columns=[source.column]).column(source.column).to_pylist()
    except ConfigError:
        raise
    except Exception as exc:  # pyarrow raises its own error types for a damaged file
        raise ConfigError(f"personas: {source.describe()} is not a readable Parquet file: {exc}") from None


def _read_hf(source: PersonaDataset) -> list[Any]:
    try:
        import datasets
    except ImportError:
        raise ConfigError("personas from hf_dataset need the datasets package: pip install datasets") from None
    try:
        loaded = datasets.load_dataset(source.hf_dataset, source.config, split=source.split)
    except Exception as exc:  # datasets raises many error types (no network, unknown dataset, config or split)
        raise ConfigError(
            f"personas: cannot load {source.describe()}: {type(exc).__name__}: {exc}. Check the name, config and "
            "split and that the Hub can be reached, or save the personas to a local file and use file:"
        ) from None
    if not isinstance(loaded, datasets.Dataset):
        raise ConfigError(f"personas: {source.describe()} did not load as one table; name its split")
    _check_column(source, loaded.column_names)
    return list(loaded.select_columns([source.column])[source.column])


def _check_column(source: PersonaSource, columns: list[str]) -> None:
    if source.column not in columns:
        raise ConfigError(
            f"personas: column {source.column!r} is not in {source.describe()}; its columns are: "
            f"{', '.join(columns)} (set column)"
        )
