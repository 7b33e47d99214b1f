"""Batch mode: a run's requests to a provider in batch mode travel in provider batches (half price,
answered within 24 hours) instead of one HTTP request each.

The scheduler works as online: each work item's coroutine asks its provider and waits for the answer. For
an item in batch mode the request is handed to the `BatchCollector` (through `LLMProvider.acomplete`'s
`send`), which gathers the requests that come in together into one batch per provider (split at the
provider's limits), records it in the run store before sending it (`BatchBook`), polls it, and once it has
ended stores every result before handing each to the coroutine that waits for it. What follows an answer
(the next step of a chain, a repair, a request asked again after a failure) is gathered into the next
batch. A run started again takes every answer it can from the store and from the batches it already sent,
and sends only what no batch holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from datafast.engine.batch_book import OPEN, BatchBook, BatchRow
from datafast.engine.ledger import RunStats
from datafast.engine.progress import plural
from datafast.engine.work import CHARS_PER_TOKEN, WorkItem, prompt_chars
from datafast.llms.base import LLMProvider, Messages
from datafast.llms.batch_api import BATCH_APIS, BatchAPI
from datafast.llms.completion import Completion
from datafast.llms.failures import CallFailure, FailureKind
from datafast.llms.wire import Route

log = logging.getLogger("datafast")


@dataclass(frozen=True)
class BatchOptions:
    """How a run uses batch APIs: it looks at its open batches every `poll_seconds`; it sends a batch once
    no new request has come for `gather_seconds` (so that a wave of ready requests goes as one batch) or
    the batch is full; `max_requests` caps a batch below the provider's own limit. With `every_provider`
    False, only providers built with `batch=True` use batches (the others stay online); these options hold
    for them."""

    poll_seconds: float = 30.0
    gather_seconds: float = 1.0
    max_requests: int | None = None
    every_provider: bool = True


class NotSent(Exception):
    """A request the run stopped before sending (max_cost reached, the run ending): not a failure."""


@dataclass
class _Waiter:
    """A request waiting for its batch: what decodes its answer, and the future that gets it."""

    route: Route
    messages: Messages
    data: dict[str, Any]
    future: asyncio.Future[Completion]


@dataclass
class _Queue:
    """A provider's requests not sent yet, by work key."""

    api: BatchAPI
    provider: str
    waiters: dict[str, _Waiter] = field(default_factory=dict)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    size: int = 0
    last_added: float = 0.0


@dataclass
class _Sent:
    """A batch at the provider, not collected yet, and the requests of this process waiting for it."""

    row: BatchRow
    api: BatchAPI | None
    waiters: dict[str, _Waiter] = field(default_factory=dict)
    estimate: float = 0.0


class BatchCollector:
    """Carries a run's batch-mode requests; see the module docstring. `carries(item)` says whether an
    item goes through it (its provider is in batch mode, or an earlier run's batch holds its key), and
    `sender(item)` gives what `acomplete` sends through. `run()` sends and polls until `close()`."""

    def __init__(
        self,
        book: BatchBook,
        stats: RunStats,
        batch_providers: list[LLMProvider],
        options: BatchOptions | None = None,
        max_cost: float | None = None,
    ) -> None:
        self.book = book
        self.stats = stats
        self.options = options or BatchOptions()
        self.max_cost = max_cost
        self.batch_providers = {id(p) for p in batch_providers}
        self._queues: dict[tuple[str, str], _Queue] = {}
        self._sent: dict[int, _Sent] = {}
        self._latest: dict[str, BatchRow] = {}  # each key's newest batch of the run (any run)
        for row in book.all():
            if row.status != "lost":
                for key in row.keys:
                    self._latest[key] = row
            if row.status in OPEN:
                self._sent[row.id] = _Sent(row, None)
        self._apis: dict[str, BatchAPI] = {}  # by endpoint URL
        self._wake = asyncio.Event()
        self._closing = False

    # -- the scheduler's side --------------------------------------------------------------------------

    def carries(self, item: WorkItem) -> bool:
        return id(item.provider) in self.batch_providers or item.key in self._latest

    def sender(self, item: WorkItem) -> Callable[[Route, Messages, dict[str, Any]], Awaitable[Completion]]:
        async def send(route: Route, messages: Messages, data: dict[str, Any]) -> Completion:
            return await self._ask(item, route, messages, data)

        return send

    async def _ask(self, item: WorkItem, route: Route, messages: Messages, data: dict[str, Any]) -> Completion:
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(route, messages, data, future)
        row = self._latest.pop(item.key, None)  # an earlier batch's answer is used once; a retry goes out anew
        if row is not None and row.status == "collected":
            return self._stored_answer(row, item.key, waiter)
        if row is not None and row.id in self._sent:
            self._sent[row.id].waiters[item.key] = waiter
            self._remember_api(row, route, item.provider)
            return await future
        if id(item.provider) not in self.batch_providers:  # an earlier batch's key, and this run is online
            return await item.provider.post(route, messages, data)
        if self._closing or self.stats.stopped:
            raise NotSent(self.stats.stopped or "run ending")
        queue = self._queue(item.provider, route)
        if item.key in queue.waiters:  # the same request from another chain: one answer for both
            return await asyncio.shield(queue.waiters[item.key].future)
        queue.waiters[item.key] = waiter
        queue.bodies[item.key] = data
        queue.size += queue.api.line_size(item.key, data)
        queue.last_added = time.monotonic()
        self._wake.set()
        return await future

    def _stored_answer(self, row: BatchRow, key: str, waiter: _Waiter) -> Completion:
        stored = self.book.result(row.id, key)
        if stored is None or stored.body is None:
            why = stored.error if stored is not None else "no result for it in the batch"
            kind = stored.error_kind if stored is not None and stored.error_kind else "transient"
            raise _failure(kind, why)
        return waiter.route.decode(200, {}, stored.body, waiter.messages, waiter.data, batch=True)

    def _queue(self, provider: LLMProvider, route: Route) -> _Queue:
        key = (provider.name, route.url)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(self._api(provider, route), provider.name)
        return queue

    def _api(self, provider: LLMProvider, route: Route) -> BatchAPI:
        api = self._apis.get(route.url)
        if api is None:
            assert provider.batch_api is not None
            api = self._apis[route.url] = BATCH_APIS[provider.batch_api](route, provider.http)
        return api

    def _remember_api(self, row: BatchRow, route: Route, provider: LLMProvider) -> None:
        sent = self._sent[row.id]
        if sent.api is None and provider.batch_api is not None:
            sent.api = self._api(provider, route)

    # -- sending and polling ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Send gathered requests and poll open batches until `close()`; on cancellation (Ctrl-C), say
        what is left running at the provider."""
        # Batches of an earlier run are looked at soon: they may have ended long ago.
        first_wait = min(self.options.poll_seconds, 1.0) if self._sent else self.options.poll_seconds
        next_poll = time.monotonic() + first_wait
        try:
            while not self._closing:
                await self._send_ready()
                now = time.monotonic()
                if now >= next_poll:
                    await self._poll_all()
                    next_poll = time.monotonic() + self.options.poll_seconds
                self._show()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), min(0.1, self.options.gather_seconds))
                self._wake.clear()
        except asyncio.CancelledError:
            self._say_left()
            raise
        finally:
            self._refuse_unsent()

    def close(self) -> None:
        self._closing = True
        self._wake.set()

    def _refuse_unsent(self) -> None:
        for queue in self._queues.values():
            for waiter in queue.waiters.values():
                if not waiter.future.done():
                    waiter.future.set_exception(NotSent("run ending"))
            queue.waiters.clear()

    def _say_left(self) -> None:
        left = [s for s in self._sent.values() if s.row.status in OPEN]
        if left:
            requests = sum(s.row.requests for s in left)
            log.warning(
                "%s (%s) left running at the provider: run the same command again to collect their answers "
                "(they are not sent again), or cancel them with `datafast status OUTPUT --cancel-batches`",
                plural(len(left), "batch", "batches"),
                plural(requests, "request"),
            )

    async def _send_ready(self) -> None:
        now = time.monotonic()
        for queue in self._queues.values():
            if not queue.waiters:
                continue
            limit = self.options.max_requests or queue.api.max_requests
            full = len(queue.waiters) >= limit or queue.size >= queue.api.max_bytes
            if full or now - queue.last_added >= self.options.gather_seconds:
                await self._send(queue, limit)

    async def _send(self, queue: _Queue, limit: int) -> None:
        """Send the queue's requests as batches within the provider's limits."""
        while queue.waiters:
            keys: list[str] = []
            size = 0
            for key, data in queue.bodies.items():
                line = queue.api.line_size(key, data)
                if keys and (len(keys) >= limit or size + line > queue.api.max_bytes):
                    break
                keys.append(key)
                size += line
            keys = self._affordable(queue, keys)
            if not keys:
                return
            waiters = {key: queue.waiters.pop(key) for key in keys}
            bodies = [(key, queue.bodies.pop(key)) for key in keys]
            queue.size -= sum(queue.api.line_size(key, data) for key, data in bodies)
            row = self.book.sending(queue.provider, queue.api.kind, queue.api.route.url, keys)
            row_id = row.id
            estimate = self._estimate(queue.api, list(waiters.values()))
            self._sent[row_id] = _Sent(row, queue.api, waiters, estimate)
            for key in keys:
                self._latest[key] = row
            try:
                state = await queue.api.submit(bodies, self.book.tag(row_id))
            except CallFailure as failure:
                if failure.kind != "fatal":
                    # No answer (a timeout, a dropped connection, a 5xx): the provider may have made the batch
                    # all the same. It stays `sending`, and the next poll looks for it before anything is sent
                    # again (`_recover`).
                    log.warning("sending batch %d: %s; looking it up before sending again", row_id, failure)
                    continue
                # Refused (a bad request, a bad key): nothing was made; each request fails with the reason.
                self._forget(self._sent[row_id], failure)
                continue
            self.book.sent(row_id, state.remote_id, state.status)
            row.status, row.remote_id, row.provider_status = "running", state.remote_id, state.status

    def _affordable(self, queue: _Queue, keys: list[str]) -> list[str]:
        """The requests a batch may hold within max_cost: what was spent, plus what the open batches are
        expected to cost, plus this one, stays under it (expected costs use the answers' mean length so far).
        The rest are not sent, and the run stops."""
        if self.max_cost is None:
            return keys
        outstanding = sum(s.estimate for s in self._sent.values() if s.row.status in OPEN)
        room = self.max_cost - self.stats.cost_usd - outstanding
        taken: list[str] = []
        for key in keys:
            cost = self._estimate(queue.api, [queue.waiters[key]])
            if cost > room:
                break
            room -= cost
            taken.append(key)
        if len(taken) < len(keys):
            self.stats.stopped = self.stats.stopped or (
                f"max_cost: the next batch would take the run past ${self.max_cost:.4f} "
                f"(${self.stats.cost_usd:.4f} spent, ${self.max_cost - room:.4f} with the batches sent)"
            )
            for key in keys[len(taken) :]:
                waiter = queue.waiters.pop(key)
                queue.bodies.pop(key)
                waiter.future.set_exception(NotSent(self.stats.stopped))
            queue.size = sum(queue.api.line_size(k, d) for k, d in queue.bodies.items())
        return taken

    def _estimate(self, api: BatchAPI, waiters: list[_Waiter]) -> float:
        prices = api.route.prices
        if prices is None:
            return 0.0
        answered = self.stats.succeeded + self.stats.asked_again
        mean_output = self.stats.completion_tokens / answered if answered else 0
        total = 0.0
        for waiter in waiters:
            prompt = prompt_chars(waiter.messages) // CHARS_PER_TOKEN
            output = mean_output or int(waiter.data.get("max_tokens") or waiter.data.get("max_completion_tokens") or 0)
            total += prices.cost(prompt, int(output), batch=True)
        return total

    async def _poll_all(self) -> None:
        for sent in list(self._sent.values()):
            if sent.row.status == "sending":
                await self._recover(sent)
            if sent.row.status == "running" and sent.api is not None:
                await self._poll(sent)

    async def _recover(self, sent: _Sent) -> None:
        """A batch recorded as being sent when the run stopped: if the provider took it, go on with it;
        if not, its requests go out again."""
        if sent.api is None:
            return  # no request of this run has reached it yet: its endpoint's key is not known
        row = sent.row
        try:
            remote_id = await sent.api.find(self.book.tag(row.id), row.requests, row.sent)
        except CallFailure as failure:
            log.warning("could not look up batch %d at %s: %s", row.id, row.provider, failure)
            return
        if remote_id is None:
            self._forget(sent, CallFailure("transient", f"{row.provider}: its batch never reached the provider"))
            return
        self.book.sent(row.id, remote_id, "found")
        row.status, row.remote_id = "running", remote_id

    def _forget(self, sent: _Sent, failure: CallFailure) -> None:
        """A batch the provider never took: recorded as lost, each of its requests failed with `failure`
        (asked again in a later batch if it is a failure to retry)."""
        self.book.lost(sent.row.id)
        sent.row.status = "lost"
        del self._sent[sent.row.id]
        for key, waiter in sent.waiters.items():
            if self._latest.get(key) is sent.row:
                del self._latest[key]
            waiter.future.set_exception(failure)

    async def _poll(self, sent: _Sent) -> None:
        assert sent.api is not None and sent.row.remote_id is not None
        try:
            state = await sent.api.poll(sent.row.remote_id)
        except CallFailure as failure:
            self._unreadable(sent, failure, "poll")
            return
        if not state.ended:
            if state.status != sent.row.provider_status:
                self.book.polled(sent.row.id, state.status, state.counts)
                sent.row.provider_status = state.status
            return
        outcomes: dict[str, tuple[bytes | None, str | None, str | None]] = {}
        if state.refused is not None:  # the provider refused the whole batch: nothing in it was answered
            outcomes = {key: (None, "fatal", state.refused) for key in sent.row.keys}
        else:
            try:
                results = await sent.api.results(state)
            except CallFailure as failure:
                self._unreadable(sent, failure, "read the results of")
                return
            for result in results:
                failed = result.failure
                outcome = (None, failed.kind, failed.message) if failed else (result.body, None, None)
                outcomes[result.custom_id] = outcome
        for key in sent.row.keys:  # a request the batch did not answer (cancelled before it was reached)
            outcomes.setdefault(key, (None, "transient", f"batch {state.remote_id} ended ({state.status}) without it"))
        self.book.collected(sent.row.id, state.status, outcomes)
        sent.row.status = "collected"
        del self._sent[sent.row.id]
        for key, waiter in sent.waiters.items():
            if self._latest.get(key) is sent.row:
                del self._latest[key]
            body, kind, error = outcomes[key]
            if body is None:
                waiter.future.set_exception(_failure(kind, error))
                continue
            try:
                answer = waiter.route.decode(200, {}, body, waiter.messages, waiter.data, batch=True)
            except CallFailure as failure:
                waiter.future.set_exception(failure)
            else:
                waiter.future.set_result(answer)

    def _unreadable(self, sent: _Sent, failure: CallFailure, doing: str) -> None:
        """A batch that could not be looked at. A passing failure: the next poll tries again. A batch the
        provider does not know (404): its requests go again in a new batch. Refused otherwise (a revoked key):
        its requests fail with the reason, and the batch stays recorded as running for a later run."""
        what = f"could not {doing} batch {sent.row.remote_id} at {sent.row.provider}: {failure}"
        if failure.kind != "fatal":
            log.warning("%s; trying again at the next poll", what)
        elif failure.status_code == 404 and doing == "poll":
            log.warning("%s; its requests go again in a new batch", what)
            self._forget(sent, CallFailure("transient", f"{what}; its requests go again"))
        else:
            del self._sent[sent.row.id]
            for waiter in sent.waiters.values():
                waiter.future.set_exception(CallFailure("fatal", what, status_code=failure.status_code))

    def _show(self) -> None:
        """The batches' state on the progress line, per provider."""
        by_provider: dict[str, list[_Sent]] = {}
        for sent in self._sent.values():
            by_provider.setdefault(sent.row.provider, []).append(sent)
        for queue in self._queues.values():
            by_provider.setdefault(queue.provider, [])
        for provider, sent_list in by_provider.items():
            waiting = sum(len(q.waiters) for q in self._queues.values() if q.provider == provider)
            if not sent_list and not waiting:
                self.stats.wait_notice(provider, None)
                continue
            requests = sum(s.row.requests for s in sent_list)
            oldest = min((s.row.sent for s in sent_list), default=time.time())
            parts = []
            if sent_list:
                parts.append(
                    f"{plural(len(sent_list), 'batch', 'batches')} at the provider ({plural(requests, 'request')}, "
                    f"sent {_ago(time.time() - oldest)} ago)"
                )
            if waiting:
                parts.append(f"{plural(waiting, 'request')} gathering for the next batch")
            self.stats.wait_notice(provider, "; ".join(parts))


_KINDS: dict[str, FailureKind] = {"fatal": "fatal", "rate_limit": "rate_limit", "invalid_response": "invalid_response"}


def _failure(kind: str | None, message: str | None) -> CallFailure:
    """A request's failure as its batch reported it (stored as text)."""
    return CallFailure(_KINDS.get(kind or "", "transient"), message or "failed in its batch")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
