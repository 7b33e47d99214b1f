"""The run's main store and its shards' stores kept in step, so that a run can move between backends (and between
shard layouts) without paying twice.

Each shard commits its answers to its own store (`datafast.engine.shards`). After the shards, `absorb` copies their
rows into the main store (`x.datafast/store.sqlite`), which so holds every answer of the run, as a run on the local
backend made it: such a run resumes from it (it absorbs what shards left first, in case their run was stopped before
it could). Before the shards, `seed` gives each shard the rows of the main store that no shard holds as they are: the
answers of a local run, or of shards of another layout. Of two rows of one request the later one (`finished`) wins:
a row only ever grows from the one before it (tokens and cost add up), so the later one carries everything.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from datafast.engine.shards import shard_stores
from datafast.engine.store import RunStore, totals_of


@contextlib.contextmanager
def _open(path: Path) -> Iterator[sqlite3.Connection]:
    RunStore(path).close()  # made, with its tables (and columns added since) if new
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        yield db
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # in the database file itself, as the store does
    finally:
        db.close()


def _columns(db: sqlite3.Connection, schema: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA {schema}.table_info(items)")]


def _copy_newer(db: sqlite3.Connection, source: str, target: str, where: str = "true") -> int:
    """Copy rows of `source`.items into `target`.items where `target` has none for the key, or an older one."""
    columns = [c for c in _columns(db, source) if c in set(_columns(db, target))]
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "key")
    cursor = db.execute(
        f"INSERT INTO {target}.items ({names}) SELECT {names} FROM {source}.items WHERE {where}"
        f" ON CONFLICT (key) DO UPDATE SET {updates} WHERE excluded.finished > items.finished"
    )
    return cursor.rowcount


def absorb(main: Path, stores: list[Path] | None = None) -> None:
    """Copy the rows of the shards' stores (default: every shard store in the run folder) into the main store."""
    stores = shard_stores(main.parent) if stores is None else stores
    stores = [s for s in stores if s.exists()]
    if not stores:
        return
    with _open(main) as db:
        for store in stores:
            db.execute("ATTACH DATABASE ? AS shard", (str(store),))
            try:
                db.execute("BEGIN IMMEDIATE")
                _copy_newer(db, "shard", "main")
                db.execute("COMMIT")
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                db.execute("DETACH DATABASE shard")


def seed(main: Path, stores: list[Path], owner: Callable[[set[str]], dict[str, int]]) -> int:
    """Give the shards (`stores`, shard k's at index k) the rows of the main store that none of them holds as it
    is. `owner` maps the keys of those rows that are first requests of chains to their shard; the others (later
    steps of a chain, whose shard cannot be told from the key) go to every shard, where only the one whose chain
    reaches them reads them. Returns how many rows were handed over."""
    if not main.exists():
        return 0
    with _open(main) as db:
        db.execute("CREATE TEMP TABLE held (key TEXT PRIMARY KEY, finished REAL NOT NULL)")
        for store in (s for s in stores if s.exists()):
            db.execute("ATTACH DATABASE ? AS shard", (str(store),))
            try:
                db.execute(
                    "INSERT INTO temp.held (key, finished) SELECT key, finished FROM shard.items WHERE true"
                    " ON CONFLICT (key) DO UPDATE SET finished = MAX(finished, excluded.finished)"
                )
            finally:
                db.execute("DETACH DATABASE shard")
        db.execute(
            "CREATE TEMP TABLE loose AS SELECT items.key AS key FROM main.items LEFT JOIN temp.held"
            " ON held.key = items.key WHERE held.key IS NULL OR held.finished < items.finished"
        )
        keys = {row[0] for row in db.execute("SELECT key FROM temp.loose")}
        if not keys:
            return 0
        owners = owner(keys)
        db.execute("CREATE TEMP TABLE owned (key TEXT PRIMARY KEY, owner INTEGER NOT NULL)")
        db.executemany("INSERT INTO temp.owned VALUES (?, ?)", owners.items())
        for index, store in enumerate(stores):
            RunStore(store).close()
            db.execute("ATTACH DATABASE ? AS shard", (str(store),))
            try:
                db.execute("BEGIN IMMEDIATE")
                _copy_newer(
                    db,
                    "main",
                    "shard",
                    "key IN (SELECT key FROM temp.loose) AND"
                    f" COALESCE((SELECT owner FROM temp.owned WHERE owned.key = items.key), {index}) = {index}",
                )
                db.execute("COMMIT")
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                db.execute("DETACH DATABASE shard")
        return len(keys)


def whole_run_totals(main: Path) -> dict[str, Any]:
    """`RunStore.totals` over the main store and every shard store, each request counted once (its latest row),
    read without writing anything: for `datafast status` while, or after, shards ran."""
    uri = f"{main.resolve().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        columns = ", ".join(
            ["key", "status", "prompt_tokens", "completion_tokens", "cost_usd", "cached_tokens", "cache_write_tokens"]
        )
        db.execute(f"CREATE TEMP TABLE latest AS SELECT {columns}, finished FROM main.items")
        db.execute("CREATE UNIQUE INDEX temp.latest_key ON latest (key)")
        for store in shard_stores(main.parent):
            db.execute("ATTACH DATABASE ? AS shard", (f"{store.resolve().as_uri()}?mode=ro",))
            try:
                db.execute(
                    f"INSERT INTO temp.latest SELECT {columns}, finished FROM shard.items WHERE true"
                    " ON CONFLICT (key) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in columns.split(", ")[1:])
                    + ", finished = excluded.finished WHERE excluded.finished > latest.finished"
                )
            finally:
                db.execute("DETACH DATABASE shard")
        return totals_of(db, "temp.latest")
    finally:
        db.close()
