"""The run ledger: the one place a run's outcomes are counted. The scheduler writes it; progress, the
summary (`summary.json`) and the CLI read it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Counts:
    """Outcome counters, for a whole run and for each of its providers.

    `succeeded` are answers accepted this run, `resumed` items answered from the store of an earlier run,
    `failed` items given up; `retries` are requests sent again after a failure, `asked_again` answers turned
    down as unusable and asked again. Tokens and cost add up every answer paid for this run, used or not."""

    succeeded: int = 0
    resumed: int = 0
    failed: int = 0
    retries: int = 0
    asked_again: int = 0
    rate_limited: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    # Of the prompt tokens, those the provider read from its prompt cache and those written to it (Anthropic).
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    # Of the completion tokens, those spent thinking (where the provider reports them).
    reasoning_tokens: int = 0
    failures_by_reason: Counter[str] = field(default_factory=Counter)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def done(self) -> int:
        """Items finished either way: answered, resumed or given up."""
        return self.succeeded + self.resumed + self.failed


@dataclass
class ProviderStats(Counts):
    """Counts for one provider in one run, with the range its concurrency moved in and what its headers
    told of its limits."""

    lowest_concurrency: int | None = None
    highest_concurrency: int | None = None
    learned_rpm: int | None = None
    learned_tpm: int | None = None


@dataclass
class RunStats(Counts):
    """The ledger of one run of the engine, in total and per provider. `listener` is called after every
    change (progress redraws from it)."""

    wall_seconds: float = 0.0
    aborted_providers: dict[str, str] = field(default_factory=dict)
    providers: dict[str, ProviderStats] = field(default_factory=dict)
    stopped: str | None = None
    # Why a provider is waiting now, for the progress line (e.g. a long Retry-After); None when it is not.
    waiting: dict[str, str] = field(default_factory=dict)
    listener: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def provider(self, name: str) -> ProviderStats:
        stats = self.providers.get(name)
        if stats is None:
            stats = self.providers[name] = ProviderStats()
        return stats

    def _both(self, name: str) -> tuple[Counts, Counts]:
        return self, self.provider(name)

    def _changed(self) -> None:
        if self.listener is not None:
            self.listener()

    def paid(
        self,
        name: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float | None,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> None:
        """An answer came back: its tokens and cost count whatever becomes of it."""
        for counts in self._both(name):
            counts.prompt_tokens += prompt_tokens
            counts.completion_tokens += completion_tokens
            counts.cost_usd += cost_usd or 0.0
            counts.cached_tokens += cached_tokens
            counts.cache_write_tokens += cache_write_tokens
            counts.reasoning_tokens += reasoning_tokens

    def succeeded_one(self, name: str) -> None:
        for counts in self._both(name):
            counts.succeeded += 1
        self._changed()

    def resumed_one(self, name: str) -> None:
        for counts in self._both(name):
            counts.resumed += 1
        self._changed()

    def failed_one(self, name: str, kind: str) -> None:
        for counts in self._both(name):
            counts.failed += 1
            counts.failures_by_reason[kind] += 1
        self._changed()

    def retried(self, name: str, *, rate_limited: bool) -> None:
        for counts in self._both(name):
            counts.retries += 1
            counts.rate_limited += int(rate_limited)
        self._changed()

    def wait_notice(self, name: str, why: str | None) -> None:
        """Say (or, with None, stop saying) why a provider's requests are waiting."""
        if why is None:
            if self.waiting.pop(name, None) is not None:
                self._changed()
        elif self.waiting.get(name) != why:
            self.waiting[name] = why
            self._changed()

    def asked_again_one(self, name: str) -> None:
        for counts in self._both(name):
            counts.asked_again += 1
        self._changed()

    def to_dict(self) -> dict[str, Any]:
        return {
            "succeeded": self.succeeded,
            "resumed": self.resumed,
            "failed": self.failed,
            "retries": self.retries,
            "asked_again": self.asked_again,
            "rate_limited": self.rate_limited,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "wall_seconds": round(self.wall_seconds, 3),
            "requests_per_second": round(self.succeeded / self.wall_seconds, 4) if self.wall_seconds else None,
            "failures_by_reason": dict(self.failures_by_reason),
            "aborted_providers": self.aborted_providers,
            "stopped": self.stopped,
            "providers": {
                name: {**p.__dict__, "failures_by_reason": dict(p.failures_by_reason)}
                for name, p in self.providers.items()
            },
        }
