"""The run store: one SQLite database (WAL) per run folder, holding every work item's outcome.

A response is committed here before the engine counts it, so a crash never loses a paid answer, and a
rerun reads finished items back instead of asking again. The JSONL output can always be rebuilt from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datafast.errors import ConfigError, DatafastError, OutputWriteError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    step TEXT NOT NULL,
    provider TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    attempts INTEGER NOT NULL,
    error_kind TEXT,
    last_error TEXT,
    request TEXT NOT NULL,
    response TEXT,
    finish_reason TEXT,
    repaired INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL,
    started REAL,
    finished REAL NOT NULL,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning TEXT
);
CREATE INDEX IF NOT EXISTS items_status ON items (status);
"""

# Columns added after the first release: a store an earlier version made gets them when it is opened.
_ADDED_COLUMNS = {
    "cached_tokens": "INTEGER NOT NULL DEFAULT 0",
    "cache_write_tokens": "INTEGER NOT NULL DEFAULT 0",
    "reasoning": "TEXT",
}


@dataclass
class StoredItem:
    """A finished item as stored: its last answer's text (None for a failure) and reasoning trace (None
    without one), and its accounting, where tokens and cost sum every answer paid for it (one rejected and
    asked again included)."""

    key: str
    step: str
    provider: str
    status: str
    attempts: int
    request: str
    response: str | None
    error_kind: str | None
    last_error: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning: str | None = None


@dataclass
class _Write:
    """One queued statement and the future that says it is committed."""

    sql: str
    params: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


# An item's cost after one more answer: unknown only while every answer's cost is unknown.
_ADD_COSTS = (
    "CASE WHEN items.cost_usd IS NULL THEN excluded.cost_usd"
    " WHEN excluded.cost_usd IS NULL THEN items.cost_usd ELSE items.cost_usd + excluded.cost_usd END"
)

_ADD_CACHE_TOKENS = (
    " cached_tokens = items.cached_tokens + excluded.cached_tokens,"
    " cache_write_tokens = items.cache_write_tokens + excluded.cache_write_tokens"
)

_ITEM_COLUMNS = (
    "key, step, provider, status, attempts, request, response, error_kind, last_error, finish_reason, prompt_tokens,"
    " completion_tokens, cost_usd, cached_tokens, cache_write_tokens, reasoning"
)


class RunStore:
    """SQLite store of a run's work items. Reads and metadata happen on the caller's thread; answers and
    failures are written by one writer thread that commits whatever has queued up in one transaction
    (group commit), and `save_done`/`save_failed` return only once their row is committed. So the event
    loop never waits on the disk, and an answer is still durable before it is counted."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect()
            self._db.executescript(_SCHEMA)
            self._add_columns()
            self._db.execute("SELECT COUNT(*) FROM items").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from None
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    def _add_columns(self) -> None:
        present = {row[1] for row in self._db.execute("PRAGMA table_info(items)")}
        for name, kind in _ADDED_COLUMNS.items():
            if name not in present:
                try:
                    self._db.execute(f"ALTER TABLE items ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):  # another process added it just now
                        raise

    def _unusable(self, exc: sqlite3.Error) -> DatafastError:
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):  # "database or disk is full"
            return OutputWriteError.about(self.path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        if isinstance(exc, sqlite3.OperationalError) and "I/O" in str(exc):
            return OutputWriteError.about(self.path, OSError(str(exc)))
        return ConfigError(
            f"the run store {self.path} cannot be read ({exc}). Move its folder {self.path.parent} away and "
            "run again: the output's records are kept and its requests not asked again where datafast can "
            "tell them from the records; or start over with --overwrite"
        )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, not only a killed process; an answer cost money.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=2000")
        return db

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="datafast-store", daemon=True)
            self._writer.start()
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.put(_Write(sql, params, loop, done))
        await done

    def _write_loop(self) -> None:
        db = self._connect()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                while True:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._queue.put(None)  # finish this batch, then stop
                        break
                    batch.append(more)
                error: BaseException | None = None
                try:
                    db.execute("BEGIN IMMEDIATE")
                    for write in batch:
                        db.execute(write.sql, write.params)
                    db.execute("COMMIT")
                    # Committed means in the database file itself, not only in its write-ahead log (which a
                    # user may delete after a crash, taking answers with it).
                    # FULL waits (up to the busy timeout) for a reader's snapshot to end rather than stop there.
                    db.execute("PRAGMA wal_checkpoint(FULL)")
                except sqlite3.Error as exc:
                    error = self._unusable(exc)
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                for write in batch:
                    write.loop.call_soon_threadsafe(_settle, write.done, error)
        finally:
            db.close()

    # -- run metadata -----------------------------------------------------------------------------------

    def get_meta(self, name: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, name: str, value: Any) -> None:
        with self._clear_errors():
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, json.dumps(value, sort_keys=True)),
            )

    @contextlib.contextmanager
    def _clear_errors(self) -> Iterator[None]:
        """A write on the caller's thread that fails (a full disk) raises datafast's one-line error."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None

    # -- items ------------------------------------------------------------------------------------------

    async def save_done(
        self,
        key: str,
        *,
        step: str,
        provider: str,
        attempts: int,
        request: str,
        response: str,
        finish_reason: str | None,
        repaired: bool,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float | None,
        started: float | None,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning: str | None = None,
    ) -> None:
        # The answer replaces an earlier one of the same item (rejected, or failed in an earlier run), but
        # tokens and cost add up: every answer was paid for. Within a run `attempts` already counts them all.
        await self._write(
            "INSERT INTO items (key, step, provider, status, attempts, error_kind, last_error, request,"
            " response, finish_reason, repaired, prompt_tokens, completion_tokens, cost_usd, started, finished,"
            " cached_tokens, cache_write_tokens, reasoning)"
            " VALUES (?, ?, ?, 'done', ?, NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET step = excluded.step, provider = excluded.provider, status = 'done',"
            " attempts = CASE WHEN items.status = 'done' THEN excluded.attempts"
            " ELSE items.attempts + excluded.attempts END,"
            " error_kind = NULL, last_error = NULL, request = excluded.request, response = excluded.response,"
            " finish_reason = excluded.finish_reason, repaired = excluded.repaired, reasoning = excluded.reasoning,"
            " prompt_tokens = items.prompt_tokens + excluded.prompt_tokens,"
            " completion_tokens = items.completion_tokens + excluded.completion_tokens,"
            f" cost_usd = {_ADD_COSTS},{_ADD_CACHE_TOKENS},"
            " started = COALESCE(items.started, excluded.started), finished = excluded.finished",
            (
                key,
                step,
                provider,
                attempts,
                request,
                response,
                finish_reason,
                int(repaired),
                prompt_tokens,
                completion_tokens,
                cost_usd,
                started,
                time.time(),
                cached_tokens,
                cache_write_tokens,
                reasoning,
            ),
        )

    async def save_failed(
        self,
        key: str,
        *,
        step: str,
        provider: str,
        attempts: int,
        request: str,
        error_kind: str,
        error: str,
        started: float | None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = None,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> None:
        # A stored answer that failed later (the dataset type rejected it) becomes a failure; its text is kept.
        # Answers paid for but unusable (invalid ones) add their tokens and cost.
        await self._write(
            "INSERT INTO items (key, step, provider, status, attempts, request, error_kind, last_error, started,"
            " finished, prompt_tokens, completion_tokens, cost_usd, cached_tokens, cache_write_tokens)"
            " VALUES (?, ?, ?, 'failed', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET status = 'failed', attempts = items.attempts + excluded.attempts,"
            " error_kind = excluded.error_kind, last_error = excluded.last_error, finished = excluded.finished,"
            " prompt_tokens = items.prompt_tokens + excluded.prompt_tokens,"
            " completion_tokens = items.completion_tokens + excluded.completion_tokens,"
            f" cost_usd = {_ADD_COSTS},{_ADD_CACHE_TOKENS}",
            (
                key,
                step,
                provider,
                attempts,
                request,
                error_kind,
                error,
                started,
                time.time(),
                prompt_tokens,
                completion_tokens,
                cost_usd,
                cached_tokens,
                cache_write_tokens,
            ),
        )

    def adopt(self, keys: dict[str, tuple[str, str]]) -> None:
        """Mark items done whose records the output already holds, though their answers are not stored (a
        run store deleted, or an output copied without its folder): key → (step, provider). A rerun does
        not ask for them again; there is no answer to replay, so the records in the output are all there is.
        """
        now = time.time()
        with self._clear_errors(), self._db:  # one transaction
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO items (key, step, provider, status, attempts, request, finished)"
                " VALUES (?, ?, ?, 'done', 0, '', ?) ON CONFLICT (key) DO NOTHING",
                [(key, step, provider, now) for key, (step, provider) in keys.items()],
            )

    def done_keys(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT key FROM items WHERE status = 'done'")}

    def get(self, key: str) -> StoredItem | None:
        row = self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE key = ?", (key,)).fetchone()
        return StoredItem(*row) if row else None

    def totals(self) -> dict[str, Any]:
        """Counts, tokens and cost over the whole run, across every session that worked on it."""
        return totals_of(self._db, "items")


def totals_of(db: sqlite3.Connection, table: str) -> dict[str, Any]:
    """Counts, tokens and cost summed over a table of items (the store's, or a merged view of several)."""
    row = db.execute(
        "SELECT SUM(status = 'done'), SUM(status = 'failed'), COALESCE(SUM(prompt_tokens), 0),"
        " COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_usd), 0), COALESCE(SUM(cached_tokens), 0),"
        f" COALESCE(SUM(cache_write_tokens), 0) FROM {table}"
    ).fetchone()
    return {
        "done": row[0] or 0,
        "failed": row[1] or 0,
        "prompt_tokens": row[2],
        "completion_tokens": row[3],
        "cached_tokens": row[5],
        "cache_write_tokens": row[6],
        "cost_usd": row[4],
    }
