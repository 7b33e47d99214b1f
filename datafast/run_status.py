"""`datafast status RUN`: where a run stands (its records, what its store holds, whether a process is
writing it) and its provider batches; `--cancel-batches` cancels the batches still running."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from datafast.engine.batch_book import BatchBook, BatchRow
from datafast.engine.folder import run_folder
from datafast.engine.shard_stores import whole_run_totals
from datafast.engine.shards import shard_stores
from datafast.engine.store import RunStore
from datafast.errors import ConfigError
from datafast.llms.base import LLMProvider

_CONFIG_SUFFIXES = (".yaml", ".yml", ".toml")


def status_command(run: str, cancel_batches: bool) -> int:
    """Print the run's state; with `cancel_batches`, cancel its open batches first."""
    output, providers = _locate(run)
    folder = run_folder(output)
    store_path = folder / "store.sqlite"
    if not store_path.exists():
        raise ConfigError(f"{output} has no run store ({store_path}): it was never run, or not by datafast")
    out = Console(highlight=False, soft_wrap=True)
    with RunStore(store_path) as store:
        book = BatchBook.of(store, create=False)
        if book is None:
            if cancel_batches:
                out.print("this run never sent a batch: nothing to cancel")
            _show(output, folder, store, [], out)
            return 0
        try:
            if cancel_batches:
                _cancel(book, providers, out)
            _show(output, folder, store, book.all(), out)
        finally:
            book.close()
    return 0


def _locate(run: str) -> tuple[Path, list[LLMProvider]]:
    """The run's output file, and the providers its config names (none when given an output or folder)."""
    path = Path(run)
    if path.suffix in _CONFIG_SUFFIXES:
        from datafast.llms.registry import providers_from_specs
        from datafast.schema.loading import load_dataset_config

        config, specs = load_dataset_config(path)
        return Path(config.output_file), providers_from_specs(specs, str(path), require_keys=False)
    if path.name.endswith(".datafast") and path.is_dir():
        stem = path.name.removesuffix(".datafast")
        candidates = [p for p in path.parent.glob(stem + ".*") if p.is_file() and not p.name.endswith(".dropped.jsonl")]
        jsonl = path.with_name(stem + ".jsonl")
        return (jsonl if jsonl.exists() or not candidates else candidates[0]), []
    return path, []


def _show(output: Path, folder: Path, store: RunStore, batches: list[BatchRow], out: Console) -> None:
    lines = 0
    if output.exists():
        with output.open("rb") as f:
            lines = sum(1 for _ in f)
    shards = shard_stores(folder)
    # A Ray run's shards keep their answers in stores of their own until the run merges them.
    totals = whole_run_totals(store.path) if shards else store.totals()
    out.print(f"[bold]{output}[/bold]: {lines:,} records")
    holder = _lock_holder(folder)
    out.print(f"  {'being written by process ' + holder if holder else 'no datafast process is writing it'}")
    cost = f", ${totals['cost_usd']:.4f}" if totals["cost_usd"] else ""
    cached = f" ({totals.get('cached_tokens', 0):,} cached)" if totals.get("cached_tokens") else ""
    out.print(
        f"  store: {totals['done']:,} requests answered, {totals['failed']:,} failed; "
        f"{totals['prompt_tokens']:,} prompt tokens{cached} + {totals['completion_tokens']:,} output tokens{cost}"
    )
    if shards:
        out.print(f"  shards: {len(shards)} stores in {shards[0].parent.parent} (Ray backend)")
    summary = folder / "summary.json"
    if summary.exists():
        last = json.loads(summary.read_text())
        how = "was interrupted" if last.get("interrupted") else "ran to its end"
        out.print(f"  last run {how} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(summary.stat().st_mtime))})")
    if not batches:
        out.print("  no provider batches")
        return
    table = Table("batch", "provider", "provider's id", "state", "requests", "sent", "ended", box=None)
    for row in batches:
        state = row.status + (f" ({row.provider_status})" if row.provider_status else "")
        if row.counts and row.status == "running":
            state += f": {row.counts}"
        table.add_row(
            str(row.id),
            row.provider,
            row.remote_id or "-",
            state,
            f"{row.requests:,}",
            _when(row.sent),
            _when(row.ended) if row.ended else "-",
        )
    out.print(table)
    running = [row for row in batches if row.status in ("sending", "running")]
    if running:
        out.print(
            f"  {len(running)} still at the provider: `datafast generate` with the same config collects them "
            "(nothing is sent again); `datafast status ... --cancel-batches` cancels them"
        )


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _lock_holder(folder: Path) -> str | None:
    """The pid of the process holding the run's lock, if one does."""
    import fcntl

    lock = folder / "lock"
    if not lock.exists():
        return None
    fd = os.open(lock, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return lock.read_text().strip() or "?"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _cancel(book: BatchBook, providers: list[LLMProvider], out: Console) -> None:
    running = [row for row in book.all() if row.status == "running" and row.remote_id]
    if not running:
        out.print("no batch is running: nothing to cancel")
        return
    asyncio.run(_cancel_all(running, providers, out))


async def _cancel_all(rows: list[BatchRow], providers: list[LLMProvider], out: Console) -> None:
    from datafast.llms.batch_api import BATCH_APIS
    from datafast.llms.failures import CallFailure

    for row in rows:
        provider = _provider_for(row, providers)
        route = await provider.batch_route(None)
        api = BATCH_APIS[row.api](route, provider.http)
        assert row.remote_id is not None
        try:
            async with provider.http.held():
                state = await api.cancel(row.remote_id)
        except CallFailure as failure:
            out.print(f"batch {row.id} ({row.remote_id}): could not cancel it: {failure}")
            continue
        out.print(f"batch {row.id} ({row.remote_id}): cancel asked, the provider says {state.status}")


def _provider_for(row: BatchRow, providers: list[LLMProvider]) -> LLMProvider:
    """The config's provider that sent the batch, else one built from the stored endpoint, its key from the
    provider's environment variable."""
    for provider in providers:
        if provider.name == row.provider:
            return provider
    from datafast.llms.providers import PROVIDERS

    name, _, model = row.provider.partition("/")
    cls = PROVIDERS.get(name)
    if cls is None:
        raise ConfigError(f"batch {row.id} was sent by {row.provider}, which datafast does not know")
    base = row.endpoint.removesuffix("/chat/completions").removesuffix("/messages")
    if row.api == "anthropic":
        base = base.removesuffix("/v1")
    return cls(model, api_base=base)
