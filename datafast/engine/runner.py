"""The scheduler: runs work items against their providers concurrently, within each provider's limits,
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
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from datafast.engine.limits import AdaptiveConcurrency, TokenBucket
from datafast.engine.retry import RetryPolicy
from datafast.engine.store import RunStore
from datafast.engine.work import WorkItem
from datafast.llms.base import Completion, LLMProvider
from datafast.llms.failures import CallFailure
from datafast.llms.structured import parse_structured

log = logging.getLogger("datafast")

# Failures that mean every further request to this provider will fail the same way.
_PROVIDER_FATAL_STATUS = {401, 403, 404}
# Completion tokens assumed for a request before any answer has shown the real size.
_FIRST_COMPLETION_GUESS = 512


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
    """First items of a run's chains, pulled lazily by `workers` concurrent workers; `providers` are the
    ones its chains use (a stream stops when one of them is aborted)."""

    items: Iterator[WorkItem]
    providers: Sequence[LLMProvider]
    workers: int


@dataclass
class Counts:
    """Outcome counters shared by a whole run and each of its providers."""

    succeeded: int = 0
    failed: int = 0
    retries: int = 0
    asked_again: int = 0  # answers turned down as unusable, and asked again at once
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    failures_by_reason: Counter[str] = field(default_factory=Counter)

    def count_success(self, completion: Completion) -> None:
        self.succeeded += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.cost_usd += completion.cost_usd or 0.0

    def count_failure(self, kind: str) -> None:
        self.failed += 1
        self.failures_by_reason[kind] += 1


@dataclass
class ProviderStats(Counts):
    """Counts for one provider in one run, with how far its concurrency backed off."""

    rate_limited: int = 0
    lowest_concurrency: int | None = None


@dataclass
class RunStats(Counts):
    """Counts for one run of the engine, in total and per provider."""

    wall_seconds: float = 0.0
    aborted_providers: dict[str, str] = field(default_factory=dict)
    providers: dict[str, ProviderStats] = field(default_factory=dict)
    stopped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "succeeded": self.succeeded,
            "failed": self.failed,
            "retries": self.retries,
            "asked_again": self.asked_again,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "wall_seconds": round(self.wall_seconds, 3),
            "requests_per_second": round(self.succeeded / self.wall_seconds, 2) if self.wall_seconds else None,
            "failures_by_reason": dict(self.failures_by_reason),
            "aborted_providers": self.aborted_providers,
            "stopped": self.stopped,
            "providers": {
                name: {**p.__dict__, "failures_by_reason": dict(p.failures_by_reason)}
                for name, p in self.providers.items()
            },
        }


class _Lane:
    """One provider's share of a run: its limits, its statistics and its workers."""

    def __init__(self, provider: LLMProvider, stats: ProviderStats) -> None:
        self.provider = provider
        self.stats = stats
        self.concurrency = AdaptiveConcurrency(provider.max_concurrency)
        self.requests = TokenBucket(provider.rpm_limit) if provider.rpm_limit else None
        self.tokens = TokenBucket(provider.tpm_limit) if provider.tpm_limit else None
        self.mean_completion = float(provider.max_completion_tokens or _FIRST_COMPLETION_GUESS)
        self.aborted: str | None = None

    def estimate_tokens(self, item: WorkItem) -> float:
        chars = sum(len(str(m.get("content", ""))) for m in item.messages)
        return chars / 4 + self.mean_completion

    def learn(self, completion: Completion) -> None:
        self.mean_completion = 0.9 * self.mean_completion + 0.1 * completion.completion_tokens


async def run_work(
    streams: list[Stream],
    observer: RunObserver,
    store: RunStore,
    *,
    done: set[str] | None = None,
    policy: RetryPolicy | None = None,
    max_cost: float | None = None,
    seed: int = 0,
) -> RunStats:
    """Run every chain of every stream. Workers pull first items lazily and carry each chain to its end, so
    memory stays flat however many items there are; each provider's lane bounds its concurrency and rate,
    and providers proceed independently. Items whose key is in `done` are answered from the store. With
    `max_cost`, no new request starts once this run has spent that much (in USD)."""
    policy = policy or RetryPolicy()
    done = done or set()
    stats = RunStats()
    rng = random.Random(seed)
    started = time.monotonic()
    lanes: dict[int, _Lane] = {}

    def lane_for(provider: LLMProvider) -> _Lane:
        lane = lanes.get(id(provider))
        if lane is None:
            lane = lanes[id(provider)] = _Lane(provider, stats.providers.setdefault(provider.name, ProviderStats()))
        return lane

    async def call(lane: _Lane, item: WorkItem) -> Completion:
        estimate = lane.estimate_tokens(item)
        if lane.requests:
            await lane.requests.take(1)
        if lane.tokens:
            await lane.tokens.take(estimate)
        await lane.concurrency.acquire()
        succeeded = rate_limited = False
        retry_after = None
        try:
            # A guard above LiteLLM's own timeout: a request and its repair retry, plus slack.
            completion = await asyncio.wait_for(
                lane.provider.acomplete(item.messages, item.response_model), 2 * lane.provider.timeout + 10
            )
            succeeded = True
            if lane.tokens:
                lane.tokens.refund(estimate - completion.prompt_tokens - completion.completion_tokens)
            lane.learn(completion)
            return completion
        except TimeoutError:
            raise CallFailure("transient", f"no answer within {2 * lane.provider.timeout + 10:.0f}s") from None
        except CallFailure as failure:
            rate_limited = failure.kind == "rate_limit"
            retry_after = failure.retry_after
            raise
        finally:
            await lane.concurrency.release(succeeded=succeeded, rate_limited=rate_limited, retry_after=retry_after)
            low = lane.stats.lowest_concurrency
            lane.stats.lowest_concurrency = min(low, lane.concurrency.limit) if low else lane.concurrency.limit

    def replay(item: WorkItem) -> list[WorkItem] | None:
        """The chain's next items from a stored answer, or None when it must be asked again."""
        stored = store.get(item.key)
        assert stored is not None and stored.response is not None
        try:
            parsed = parse_structured(stored.response, item.response_model) if item.response_model else None
            completion = Completion(
                text=stored.response,
                parsed=parsed,
                finish_reason=stored.finish_reason,
                prompt_tokens=stored.prompt_tokens,
                completion_tokens=stored.completion_tokens,
                cost_usd=stored.cost_usd,
            )
            return observer.on_success(item, completion, resumed=True)
        except (ValueError, CallFailure) as exc:
            log.warning("stored answer for %s can no longer be used (%s); asking again", item.key[:12], exc)
            return None

    async def give_up(lane: _Lane, item: WorkItem, failure: CallFailure, request: str, first_try: float) -> None:
        await store.save_failed(
            item.key,
            step=item.step,
            provider=lane.provider.name,
            attempts=item.attempts,
            request=request,
            error_kind=failure.kind,
            error=failure.message,
            started=first_try,
        )
        for counts in (stats, lane.stats):
            counts.count_failure(failure.kind)
        if failure.kind == "fatal" and failure.status_code in _PROVIDER_FATAL_STATUS:
            lane.aborted = failure.message
            stats.aborted_providers.setdefault(lane.provider.name, failure.message)
        observer.on_failure(item, failure)

    async def process(item: WorkItem) -> list[WorkItem]:
        """One item to its end: answered (stored, then reported) or given up. Returns what follows it."""
        lane = lane_for(item.provider)
        if item.key in done:
            follow = replay(item)
            if follow is not None:
                return follow
        if lane.aborted or stats.stopped:
            return []
        first_try = time.time()
        request = json.dumps(item.messages, ensure_ascii=False)
        while True:
            item.attempts += 1
            try:
                completion = await call(lane, item)
            except CallFailure as failure:
                if failure.kind == "rate_limit":
                    lane.stats.rate_limited += 1
                if policy.should_retry(failure, item.attempts) and not lane.aborted and not stats.stopped:
                    delay = policy.delay(failure, item.attempts, rng)
                    count_retry(lane)
                    observer.on_retry(item, failure, delay)
                    await asyncio.sleep(delay)
                    continue
                await give_up(lane, item, failure, request, first_try)
                return []
            await store.save_done(
                item.key,
                step=item.step,
                provider=lane.provider.name,
                attempts=item.attempts,
                request=request,
                response=completion.text,
                finish_reason=completion.finish_reason,
                repaired=completion.repaired,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                cost_usd=completion.cost_usd,
                started=first_try,
            )
            for counts in (stats, lane.stats):
                counts.count_success(completion)
            if max_cost is not None and stats.cost_usd >= max_cost and not stats.stopped:
                stats.stopped = f"max_cost reached: ${stats.cost_usd:.4f} spent, limit ${max_cost:.4f}"
            try:
                return observer.on_success(item, completion, resumed=False)
            except CallFailure as rejected:
                # Paid for and counted, but the dataset type cannot use it: not a success after all.
                for counts in (stats, lane.stats):
                    counts.succeeded -= 1
                item.rejections += 1
                if item.rejections <= policy.max_rejections and not lane.aborted and not stats.stopped:
                    for counts in (stats, lane.stats):
                        counts.asked_again += 1
                    observer.on_retry(item, rejected, 0.0)
                    continue  # a sampled model answers differently when asked again
                # Marked failed, so that a rerun asks again.
                await give_up(lane, item, rejected, request, first_try)
                return []

    def count_retry(lane: _Lane) -> None:
        for counts in (stats, lane.stats):
            counts.retries += 1

    async def run_chain(item: WorkItem) -> None:
        follow = await process(item)
        if len(follow) == 1:
            await run_chain(follow[0])
        elif follow:
            await asyncio.gather(*(run_chain(f) for f in follow))

    async def worker(stream: Stream) -> None:
        stream_lanes = [lane_for(p) for p in stream.providers]
        for item in stream.items:
            if stats.stopped or any(lane.aborted for lane in stream_lanes):
                return
            await run_chain(item)

    try:
        async with contextlib.AsyncExitStack() as pools:
            for provider in {id(p): p for stream in streams for p in stream.providers}.values():
                await pools.enter_async_context(provider.http.held())
            await asyncio.gather(*(worker(stream) for stream in streams for _ in range(stream.workers)))
    finally:
        stats.wall_seconds = time.monotonic() - started
    return stats
