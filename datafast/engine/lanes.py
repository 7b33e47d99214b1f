"""Lanes: one per provider endpoint, each with its own limits, and the group that spreads a provider's
requests over its endpoints by how fast each answers."""

from __future__ import annotations

import asyncio
import contextlib
import time

from datafast.engine.limits import UNBOUNDED_CEILING, ConcurrencyLimit, TokenBucket
from datafast.engine.work import CHARS_PER_TOKEN, WorkItem, prompt_chars
from datafast.llms.base import Completion, LLMProvider
from datafast.llms.rate_limits import RateLimitHeaders

# Completion tokens assumed for a request before any answer has shown the real size.
_FIRST_COMPLETION_GUESS = 512
# Seconds' worth of a per-minute limit learned from headers that may go out at once: providers enforce
# their per-minute limits over shorter windows.
_LEARNED_BURST_S = 1.0


class Lane:
    """One endpoint of a provider: its concurrency, its request and token buckets (set by the user, or
    learned from the provider's rate-limit headers when the user set none) and its mean answer size."""

    def __init__(self, provider: LLMProvider) -> None:
        self.provider = provider
        ceiling = provider.max_concurrency if provider.max_concurrency_given else UNBOUNDED_CEILING
        self.concurrency = ConcurrencyLimit(provider.max_concurrency, ceiling)
        self.requests = TokenBucket(provider.rpm_limit) if provider.rpm_limit else None
        self.tokens = TokenBucket(provider.tpm_limit) if provider.tpm_limit else None
        self.sent = 0  # requests sent through this lane
        self.learned_rpm: int | None = None
        self.learned_tpm: int | None = None
        self.mean_completion = float(provider.max_completion_tokens or _FIRST_COMPLETION_GUESS)
        # With no limits given at all, an API that advertises its own gets one request first: its answer's
        # headers pace the rest, instead of a first wave sent blind into the provider's limit. A user who set
        # max_concurrency has chosen the size of that first wave.
        given = provider.rpm_limit or provider.tpm_limit or provider.max_concurrency_given
        self.probing = provider.advertises_rate_limits and not given
        self._opened_limit = self.concurrency.limit
        if self.probing:
            self.concurrency.limit = 1

    def open(self) -> None:
        """The first answer (or failure) is in: the lane opens to its starting concurrency."""
        if self.probing:
            self.probing = False
            self.concurrency.limit = max(self.concurrency.limit, self._opened_limit)

    def estimate_tokens(self, item: WorkItem) -> float:
        return prompt_chars(item.messages) / CHARS_PER_TOKEN + self.mean_completion

    async def pace(self, estimate: float) -> None:
        """Wait for the request and token buckets."""
        if self.requests:
            await self.requests.take(1)
        if self.tokens:
            await self.tokens.take(estimate)

    def answered(self, completion: Completion, estimate: float, seconds: float, sent_since: int) -> None:
        used = completion.prompt_tokens + completion.completion_tokens
        if self.tokens:
            self.tokens.refund(estimate - used)
        self.mean_completion = 0.9 * self.mean_completion + 0.1 * completion.completion_tokens
        self.concurrency.answered(seconds)
        if completion.limits is not None:
            self.learn(completion.limits, sent_since)

    def learn(self, limits: RateLimitHeaders, sent_since: int) -> None:
        """Pace by the limits the provider advertises, where the user set none: a bucket per limit, refilled
        at the advertised rate and never holding more than the provider said was left, less what this lane
        sent after the request that brought the news (the provider had not seen those yet)."""
        if not self.provider.rpm_limit and limits.requests_limit:
            self.requests = self._learned(self.requests, limits.requests_limit, limits.requests_remaining, sent_since)
            self.learned_rpm = limits.requests_limit
        if not self.provider.tpm_limit and limits.tokens_limit:
            tokens_since = sent_since * self.mean_completion
            self.tokens = self._learned(self.tokens, limits.tokens_limit, limits.tokens_remaining, tokens_since)
            self.learned_tpm = limits.tokens_limit

    @staticmethod
    def _learned(bucket: TokenBucket | None, per_minute: int, remaining: int | None, since: float) -> TokenBucket:
        if bucket is None or bucket.per_minute != per_minute:
            bucket = TokenBucket(per_minute, burst=max(1.0, per_minute / 60 * _LEARNED_BURST_S))
        if remaining is not None:
            bucket.hold_at_most(remaining - since)
        return bucket


class LaneGroup:
    """A provider's lanes, one per endpoint. `acquire` waits for a lane with room and takes the one that
    should answer first (fewest requests in flight per unit of its limit, weighted by its latency)."""

    def __init__(self, lanes: list[Lane]) -> None:
        self.lanes = lanes
        self.provider = lanes[0].provider
        self.aborted: str | None = None
        self.last_answer = time.monotonic()  # when it last answered (or when the run started)
        self._condition = asyncio.Condition()

    def _pick(self, now: float) -> Lane | None:
        known = [lane.concurrency.latency for lane in self.lanes if lane.concurrency.latency is not None]
        default = min(known) if known else 1.0
        best, best_score = None, 0.0
        for lane in self.lanes:
            limit = lane.concurrency
            if limit.has_room(now):
                score = (limit.in_flight + 1) / limit.limit * (limit.latency or default)
                if best is None or score < best_score:
                    best, best_score = lane, score
        return best

    def _pause_left(self, now: float) -> float | None:
        paused = [lane.concurrency.paused_until - now for lane in self.lanes if lane.concurrency.paused_until > now]
        return min(paused) if paused else None

    async def acquire(self) -> Lane:
        async with self._condition:
            while True:
                now = time.monotonic()
                lane = self._pick(now)
                if lane is not None:
                    lane.concurrency.in_flight += 1
                    return lane
                pause = self._pause_left(now)
                if pause is None:
                    await self._condition.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._condition.wait(), pause)

    async def release(self, lane: Lane) -> None:
        async with self._condition:
            lane.concurrency.in_flight -= 1
            # One slot freed, or more where the limit has just grown.
            self._condition.notify(max(1, lane.concurrency.limit - lane.concurrency.in_flight))

    def concurrency_range(self) -> tuple[int, int]:
        return (
            min(lane.concurrency.lowest for lane in self.lanes),
            max(lane.concurrency.highest for lane in self.lanes),
        )
