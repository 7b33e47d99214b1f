"""Per-endpoint limits: a concurrency limit that grows while the provider keeps up and backs off on 429,
and token buckets for requests and tokens per minute."""

from __future__ import annotations

import asyncio
import math
import time

# How far concurrency may grow when neither the user nor the provider's headers set a ceiling.
UNBOUNDED_CEILING = 256


class ConcurrencyLimit:
    """How many requests an endpoint may have in flight: the bookkeeping only (the lane group waits).

    It starts at `start`. Each run of `ceil(limit / 8)` answers in a row without a 429, while the answers'
    latency stays within 1.5x of the best seen, adds one (additive increase) up to `ceiling`. A 429 takes
    a quarter off (at most once per `cooldown` seconds, so a burst of 429s from one wave counts once) and,
    with a Retry-After, pauses new requests until it has passed."""

    def __init__(self, start: int, ceiling: int, cooldown: float = 2.0) -> None:
        self.limit = max(1, min(start, ceiling))
        self.ceiling = ceiling
        self.in_flight = 0
        self.paused_until = 0.0
        self.cooldown = cooldown
        self.lowest = self.limit
        self.highest = self.limit
        self.latency: float | None = None  # moving average of answered requests' seconds
        self._best_latency = math.inf
        self._streak = 0
        self._last_cut = -math.inf

    def has_room(self, now: float) -> bool:
        return self.in_flight < self.limit and self.paused_until <= now

    def answered(self, seconds: float) -> None:
        """An answer came back after `seconds`."""
        self.latency = seconds if self.latency is None else 0.9 * self.latency + 0.1 * seconds
        self._best_latency = min(self._best_latency, self.latency)
        self._streak += 1
        keeping_up = self.latency <= 1.5 * self._best_latency
        if keeping_up and self._streak >= math.ceil(self.limit / 8) and self.limit < self.ceiling:
            self.limit += 1
            self.highest = max(self.highest, self.limit)
            self._streak = 0

    def rate_limited(self, retry_after: float | None, now: float) -> None:
        """A 429: back off by a quarter, and pause for the server's Retry-After."""
        self._streak = 0
        if now - self._last_cut >= self.cooldown:
            self.limit = max(1, self.limit - max(1, self.limit // 4))
            self.lowest = min(self.lowest, self.limit)
            self._last_cut = now
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)


class TokenBucket:
    """`per_minute` units a minute, refilled continuously, with a burst of at most `burst` units.
    `take` waits until the units are there; `refund` corrects an estimate once the real count is known
    (a negative refund is a debt that later takers wait for)."""

    def __init__(self, per_minute: int, burst: float | None = None) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, burst if burst is not None else per_minute / 12)
        self.tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def take(self, amount: float) -> None:
        amount = min(amount, self.capacity)
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                if self.tokens >= amount:
                    self.tokens -= amount
                    return
                await asyncio.sleep((amount - self.tokens) / self.rate)

    def refund(self, amount: float) -> None:
        self._refill()
        self.tokens = min(self.capacity, self.tokens + amount)

    def hold_at_most(self, amount: float) -> None:
        """What the provider says is left (its `remaining` header): never hold more than that."""
        self._refill()
        self.tokens = min(self.tokens, max(0.0, amount))
