"""The scheduler: runs work items against their providers concurrently, within each provider's limits,
retrying what can be retried and reporting every outcome to an observer as it happens."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from datafast.engine.retry import RetryPolicy
from datafast.engine.work import WorkItem
from datafast.llms.base import Completion, LLMProvider
from datafast.llms.failures import CallFailure


class RunObserver(Protocol):
    """Receives outcomes as they happen. `on_success` must store the result before returning: only then
    does the engine count the item as done."""

    def on_success(self, item: WorkItem, completion: Completion) -> None: ...

    def on_failure(self, item: WorkItem, failure: CallFailure) -> None: ...

    def on_retry(self, item: WorkItem, failure: CallFailure, delay: float) -> None: ...


@dataclass
class RunStats:
    """Counts for one run of the engine."""

    succeeded: int = 0
    failed: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    failures_by_reason: Counter[str] = field(default_factory=Counter)
    aborted_providers: dict[str, str] = field(default_factory=dict)


class _RequestPacer:
    """Spaces request starts so a provider never gets more than `rpm` requests in a minute."""

    def __init__(self, rpm: int | None) -> None:
        self._interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        if not self._interval:
            return
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)


# Failures that mean every further request to this provider will fail the same way.
_PROVIDER_FATAL_STATUS = {401, 403, 404}


async def run_work(
    streams: list[tuple[LLMProvider, Iterator[WorkItem]]],
    observer: RunObserver,
    policy: RetryPolicy | None = None,
    seed: int = 0,
) -> RunStats:
    """Run every item of every stream. Each provider gets `max_concurrency` workers that pull items
    lazily from its iterator, so memory stays flat however many items there are."""
    policy = policy or RetryPolicy()
    stats = RunStats()
    rng = random.Random(seed)

    async def provider_loop(provider: LLMProvider, items: Iterator[WorkItem]) -> None:
        pacer = _RequestPacer(provider.rpm_limit)

        async def worker() -> None:
            for item in items:
                if provider.name in stats.aborted_providers:
                    return
                await process(item, pacer)

        async def process(item: WorkItem, pacer: _RequestPacer) -> None:
            while True:
                await pacer.wait()
                item.attempts += 1
                try:
                    completion = await provider.acomplete(item.messages, item.response_model)
                except CallFailure as failure:
                    if policy.should_retry(failure, item.attempts):
                        delay = policy.delay(failure, item.attempts, rng)
                        stats.retries += 1
                        observer.on_retry(item, failure, delay)
                        await asyncio.sleep(delay)
                        continue
                    stats.failed += 1
                    stats.failures_by_reason[failure.kind] += 1
                    if failure.kind == "fatal" and failure.status_code in _PROVIDER_FATAL_STATUS:
                        stats.aborted_providers.setdefault(provider.name, failure.message)
                    observer.on_failure(item, failure)
                    return
                observer.on_success(item, completion)
                stats.succeeded += 1
                stats.prompt_tokens += completion.prompt_tokens
                stats.completion_tokens += completion.completion_tokens
                stats.cost_usd += completion.cost_usd or 0.0
                return

        await asyncio.gather(*(worker() for _ in range(provider.max_concurrency)))

    await asyncio.gather(*(provider_loop(provider, items) for provider, items in streams))
    return stats
