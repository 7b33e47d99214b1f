"""The scheduler: runs work items against their providers concurrently, within each endpoint's limits,
retrying what can be retried, storing every answer before it is counted, and reporting each outcome to
an observer as it happens. An answer may lead to further items (the next step of a multi-step chain);
those run as soon as it is in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from datafast.engine.batches import BatchCollector, NotSent
from datafast.engine.lanes import Lane, LaneGroup
from datafast.engine.ledger import RunStats
from datafast.engine.retry import RetryPolicy
from datafast.engine.store import RunStore
from datafast.engine.work import WorkItem
from datafast.errors import OutputWriteError
from datafast.llms.base import Completion, LLMProvider
from datafast.llms.failures import CallFailure
from datafast.llms.structured import parse_structured

log = logging.getLogger("datafast")

# Failures that mean every further request to this provider will fail the same way.
_PROVIDER_FATAL_STATUS = {401, 403, 404}


class RunObserver(Protocol):
    """Receives outcomes as they happen.

    `on_success` is called once the answer is in the store (or, `resumed`, found there from an earlier run);
    it returns the items that follow in the chain, or raises CallFailure to reject an answer that cannot be
    used: it is asked again at once up to `RetryPolicy.max_rejections` times (`item.rejections` counts
    them), then marked failed, so that a rerun asks again."""

    def on_success(self, item: WorkItem, completion: Completion, resumed: bool) -> list[WorkItem]: ...

    def on_failure(self, item: WorkItem, failure: CallFailure) -> None: ...

    def on_retry(self, item: WorkItem, failure: CallFailure, delay: float) -> None: ...


@dataclass
class Stream:
    """First items of a run's chains, pulled lazily by workers; `providers` are the ones its chains use (a
    stream stops when one of them is aborted). `workers` defaults to what its providers' lanes can have in
    flight at most."""

    items: Iterator[WorkItem]
    providers: Sequence[LLMProvider]
    workers: int | None = None


class Scheduler:
    """One run of the engine over some streams. Read it top-down:

    - `run`: workers pull each stream's first items lazily and carry each chain to its end (`_run_chain`),
      so memory stays flat however many items there are;
    - `_process`: one item to its end: replayed from the store (`_replay`) or asked (`_ask`);
    - `_ask`: attempts until an answer is accepted or the item is given up; a 429 waits without using up
      an attempt;
    - `_send`: one request through a lane of the item's provider, within its limits;
    - then, in `_ask`: the answer is stored (`_store`), handed to the observer, and only then counted as
      succeeded; a failure is retried after `_retry_delay` or given up (`_give_up`).

    Every count goes to the ledger (`stats`), which progress and the summary read."""

    def __init__(
        self,
        streams: list[Stream],
        observer: RunObserver,
        store: RunStore,
        *,
        done: set[str] | None = None,
        policy: RetryPolicy | None = None,
        max_cost: float | None = None,
        seed: int = 0,
        stats: RunStats | None = None,
        batches: BatchCollector | None = None,
    ) -> None:
        self.streams = streams
        self.batches = batches
        self.observer = observer
        self.store = store
        self.done = done or set()
        self.policy = policy or RetryPolicy()
        self.max_cost = max_cost
        self.stats = stats or RunStats()
        self.rng = random.Random(seed)
        # Set when a file of the run could not be written: the run stops and raises it.
        self.error: OutputWriteError | None = None
        self.groups: dict[int, LaneGroup] = {}
        for stream in streams:
            for provider in stream.providers:
                self.group(provider)

    def group(self, provider: LLMProvider) -> LaneGroup:
        group = self.groups.get(id(provider))
        if group is None:
            group = self.groups[id(provider)] = LaneGroup([Lane(p) for p in provider.endpoints()])
            self.stats.provider(provider.name)
        return group

    async def run(self) -> RunStats:
        started = time.monotonic()
        try:
            async with contextlib.AsyncExitStack() as pools:
                for group in self.groups.values():
                    for lane in group.lanes:
                        await pools.enter_async_context(lane.provider.http.held())
                collector = asyncio.ensure_future(self.batches.run()) if self.batches is not None else None
                try:
                    await asyncio.gather(
                        *(self._worker(stream) for stream in self.streams for _ in range(self._workers(stream)))
                    )
                except BaseException:  # Ctrl-C, a crash: the batches stay at the provider, and it says so
                    if collector is not None:
                        collector.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await collector
                    raise
                if collector is not None:
                    await self._stop_collector(collector)
        finally:
            self.stats.wall_seconds = time.monotonic() - started
            self._note_lanes()
        return self.stats

    async def _stop_collector(self, collector: asyncio.Future[None]) -> None:
        assert self.batches is not None
        if collector.done():
            collector.result()  # its error, if it failed
            return
        self.batches.close()
        await collector

    def _workers(self, stream: Stream) -> int:
        """As many workers as the stream's lanes may ever have in flight (idle ones wait for a slot)."""
        if stream.workers is not None:
            return stream.workers
        return sum(lane.concurrency.ceiling for p in stream.providers for lane in self.group(p).lanes)

    def _note_lanes(self) -> None:
        for group in self.groups.values():
            stats = self.stats.provider(group.provider.name)
            stats.lowest_concurrency, stats.highest_concurrency = group.concurrency_range()
            stats.learned_rpm = max((lane.learned_rpm or 0 for lane in group.lanes), default=0) or None
            stats.learned_tpm = max((lane.learned_tpm or 0 for lane in group.lanes), default=0) or None

    def _stopping(self, group: LaneGroup) -> bool:
        return bool(group.aborted or self.stats.stopped)

    async def _worker(self, stream: Stream) -> None:
        groups = [self.group(p) for p in stream.providers]
        for item in stream.items:
            if self.stats.stopped or any(group.aborted for group in groups):
                return
            await self._run_chain(item)

    async def _run_chain(self, item: WorkItem) -> None:
        follow = await self._process(item)
        while len(follow) == 1:  # the usual chain: one next step
            follow = await self._process(follow[0])
        if follow:
            await asyncio.gather(*(self._run_chain(f) for f in follow))

    async def _process(self, item: WorkItem) -> list[WorkItem]:
        """One item to its end: answered (stored, then reported) or given up. Returns what follows it."""
        if item.key in self.done:
            follow = self._replay(item)
            if follow is not None:
                return follow
        if self._stopping(self.group(item.provider)):
            return []
        return await self._ask(item)

    def _replay(self, item: WorkItem) -> list[WorkItem] | None:
        """The chain's next items from a stored answer, or None when it must be asked again."""
        stored = self.store.get(item.key)
        assert stored is not None
        if stored.response is None:  # adopted from the output's records (`RunStore.adopt`): nothing to replay
            self.stats.resumed_one(item.provider.name)
            return []
        try:
            parsed = parse_structured(stored.response, item.response_model) if item.response_model else None
            completion = Completion(
                text=stored.response,
                parsed=parsed,
                finish_reason=stored.finish_reason,
                prompt_tokens=stored.prompt_tokens,
                completion_tokens=stored.completion_tokens,
                cost_usd=stored.cost_usd,
                reasoning=stored.reasoning,
            )
            follow = self.observer.on_success(item, completion, resumed=True)
        except OutputWriteError as exc:
            self._halt(exc)
            return []
        except (ValueError, CallFailure) as exc:
            log.warning("stored answer for %s can no longer be used (%s); asking again", item.key[:12], exc)
            return None
        self.stats.resumed_one(item.provider.name)
        return follow

    async def _ask(self, item: WorkItem) -> list[WorkItem]:
        group = self.group(item.provider)
        name = item.provider.name
        first_try = time.time()
        request = json.dumps(item.messages, ensure_ascii=False)
        rate_limited_since: float | None = None  # the first of the 429s in a row, if the last answer was one
        while True:
            try:
                completion = await self._send(group, item)
            except NotSent:  # a batch-mode request the run stopped before sending
                return []
            except CallFailure as failure:
                if failure.prompt_tokens or failure.completion_tokens or failure.cost_usd:
                    paid = (failure.prompt_tokens, failure.completion_tokens, failure.cost_usd)
                    cache = (failure.cached_tokens, failure.cache_write_tokens)
                    self.stats.paid(name, *paid, *cache)
                    item.paid_for_nothing(*paid, *cache)
                if failure.kind == "rate_limit" and rate_limited_since is None:
                    rate_limited_since = time.monotonic()
                delay = self._retry_delay(group, item, failure, rate_limited_since)
                if delay is None:
                    await self._give_up(group, item, failure, request, first_try)
                    return []
                self.stats.retried(name, rate_limited=failure.kind == "rate_limit")
                self.observer.on_retry(item, failure, delay)
                await asyncio.sleep(delay)
                continue
            if rate_limited_since is not None:
                self.stats.wait_notice(name, None)
            rate_limited_since, item.rate_limit_waits = None, 0
            self.stats.paid(
                name,
                completion.prompt_tokens,
                completion.completion_tokens,
                completion.cost_usd,
                completion.cached_tokens,
                completion.cache_write_tokens,
                completion.reasoning_tokens,
            )
            try:
                await self._store(item, completion, request, first_try)
            except OutputWriteError as exc:  # paid for, and lost: the one answer a full disk costs
                self._halt(exc)
                return []
            if self.max_cost is not None and self.stats.cost_usd >= self.max_cost and not self.stats.stopped:
                self.stats.stopped = f"max_cost reached: ${self.stats.cost_usd:.4f} spent, limit ${self.max_cost:.4f}"
            try:
                follow = self.observer.on_success(item, completion, resumed=False)
            except OutputWriteError as exc:  # the answer is stored: a rerun writes its records
                self._halt(exc)
                follow = []
            except CallFailure as rejected:  # paid for, but the dataset type cannot use it
                item.rejections += 1
                if item.rejections <= self.policy.max_rejections and not self._stopping(group):
                    self.stats.asked_again_one(name)
                    self.observer.on_retry(item, rejected, 0.0)
                    continue  # a sampled model answers differently when asked again
                await self._give_up(group, item, rejected, request, first_try)  # a rerun asks again
                return []
            self.stats.succeeded_one(name)
            return follow

    def _retry_delay(
        self, group: LaneGroup, item: WorkItem, failure: CallFailure, rate_limited_since: float | None
    ) -> float | None:
        """How long to wait before asking again, or None to give up. Waiting for a rate limit is not a
        failed attempt: a 429 does not count against `max_attempts`, only against `max_rate_limit_wait`."""
        if self._stopping(group):
            return None
        if failure.kind == "rate_limit" and rate_limited_since is not None:
            item.attempts -= 1  # `_send` counted it
            item.rate_limit_waits += 1
            now = time.monotonic()
            if now - rate_limited_since > self.policy.max_rate_limit_wait:
                if now - group.last_answer > self.policy.max_rate_limit_wait:  # not one answer all that time
                    self._abort(
                        group,
                        f"still rate limited after {now - group.last_answer:.0f}s without an answer "
                        f"(RetryPolicy.max_rate_limit_wait is {self.policy.max_rate_limit_wait:.0f}s): "
                        f"{failure.message}; run again later",
                    )
                self.stats.wait_notice(item.provider.name, None)
                return None
            delay = self.policy.delay(failure, item.rate_limit_waits, self.rng)
            if failure.retry_after is not None and failure.retry_after > self.policy.max_delay:
                self.stats.wait_notice(
                    item.provider.name,
                    f"rate limited: the server asks to wait {failure.retry_after:.0f}s, retrying every "
                    f"{self.policy.max_delay:.0f}s (gives up after {self.policy.max_rate_limit_wait:.0f}s)",
                )
            return delay
        if not self.policy.should_retry(failure, item.attempts):
            return None
        if self.batches is not None and self.batches.carries(item):
            return 0.0  # it waits for the next batch anyway
        return self.policy.delay(failure, item.attempts, self.rng)

    async def _send(self, group: LaneGroup, item: WorkItem) -> Completion:
        """One request through the lane that should answer first, within its limits (or in a batch)."""
        if self.batches is not None and self.batches.carries(item):
            item.attempts += 1
            return await item.provider.acomplete(item.messages, item.response_model, self.batches.sender(item))
        lane = await group.acquire()
        try:
            await lane.provider.prepare(item.response_model)
            estimate = lane.estimate_tokens(item)
            await lane.pace(estimate)
            pause = lane.concurrency.paused_until - time.monotonic()
            if pause > 0:  # a 429 came back while this one waited for its turn
                await asyncio.sleep(pause)
            item.attempts += 1
            lane.sent += 1
            mark = lane.sent
            started = time.monotonic()
            # A guard above the provider's own timeout: a request and its repair retry, plus slack.
            guard = 2 * lane.provider.timeout + 10
            try:
                completion = await asyncio.wait_for(lane.provider.acomplete(item.messages, item.response_model), guard)
            except TimeoutError:
                raise CallFailure("transient", f"no answer within {guard:.0f}s") from None
            except CallFailure as failure:
                if failure.limits is not None:
                    lane.learn(failure.limits, lane.sent - mark)
                if failure.kind == "rate_limit":
                    wait = min(failure.retry_after, self.policy.max_delay) if failure.retry_after else None
                    lane.concurrency.rate_limited(wait, time.monotonic())
                raise
            lane.answered(completion, estimate, time.monotonic() - started, lane.sent - mark)
            group.last_answer = time.monotonic()
            return completion
        finally:
            lane.open()
            await group.release(lane)

    async def _store(self, item: WorkItem, completion: Completion, request: str, first_try: float) -> None:
        await self.store.save_done(
            item.key,
            step=item.step,
            provider=item.provider.name,
            attempts=item.attempts,
            request=request,
            response=completion.text,
            finish_reason=completion.finish_reason,
            repaired=completion.repaired,
            prompt_tokens=completion.prompt_tokens + item.unkept_prompt_tokens,
            completion_tokens=completion.completion_tokens + item.unkept_completion_tokens,
            cost_usd=_sum_costs(completion.cost_usd, item.unkept_cost_usd),
            started=first_try,
            cached_tokens=completion.cached_tokens + item.unkept_cached_tokens,
            cache_write_tokens=completion.cache_write_tokens + item.unkept_cache_write_tokens,
            reasoning=completion.reasoning,
        )
        item.unkept_prompt_tokens, item.unkept_completion_tokens, item.unkept_cost_usd = 0, 0, None  # stored now
        item.unkept_cached_tokens = item.unkept_cache_write_tokens = 0

    def _abort(self, group: LaneGroup, why: str) -> None:
        """No further request to this provider in this run: every one would fail the same way."""
        group.aborted = group.aborted or why
        self.stats.aborted_providers.setdefault(group.provider.name, why)

    def _halt(self, error: OutputWriteError) -> None:
        """A file of the run cannot be written (a full disk): no new request; those in flight finish."""
        self.error = self.error or error
        self.stats.stopped = self.stats.stopped or str(error)

    async def _give_up(
        self, group: LaneGroup, item: WorkItem, failure: CallFailure, request: str, first_try: float
    ) -> None:
        try:
            await self._save_failed(item, failure, request, first_try)
        except OutputWriteError as exc:
            self._halt(exc)
        if failure.kind == "fatal" and failure.status_code in _PROVIDER_FATAL_STATUS:
            self._abort(group, failure.message)
        self.stats.failed_one(item.provider.name, failure.kind)
        self.observer.on_failure(item, failure)

    async def _save_failed(self, item: WorkItem, failure: CallFailure, request: str, first_try: float) -> None:
        await self.store.save_failed(
            item.key,
            step=item.step,
            provider=item.provider.name,
            attempts=item.attempts,
            request=request,
            error_kind=failure.kind,
            error=failure.message,
            started=first_try,
            prompt_tokens=item.unkept_prompt_tokens,
            completion_tokens=item.unkept_completion_tokens,
            cost_usd=item.unkept_cost_usd,
            cached_tokens=item.unkept_cached_tokens,
            cache_write_tokens=item.unkept_cache_write_tokens,
        )



def _sum_costs(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)
