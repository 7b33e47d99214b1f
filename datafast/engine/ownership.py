"""Whose output file is this? Checked before a run sends anything: the output file must be one this run may
write (a regular file, in a folder that can be written), and the records it holds must be this run's:
written by it with this config (the run store says so), or, its run folder gone, records of this config's
requests (adopted: not asked again), or a Datafast 0.0.36 output of this config (adopted as it is). Anything
else is refused with what to do; datafast never modifies a file it did not write."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from datafast.engine.folder import clear_folder
from datafast.engine.source import Ask, ChainSource
from datafast.engine.store import RunStore
from datafast.engine.work import WorkItem
from datafast.errors import ConfigError
from datafast.outputs import JsonlFile
from datafast.schema.data_rows import is_v0036_line

log = logging.getLogger("datafast")

# The store's note of how many Datafast 0.0.36 records the output began with when it was adopted.
V0036_RECORDS = "v0036_records"

# The first work item of every chain of a run, with the ask it came from.
FirstItems = Callable[[], Iterable[tuple[WorkItem, Ask]]]


def check_output_path(path: Path) -> None:
    """A clear error, before anything is sent, when the output file cannot be written where it is named."""
    if path.is_dir():
        raise ConfigError(f"output_file {path} is a folder; name a file in it, e.g. {path / 'data.jsonl'}")
    if path.exists() and not path.is_file():
        raise ConfigError(f"output_file {path} is not a regular file (a device, a pipe, ...); name a .jsonl file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"output_file {path}: its folder cannot be made ({exc.strerror})") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"output_file {path}: no permission to write there")


def config_fingerprint(dataset: ChainSource) -> str:
    # Cleaning settings, validators and the judge's threshold change what is kept, not what is asked: a rerun
    # with other ones resumes.
    config = dataset.config.model_dump(mode="json", exclude={"output_file", "cleaning", "validators"})
    if config.get("judge"):
        config["judge"] = {k: v for k, v in config["judge"].items() if k != "threshold"}
    blob = json.dumps({"type": type(dataset).__name__, "config": config}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def open_run_store(dataset: ChainSource, output: Path, folder: Path, first_items: FirstItems) -> RunStore:
    """The run store, after checking that the output belongs to this run: written by it with this
    config, or (its run folder gone) holding records of this config's requests, which are adopted.
    Anything else is refused before any request: a file we did not write is never modified.
    `first_items` gives the first work item of every chain of the run, with its ask."""
    fingerprint = config_fingerprint(dataset)
    has_records = output.exists() and output.stat().st_size > 0
    store = RunStore(folder / "store.sqlite")
    try:
        previous = store.get_meta("config_fingerprint")
        if previous is not None and previous != fingerprint:
            if has_records:
                raise ConfigError(
                    f"{output} holds records of a different config (run folder {folder}). Use another "
                    "output_file, or delete it and start again: generate(..., overwrite=True), or "
                    "--overwrite on the command line."
                )
            store.close()
            clear_folder(folder)
            store = RunStore(folder / "store.sqlite")
        elif previous is None and has_records:
            _adopt_output(dataset, output, folder, first_items, store)
        store.set_meta("config_fingerprint", fingerprint)
        store.set_meta("config", dataset.config.model_dump(mode="json"))
    except BaseException:
        store.close()
        raise
    return store


def _adopt_output(
    dataset: ChainSource, output: Path, folder: Path, first_items: FirstItems, store: RunStore
) -> None:
    """An output without its run store (a deleted run folder, a copied output, a Datafast 0.0.36 output)
    is adopted when every line is a record of this config; otherwise it is refused, untouched.

    A datafast record must come from one of this config's first requests: that request is marked done
    and not asked again. A Datafast 0.0.36 record (`is_v0036_line`) must validate as this dataset's
    record and carry values this config asks for (its label, document type, topic, language, ...): it
    stays as it is, counts as a record (`data_rows` returns it) and, as 0.0.36 did not record which
    prompt made it, every request of the run is still asked (0.0.36 appended a new run's records too)."""
    first: dict[str, tuple[str, str]] = {}
    asked: dict[str, set[str]] = {"language": set()}  # record field -> the values this config asks for
    for item, ask in first_items():
        first[item.key] = (item.step, item.provider.name)
        asked["language"].add(ask.origin.language)
        for name, value in ask.origin.fields.items():
            asked.setdefault(name, set()).add(value)
    requests: set[str] = set()
    others = legacy = 0
    for number, line in enumerate(JsonlFile(output).read(), start=1):
        request = line.get("request_id")
        if isinstance(request, str) and "uuid" in line and "dataset_type" in line:
            if request in first:
                requests.add(request)
            else:
                others += 1
            continue
        problem = _v0036_problem(dataset, line, asked)
        if problem is not None:
            raise ConfigError(
                f"{output} was not written by datafast (line {number} {problem}). datafast never modifies a "
                "file it did not write, and adopts a Datafast 0.0.36 output only when every line is a "
                "record of this config: name another output_file, or move this file away"
            )
        legacy += 1
    if others:
        raise ConfigError(
            f"{output} has no run folder ({folder}) and {others} of its records were not made by this "
            "config's requests: it holds another config's records, or its run folder was deleted. Restore "
            "the run folder, use another output_file, or start over with --overwrite"
        )
    if legacy and not _ends_with_newline(output):
        raise ConfigError(
            f"{output} ends with an incomplete line (no line end) after {legacy} Datafast 0.0.36 records; "
            "resuming would cut it off, and datafast never modifies a line it did not write: complete or "
            "delete that last line, then run again"
        )
    store.adopt({key: first[key] for key in requests})
    if requests:
        log.warning(
            "%s had no run folder: %d requests whose records it holds are taken as done and not asked again",
            output,
            len(requests),
        )
    if legacy:
        store.set_meta(V0036_RECORDS, legacy)
        log.warning(
            "%s is a Datafast 0.0.36 output: its %d records stay as they are and count as records of this "
            "dataset; 0.0.36 did not record which prompt made them, so the run still asks its %d first requests and "
            "adds their records after them",
            output,
            legacy,
            len(first) - len(requests),
        )


def _v0036_problem(dataset: ChainSource, line: dict[str, Any], asked: dict[str, set[str]]) -> str | None:
    """Why `line` is not a Datafast 0.0.36 record of this config (None: it is one)."""
    if not is_v0036_line(line):
        return "is not a datafast record, nor one Datafast 0.0.36 wrote"
    name = type(dataset).__name__
    try:
        row = dataset.record_class.model_validate({**line, "dataset_type": dataset.config.dataset_type})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        return f"is a Datafast 0.0.36 record but not a {name} record: {where + ': ' if where else ''}{error['msg']}"
    for field, values in asked.items():
        # 0.0.36 numbered input rows by position only: a document_id from it may differ from ours.
        if field == "document_id" or field not in type(row).model_fields:
            continue
        value = getattr(row, field)
        if isinstance(value, str) and value and value not in values:
            allowed = ", ".join(sorted(values)[:10])
            return (
                f"is a Datafast 0.0.36 record of another config: its {field} {value!r} is not one this "
                f"config asks for ({allowed})"
            )
    return None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return True
        handle.seek(size - 1)
        return handle.read(1) == b"\n"
