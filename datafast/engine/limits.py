"""Per-provider limits: adaptive concurrency that backs off on 429, and token buckets for requests and
tokens per minute."""

from __future__ import annotations

import asyncio
import time


class AdaptiveConcurrency:
    """At most `limit` requests in flight. A 429 halves the limit (once per `cooldown` seconds) and, with a
    Retry-After, pauses every new request until it has passed; each run of `limit` successes in a row
    raises the limit by one again, up to `maximum`."""

    def __init__(self, maximum: int, cooldown: float = 1.0) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self.paused_until = 0.0
        self.cooldown = cooldown
        self._streak = 0
        self._last_cut = -float("inf")
        self._condition = asyncio.Condition()

    async def acquire(self) -> None:
        while True:
            delay = self.paused_until - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            async with self._condition:
                while self.in_flight >= self.limit:
                    await self._condition.wait()
                if self.paused_until > time.monotonic():
                    continue
                self.in_flight += 1
                return

    async def release(self, *, succeeded: bool, rate_limited: bool, retry_after: float | None = None) -> None:
        async with self._condition:
            self.in_flight -= 1
            now = time.monotonic()
            if rate_limited:
                self._streak = 0
                if now - self._last_cut >= self.cooldown:
                    self.limit = max(1, self.limit // 2)
                    self._last_cut = now
                if retry_after:
                    self.paused_until = max(self.paused_until, now + retry_after)
            elif succeeded:
                self._streak += 1
                if self._streak >= self.limit and self.limit < self.maximum:
                    self.limit += 1
                    self._streak = 0
            self._condition.notify_all()


class TokenBucket:
    """`per_minute` units a minute, refilled continuously, with a burst of at most `burst` units.
    `take` waits until the units are there; `refund` corrects an estimate once the real count is known
    (a negative refund is a debt that later takers wait for)."""

    def __init__(self, per_minute: int, burst: float | None = None) -> None:
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
