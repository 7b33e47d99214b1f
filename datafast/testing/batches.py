"""Batch jobs of the test server: OpenAI's ``/v1/batches`` (with its files) and Anthropic's message batches.

A batch is answered all at once, ``batch_delay_s`` after its submission, the first time it is looked at after
that (an OpenAI batch shows as ``validating`` until first polled): each request gets the body the online
endpoint would send (see ``ServerState.batch_answer``), unless it is drawn to fail (``batch_rate_failed``) or
expire (``batch_rate_expired``). Every upload, submission, poll, cancellation and results download is logged
as a :class:`BatchEvent`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from aiohttp import web

from datafast.testing.behavior import ServerBehavior
from datafast.testing.protocols import PROTOCOLS, Protocol

Provider = Literal["openai", "anthropic"]
Outcome = Literal["succeeded", "errored", "expired", "canceled"]
AnswerFn = Callable[[Protocol, dict[str, Any], int, str], dict[str, Any]]

EXPIRY_S = 24 * 3600


@dataclass(slots=True)
class BatchEvent:
    """One batch-related request: ``action`` is ``upload``, ``submit``, ``poll``, ``list``, ``cancel``,
    ``file`` or ``results``; ``requests`` the number of requests submitted (``submit`` only); ``status`` the
    batch's status as answered; ``prompts`` the prompt text of each request submitted (``submit`` only, when
    the server logs bodies)."""

    seq: int
    time: float
    provider: str
    action: str
    batch_id: str = ""
    requests: int = 0
    status: str = ""
    prompts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of all fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchEvent:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class StoredFile:
    """An uploaded input file, or an output or error file the server wrote."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def describe(self) -> dict[str, Any]:
        """OpenAI's file object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass(slots=True)
class BatchItem:
    """One request of a batch and, once the batch is done, what became of it."""

    custom_id: str
    body: dict[str, Any]
    outcome: Outcome | None = None
    response: dict[str, Any] | None = None


@dataclass(slots=True)
class Batch:
    """A submitted batch; times are ``time.time()`` values."""

    id: str
    provider: Provider
    items: list[BatchItem]
    created_at: float
    ready_at: float
    endpoint: str = "/v1/chat/completions"
    input_file_id: str = ""
    completion_window: str = "24h"
    metadata: dict[str, Any] | None = None
    polled: bool = False  # an OpenAI batch is "validating" until it is first looked at
    cancelled_at: float | None = None
    ended_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, outcome: Outcome) -> int:
        """Requests that ended with ``outcome``."""
        return sum(1 for item in self.items if item.outcome == outcome)


class BatchStore:
    """Files, batches and the batch event log of one server (loop-thread only)."""

    def __init__(self, behavior: Callable[[], ServerBehavior], answer: AnswerFn) -> None:
        self._behavior = behavior
        self._answer = answer
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, Batch] = {}
        self.events: list[BatchEvent] = []
        self._seq = 0
        self._ids = 0

    def log(
        self,
        provider: str,
        action: str,
        batch_id: str = "",
        requests: int = 0,
        status: str = "",
        prompts: list[str] | None = None,
    ) -> None:
        """Append one event."""
        self._seq += 1
        event = BatchEvent(self._seq, time.time(), provider, action, batch_id, requests, status, prompts or [])
        self.events.append(event)

    def new_id(self, prefix: str) -> str:
        """A fresh id such as ``batch_000000000003``."""
        self._ids += 1
        return f"{prefix}{self._ids:012x}"

    def add_file(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        """Store a file and return it."""
        stored = StoredFile(self.new_id("file-"), filename, purpose, content, int(time.time()))
        self.files[stored.id] = stored
        return stored

    def submit(self, provider: Provider, items: list[BatchItem], **details: Any) -> Batch:
        """Create a batch of ``items``, due ``batch_delay_s`` from now."""
        now = time.time()
        prefix = "batch_" if provider == "openai" else "msgbatch_"
        batch = Batch(self.new_id(prefix), provider, items, now, now + self._behavior().batch_delay_s, **details)
        self.batches[batch.id] = batch
        prompts = [self._prompt(provider, item.body) for item in items] if self._behavior().log_bodies else []
        self.log(provider, "submit", batch.id, len(items), self.status(batch), prompts)
        return batch

    @staticmethod
    def _prompt(provider: Provider, body: dict[str, Any]) -> str:
        try:
            return PROTOCOLS[provider].parse(body, None).prompt_text
        except (ValueError, AttributeError, TypeError):
            return ""

    def lose_answer(self, batch: Batch) -> bool:
        """Whether the answer to the creation of ``batch`` is to be lost (``batch_rate_lost_create``)."""
        behavior = self._behavior()
        return random.Random(f"{behavior.seed}:lost:{batch.id}").random() < behavior.batch_rate_lost_create

    def cancel(self, batch: Batch) -> None:
        """Cancel ``batch`` if it has not ended: its requests end as ``canceled``."""
        if batch.ended_at is None and self.settle(batch) is False:
            batch.cancelled_at = time.time()
            for item in batch.items:
                item.outcome = "canceled"
            batch.ended_at = batch.cancelled_at
            self._write_files(batch)

    def settle(self, batch: Batch) -> bool:
        """Answer ``batch`` if it is due and not answered yet; whether it has ended."""
        if batch.ended_at is not None:
            return True
        if time.time() < batch.ready_at:
            return False
        behavior = self._behavior()
        rng = random.Random(f"{behavior.seed}:batch:{batch.id}")
        protocol = PROTOCOLS[batch.provider]
        malformed_below = behavior.batch_rate_failed + behavior.batch_rate_expired + behavior.batch_rate_malformed
        for item in batch.items:
            roll = rng.random()
            if roll < behavior.batch_rate_failed:
                item.outcome = "errored"
            elif roll < behavior.batch_rate_failed + behavior.batch_rate_expired:
                item.outcome = "expired"
            else:
                self._ids += 1
                try:
                    fault = "malformed" if roll < malformed_below else "ok"
                    item.response = self._answer(protocol, item.body, self._ids, fault)
                    item.outcome = "succeeded"
                except (ValueError, AttributeError, TypeError):
                    item.outcome = "errored"
        batch.ended_at = time.time()
        self._write_files(batch)
        return True

    def status(self, batch: Batch) -> str:
        """OpenAI's status for an OpenAI batch, Anthropic's ``processing_status`` for an Anthropic one."""
        ended = self.settle(batch)
        if batch.provider == "anthropic":
            return "ended" if ended else "in_progress"
        if batch.cancelled_at is not None:
            return "cancelled"
        if not ended:
            return "in_progress" if batch.polled else "validating"
        return "expired" if batch.count("expired") else "completed"

    def _write_files(self, batch: Batch) -> None:
        if batch.provider != "openai":
            return
        lines = [(item, _openai_line(item, self.new_id("batch_req_"))) for item in batch.items]
        ok = [line for item, line in lines if item.outcome == "succeeded"]
        bad = [line for item, line in lines if item.outcome in ("errored", "expired")]
        if ok:
            batch.output_file_id = self.add_file(f"{batch.id}_output.jsonl", "batch_output", _jsonl(ok)).id
        if bad:
            batch.error_file_id = self.add_file(f"{batch.id}_error.jsonl", "batch_output", _jsonl(bad)).id

    # -- wire shapes ------------------------------------------------------------------------------------

    def openai_batch(self, batch: Batch) -> dict[str, Any]:
        """OpenAI's batch object."""
        status = self.status(batch)
        created, ended = int(batch.created_at), None if batch.ended_at is None else int(batch.ended_at)
        done = batch.count("succeeded")
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": None,
            "input_file_id": batch.input_file_id,
            "completion_window": batch.completion_window,
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": created,
            "in_progress_at": created if status != "validating" else None,
            "expires_at": created + EXPIRY_S,
            "finalizing_at": ended if status in ("completed", "expired") else None,
            "completed_at": ended if status == "completed" else None,
            "failed_at": None,
            "expired_at": ended if status == "expired" else None,
            "cancelling_at": None if batch.cancelled_at is None else int(batch.cancelled_at),
            "cancelled_at": None if batch.cancelled_at is None else int(batch.cancelled_at),
            "request_counts": {
                "total": len(batch.items),
                "completed": done,
                "failed": len(batch.items) - done if batch.ended_at is not None else 0,
            },
            "metadata": batch.metadata,
        }

    def anthropic_batch(self, batch: Batch, base_url: str) -> dict[str, Any]:
        """Anthropic's message batch object."""
        status = self.status(batch)
        ended = status == "ended"
        counts = {name: batch.count(name) for name in ("succeeded", "errored", "canceled", "expired")}
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": {"processing": 0 if ended else len(batch.items), **counts},
            "ended_at": _iso(batch.ended_at) if ended else None,
            "created_at": _iso(batch.created_at),
            "expires_at": _iso(batch.created_at + EXPIRY_S),
            "archived_at": None,
            "cancel_initiated_at": _iso(batch.cancelled_at) if batch.cancelled_at else None,
            "results_url": f"{base_url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    @staticmethod
    def anthropic_results(batch: Batch) -> bytes:
        """The results JSONL of an ended Anthropic batch, in submission order."""
        rows = []
        for item in batch.items:
            result: dict[str, Any] = {"type": item.outcome}
            if item.outcome == "succeeded":
                result["message"] = item.response
            elif item.outcome == "errored":
                error = {"type": "api_error", "message": "Internal server error (injected by the test server)."}
                result["error"] = {"type": "error", "error": error}
            rows.append({"custom_id": item.custom_id, "result": result})
        return _jsonl(rows)


def _openai_line(item: BatchItem, line_id: str) -> dict[str, Any]:
    """One line of an OpenAI output or error file (as OpenAI writes them)."""
    line: dict[str, Any] = {"id": line_id, "custom_id": item.custom_id, "response": None, "error": None}
    request_id = "req_" + line_id.removeprefix("batch_req_")
    if item.outcome == "succeeded":
        line["response"] = {"status_code": 200, "request_id": request_id, "body": item.response}
    elif item.outcome == "errored":
        body = PROTOCOLS["openai"].error(500, "Internal server error (injected by the test server).")
        line["response"] = {"status_code": 500, "request_id": request_id, "body": body}
    elif item.outcome == "expired":
        message = "This request could not be executed before the completion window expired."
        line["error"] = {"code": "batch_expired", "message": message}
    return line


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


BATCH_KEY: web.AppKey[BatchStore] = web.AppKey("llm_test_server_batches")
