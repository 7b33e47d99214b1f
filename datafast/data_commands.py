"""The `datafast inspect`, `datafast view` and `datafast push` commands: a report of an output file, its viewer
page, and publishing it."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from datafast.errors import ConfigError


def add_commands(commands: Any) -> None:
    """Register `inspect`, `view` and `push` on the CLI's subparsers."""
    inspect = commands.add_parser("inspect", help="diversity and quality report of a JSONL output file")
    inspect.add_argument("file")
    inspect.add_argument("--out", help="folder for report.json and the PNG plots (default: the file's run folder)")
    inspect.add_argument(
        "--text-field",
        action="append",
        help="field holding the text (repeat for several; default: the fields the run measured)",
    )
    inspect.add_argument(
        "--config", help="the config file the file was generated from, for its text fields (default: the run's)"
    )
    view = commands.add_parser(
        "view", help="the dataset viewer: one HTML page of a JSONL output file (records, dropped, run, report)"
    )
    view.add_argument("file")
    view.add_argument("--serve", action="store_true", help="serve the page on 127.0.0.1 until Ctrl-C")
    view.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000; 0: any free port)")
    view.add_argument("--no-browser", action="store_true", help="do not open a browser; print where the page is")
    push = commands.add_parser("push", help="upload a JSONL output file to the Hugging Face Hub with a dataset card")
    push.add_argument("file")
    push.add_argument("--repo", required=True, help="dataset repo id, e.g. me/sentiment")
    push.add_argument("--train-size", type=float, help="fraction for train; the rest is the test split")
    push.add_argument("--seed", type=int, default=42, help="seed of the train/test draw")
    push.add_argument("--public", action="store_true", help="create the repo public (default: private)")
    push.add_argument("--config", help="the config file the dataset was generated from, shown in the card")
    push.add_argument(
        "--token-env", default="HF_TOKEN", help="environment variable holding the Hub token (default: HF_TOKEN)"
    )


def run_command(args: argparse.Namespace) -> int | None:
    """Run `inspect`, `view` or `push`; None for another command."""
    if args.command == "inspect":
        return inspect_file(args.file, args.out, args.text_field, args.config)
    if args.command == "view":
        return view_file(args.file, serve=args.serve, port=args.port, browser=not args.no_browser)
    if args.command == "push":
        return push_file(args.file, args.repo, args.train_size, args.seed, args.public, args.config, args.token_env)
    return None


def inspect_file(path: str, out: str | None, text_fields: list[str] | None, config_path: str | None = None) -> int:
    """Print the report of the JSONL file at `path` and save it. The text measured is what the run measured
    (see `text_fields_of`) unless `text_fields` says otherwise. Saved into `out`, else the run folder; a
    report over other fields than the run's goes to a folder of its own there, so that the run's stays."""
    from datafast.engine.run import run_folder
    from datafast.quality.report import build_report, print_report, read_records

    folder = run_folder(path)
    first, records = _peek(read_records(path))
    if first is None:
        raise ConfigError(f"{path} holds no records")
    run_fields = fields_of_run(folder)
    if text_fields:
        fields, guessed = tuple(text_fields), False
    else:
        fields, guessed = _text_fields(first, config_path, folder, run_fields)
    report = build_report(records, fields)
    print_report(report, Console(highlight=False))
    if guessed:
        print(f"text fields guessed from the records ({', '.join(fields)}): choose with --config or --text-field")
    if out:
        target = Path(out)
    elif (run_fields or _saved_fields(folder)) in (None, fields):
        target = folder
    else:
        target = folder / f"inspect-{'+'.join(fields)}"
    _save(report, target)
    return 0


def view_file(path: str, *, serve: bool = False, port: int = 8000, browser: bool = True) -> int:
    """Write the viewer page of the JSONL file at `path` to its run folder and open it (or say where it is);
    with `serve`, serve it on 127.0.0.1:`port` until Ctrl-C."""
    from datafast.outputs.viewer import open_in_browser, show_page, viewer_server, write_viewer

    page = write_viewer(path)
    if not serve:
        show_page(page, open_browser=browser, hint=", or serve it with --serve")
        return 0
    server = viewer_server(page.parent, port)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"viewer written: {page}\nserving it at {url} (Ctrl-C to stop)", flush=True)
    if browser:
        open_in_browser(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped serving", flush=True)
    finally:
        server.server_close()
    return 0


def _save(report: Mapping[str, Any], folder: Path) -> None:
    from datafast.quality.report import save_report

    written = save_report(report, folder)
    print(f"saved {', '.join(str(p) for p in written)}")


def _peek(records: Iterable[dict[str, Any]]) -> tuple[dict[str, Any] | None, Iterable[dict[str, Any]]]:
    iterator = iter(records)
    first = next(iterator, None)
    return first, itertools.chain([first] if first is not None else [], iterator)


# -- which text a file's report measures -----------------------------------------------------------------


def text_fields_of(
    first: Mapping[str, Any], config_path: str | None, folder: Path, run_fields: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    """The fields whose text the run that wrote a file measured (its type's `quality_fields`): from the
    config file when given, else from the run folder (the config in its store, else its report), else from
    the records' dataset type, else guessed from the first record, metadata such as `prompt_template` aside."""
    return _text_fields(first, config_path, folder, run_fields)[0]


def _text_fields(
    first: Mapping[str, Any], config_path: str | None, folder: Path, run_fields: tuple[str, ...] | None
) -> tuple[tuple[str, ...], bool]:
    """`text_fields_of`, and whether the fields are a guess."""
    if config_path:
        from datafast.schema.loading import load_dataset_config

        config = load_dataset_config(config_path)[0]
        fields = _type_fields(config.dataset_type, config)
        if fields is None:
            raise ConfigError(f"{config_path}: cannot tell its text fields; give them with --text-field")
        return fields, False
    kind = first.get("dataset_type")
    fields = run_fields or fields_of_run(folder) or _saved_fields(folder) or _type_fields(kind, None)
    if fields:
        return fields, False
    from datafast.quality.records import TEXT_FIELD_GUESSES, guess_text_fields
    from datafast.schema.data_rows import DatasetRow

    # A type whose text depends on its config (a generic pipeline's outputs): the string fields its records
    # do not declare, forwarded columns among them. An unknown record: its longest text, metadata aside.
    record_class = _record_class(kind) or DatasetRow
    undeclared = {k: v for k, v in first.items() if k not in record_class.model_fields}
    strings = tuple(k for k, v in undeclared.items() if isinstance(v, str))
    if record_class is not DatasetRow and strings:
        return strings, True
    guess = guess_text_fields(undeclared) or ("text",)
    return guess, guess not in TEXT_FIELD_GUESSES


def fields_of_run(folder: Path) -> tuple[str, ...] | None:
    """The text fields of the run whose folder is `folder`, from the config in its store; None without one."""
    store = folder / "store.sqlite"
    if not store.is_file():
        return None
    row = None
    # Read-write (never created: mode=rw) so that SQLite tidies its WAL files on closing; immutable where the
    # folder cannot be written. Only the meta table is read.
    for mode in ("mode=rw", "immutable=1"):
        try:
            db = sqlite3.connect(f"{store.absolute().as_uri()}?{mode}", uri=True)
            try:
                row = db.execute("SELECT value FROM meta WHERE name = 'config'").fetchone()
            finally:
                db.close()
            break
        except sqlite3.Error:
            continue
    if row is None:
        return None
    from pydantic import ValidationError

    from datafast.schema.config import CONFIG_TYPES

    try:
        config = json.loads(row[0])
        return _type_fields(config["dataset_type"], CONFIG_TYPES[config["dataset_type"]].model_validate(config))
    except (ValueError, KeyError, TypeError, ValidationError):  # a config of another version: not this way
        return None


def _saved_fields(folder: Path) -> tuple[str, ...] | None:
    try:
        fields = json.loads((folder / "report.json").read_text(encoding="utf-8"))["text_fields"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return tuple(fields) if isinstance(fields, list) and fields else None


def _type_fields(kind: Any, config: Any) -> tuple[str, ...] | None:
    """`quality_fields_of` the dataset type `kind` for `config` (None: without one); None for a type that
    is not known or whose fields need its config."""
    dataset_class = _dataset_class(kind)
    return (dataset_class.quality_fields_of(config) or None) if dataset_class is not None else None


def typed_record(records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The first record that names its dataset type (a file that began as a Datafast 0.0.36 output starts
    with lines that do not), else the first record; None for no records."""
    return next((r for r in records if r.get("dataset_type")), records[0] if records else None)


def _dataset_class(kind: Any) -> Any:
    """The dataset type named `kind` (a `dataset_type` read from a record or a config); None if unknown."""
    from datafast.datasets.registry import DATASET_TYPES

    return DATASET_TYPES.get(kind) if isinstance(kind, str) else None


def _record_class(kind: Any) -> Any:
    """The record model of the dataset type named `kind`; None for an unknown one."""
    dataset_class = _dataset_class(kind)
    return dataset_class.record_class if dataset_class is not None else None


# -- push ------------------------------------------------------------------------------------------------


def push_file(
    path: str, repo: str, train_size: float | None, seed: int, public: bool, config_path: str | None, token_env: str
) -> int:
    from datafast.engine.run import run_folder
    from datafast.outputs.hub import check_repo_id, push_to_hub
    from datafast.outputs.splits import check_train_size
    from datafast.quality.report import read_records

    check_repo_id(repo)
    check_train_size(train_size)
    token = os.environ.get(token_env)
    if not token:
        raise ConfigError(f"no Hugging Face token in ${token_env}: set it to a write token (or use --token-env VAR)")
    records = list(read_records(path))
    config: dict[str, Any] | None = None
    if config_path:
        from datafast.schema.loading import load_dataset_config

        config = load_dataset_config(config_path)[0].model_dump(mode="json")
    folder = run_folder(path)
    summary_file = folder / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else None
    classes = (config or {}).get("classes")
    class_names = [c["name"] for c in classes] if classes else None
    first = typed_record(records)
    dataset_class = _dataset_class(first.get("dataset_type")) if first is not None else None
    label_field = dataset_class.label_field if dataset_class is not None else None
    if class_names is None and label_field:
        class_names = sorted({str(r[label_field]) for r in records if label_field in r})
    url = push_to_hub(
        records,
        repo,
        config=config,
        train_size=train_size,
        seed=seed,
        private=not public,
        token=token,
        class_names=class_names,
        run_summary=summary,
        text_fields=text_fields_of(first, config_path, folder) if first is not None else None,
    )
    print(f"pushed {len(records)} records to {url}")
    return 0
