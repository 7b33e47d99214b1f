"""The `datafast inspect` and `datafast push` commands: a report of an output file, and publishing it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from datafast.errors import ConfigError


def add_commands(commands: Any) -> None:
    """Register `inspect` and `push` on the CLI's subparsers."""
    inspect = commands.add_parser("inspect", help="diversity and quality report of a JSONL output file")
    inspect.add_argument("file")
    inspect.add_argument("--out", help="folder for report.json and the PNG plots (default: the file's run folder)")
    inspect.add_argument(
        "--text-field", action="append", help="field holding the text (repeat for several; default: guessed)"
    )
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
    """Run `inspect` or `push`; None for another command."""
    if args.command == "inspect":
        return inspect_file(args.file, args.out, args.text_field)
    if args.command == "push":
        return push_file(args.file, args.repo, args.train_size, args.seed, args.public, args.config, args.token_env)
    return None


def inspect_file(path: str, out: str | None, text_fields: list[str] | None) -> int:
    from datafast.engine.run import run_folder
    from datafast.quality.report import build_report, print_report, read_records, save_report

    report = build_report(read_records(path), text_fields)
    if not report["total"]:
        raise ConfigError(f"{path} holds no records")
    print_report(report, Console(highlight=False))
    folder = Path(out) if out else run_folder(path)
    written = save_report(report, folder)
    print(f"saved {', '.join(str(p) for p in written)}")
    return 0


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
    summary_file = run_folder(path) / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else None
    classes = (config or {}).get("classes")
    class_names = [c["name"] for c in classes] if classes else None
    if class_names is None and records and records[0].get("dataset_type") == "text_classification":
        class_names = sorted({str(r["label"]) for r in records if "label" in r})
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
    )
    print(f"pushed {len(records)} records to {url}")
    return 0
