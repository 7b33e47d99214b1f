"""The run store's record of provider batches: every batch a run sent (its provider id, the work keys it
holds, its state) and, once it has ended, every answer or failure it brought, kept before any is used.

So a run killed at any point and started again never sends a batch twice: a batch being sent is written
first (`sending`) and looked up at the provider on restart (`BatchAPI.find`); one sent is polled again; the
answers of one that ended are read back from here. Only requests a batch reports failed or expired go out
again, in a new batch.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from datafast.engine.store import RunStore
from datafast.errors import ConfigError, DatafastError, OutputWriteError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    api TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    remote_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('sending', 'running', 'collected', 'lost')),
    provider_status TEXT,
    requests INTEGER NOT NULL,
    keys TEXT NOT NULL,
    sent REAL NOT NULL,
    ended REAL,
    counts TEXT
);
CREATE TABLE IF NOT EXISTS batch_results (
    batch_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    body BLOB,
    error_kind TEXT,
    error TEXT,
    PRIMARY KEY (batch_id, key)
);
"""

# A batch's life: written as `sending` before it is sent; `running` once the provider took it (its id is
# known); `collected` once it ended and its results are stored here; `lost` if the provider never took it.
OPEN = ("sending", "running")


@dataclass
class BatchRow:
    """One batch as recorded: `keys` are the work keys it holds (each request's `custom_id`)."""

    id: int
    provider: str
    api: str
    endpoint: str
    remote_id: str | None
    status: str
    provider_status: str | None
    requests: int
    keys: list[str]
    sent: float
    ended: float | None
    counts: str | None


@dataclass
class StoredResult:
    """One request's outcome in a collected batch: the answer's body, or the failure's kind and message."""

    batch_id: int
    body: bytes | None
    error_kind: str | None
    error: str | None


class BatchBook:
    """Batches of one run store (its own connection to the same SQLite file). Batches are few, so writes
    are made on the caller's thread, each durable (in the database file itself) when the call returns."""

    def __init__(self, store: RunStore) -> None:
        self.path = Path(store.path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None
        self._tag = store.get_meta("batch_tag")
        if self._tag is None:
            self._tag = uuid.uuid4().hex[:12]
            store.set_meta("batch_tag", self._tag)

    @classmethod
    def of(cls, store: RunStore, *, create: bool) -> BatchBook | None:
        """The store's batch record; None for a store that never had batches (unless `create`), so that
        the stores of online runs stay as they were."""
        if create or store.get_meta("batch_tag") is not None:
            return cls(store)
        return None

    def close(self) -> None:
        self._db.close()

    def _unusable(self, exc: sqlite3.Error) -> DatafastError:
        if "full" in str(exc):
            return OutputWriteError.about(self.path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        if "I/O" in str(exc):
            return OutputWriteError.about(self.path, OSError(str(exc)))
        return ConfigError(f"the run store {self.path} cannot be read ({exc}); move its folder away and run again")

    def _commit(self, statements: list[tuple[str, tuple[object, ...]]]) -> int | None:
        """Run the statements in one transaction, durable when this returns; the last one's row id."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            cursor = None
            for sql, params in statements:
                cursor = self._db.execute(sql, params)
            self._db.execute("COMMIT")
            self._db.execute("PRAGMA wal_checkpoint(FULL)")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise self._unusable(exc) from None
        return cursor.lastrowid if cursor is not None else None

    def tag(self, batch_id: int) -> str:
        """The tag a batch is sent with (unique to this run store and batch)."""
        return f"datafast-{self._tag}-{batch_id}"

    # -- writes ----------------------------------------------------------------------------------------

    def sending(self, provider: str, api: str, endpoint: str, keys: list[str]) -> BatchRow:
        """Record a batch about to be sent."""
        now = time.time()
        row_id = self._commit(
            [
                (
                    "INSERT INTO batches (provider, api, endpoint, status, requests, keys, sent)"
                    " VALUES (?, ?, ?, 'sending', ?, ?, ?)",
                    (provider, api, endpoint, len(keys), json.dumps(keys), now),
                )
            ]
        )
        assert row_id is not None
        return BatchRow(row_id, provider, api, endpoint, None, "sending", None, len(keys), keys, now, None, None)

    def sent(self, batch_id: int, remote_id: str, provider_status: str) -> None:
        """The provider took the batch: its id."""
        self._commit(
            [
                (
                    "UPDATE batches SET status = 'running', remote_id = ?, provider_status = ? WHERE id = ?",
                    (remote_id, provider_status, batch_id),
                )
            ]
        )

    def lost(self, batch_id: int) -> None:
        """The provider never took it (it refused it, or the request never reached it)."""
        self._commit([("UPDATE batches SET status = 'lost', ended = ? WHERE id = ?", (time.time(), batch_id))])

    def polled(self, batch_id: int, provider_status: str, counts: str) -> None:
        self._commit(
            [("UPDATE batches SET provider_status = ?, counts = ? WHERE id = ?", (provider_status, counts, batch_id))]
        )

    def collected(
        self, batch_id: int, provider_status: str, results: dict[str, tuple[bytes | None, str | None, str | None]]
    ) -> None:
        """The batch ended: every request's outcome (key → body, error kind, error), in one transaction."""
        statements: list[tuple[str, tuple[object, ...]]] = [
            (
                "INSERT OR REPLACE INTO batch_results (batch_id, key, body, error_kind, error) VALUES (?, ?, ?, ?, ?)",
                (batch_id, key, body, kind, error),
            )
            for key, (body, kind, error) in results.items()
        ]
        statements.append(
            (
                "UPDATE batches SET status = 'collected', provider_status = ?, ended = ? WHERE id = ?",
                (provider_status, time.time(), batch_id),
            )
        )
        self._commit(statements)

    # -- reads -----------------------------------------------------------------------------------------

    def all(self) -> list[BatchRow]:
        """Every batch of the run, oldest first."""
        rows = self._db.execute(
            "SELECT id, provider, api, endpoint, remote_id, status, provider_status, requests, keys, sent, ended,"
            " counts FROM batches ORDER BY id"
        ).fetchall()
        return [
            BatchRow(
                row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], json.loads(row[8]), row[9], row[10],
                row[11],
            )
            for row in rows
        ]

    def result(self, batch_id: int, key: str) -> StoredResult | None:
        row = self._db.execute(
            "SELECT batch_id, body, error_kind, error FROM batch_results WHERE batch_id = ? AND key = ?",
            (batch_id, key),
        ).fetchone()
        return StoredResult(*row) if row else None
