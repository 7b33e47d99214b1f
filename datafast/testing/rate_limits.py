"""Provider-style rate limits for the test server: token buckets, and the headers that advertise them.

Both OpenAI and Anthropic document per-minute limits that are enforced over shorter intervals (a per-minute
limit may be applied as its per-second share), with capacity replenished continuously rather than reset at
the top of each minute. The server models that with one token bucket per limit: it holds ``burst_s``
seconds' worth of the limit, starts full and refills continuously at ``limit / 60`` per second. So a client
that paces itself at the advertised rate never sees a 429, while one that bursts past the bucket does, well
before it has sent a minute's worth of requests.

Requests are counted on arrival. Tokens are counted as the server's own usage figures: the prompt's tokens
are taken on arrival (a request is let in only if the bucket holds them) and the answer's tokens once it
is built, which may leave the bucket in debt until it refills.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

LimitKind = Literal["requests", "tokens"]

_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class BucketState:
    """One limit as a response advertises it.

    ``limit`` is the per-minute limit; ``remaining`` what the bucket holds now (whole units, never below 0);
    ``reset_s`` the seconds until the bucket is full again.
    """

    limit: int
    remaining: int
    reset_s: float


@dataclass(frozen=True, slots=True)
class LimitState:
    """The state of both limits; a limit that is not set is ``None``."""

    requests: BucketState | None
    tokens: BucketState | None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request was turned away: which limit, and the seconds until the bucket can take it."""

    kind: LimitKind
    limit: int
    wait_s: float


class TokenBucket:
    """A bucket of ``per_minute * burst_s / 60`` units (at least 1), full at start, refilled continuously."""

    def __init__(self, per_minute: int, burst_s: float, now: float) -> None:
        self.limit = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute * burst_s / 60.0)
        self.level = self.capacity
        self._updated = now

    def refill(self, now: float) -> None:
        """Add what has trickled in since the last call."""
        if now > self._updated:
            self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
            self._updated = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until the bucket holds ``amount`` (capped at its capacity); 0 if it already does."""
        self.refill(now)
        missing = min(amount, self.capacity) - self.level
        return 0.0 if missing <= _EPSILON else missing / self.rate

    def take(self, amount: float, now: float) -> None:
        """Remove ``amount``; the level may go below zero (a debt that refilling pays off first)."""
        self.refill(now)
        self.level -= amount

    def state(self, now: float) -> BucketState:
        """What a response advertises about this bucket."""
        self.refill(now)
        remaining = max(0, math.floor(self.level + _EPSILON))
        return BucketState(self.limit, remaining, max(0.0, self.capacity - self.level) / self.rate)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits of one server; either may be ``None`` (no limit).

    Use from one thread (the server's event loop). ``clock`` is a monotonic clock in seconds.
    """

    def __init__(
        self,
        rpm_limit: int | None,
        tpm_limit: int | None,
        burst_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        now = clock()
        self.requests = TokenBucket(rpm_limit, burst_s, now) if rpm_limit else None
        self.tokens = TokenBucket(tpm_limit, burst_s, now) if tpm_limit else None

    def admit(self, prompt_tokens: int) -> Rejection | None:
        """Let one request with ``prompt_tokens`` in (taking them) or say why not (taking nothing)."""
        now = self._clock()
        checks: tuple[tuple[LimitKind, TokenBucket | None, int], ...] = (
            ("requests", self.requests, 1),
            ("tokens", self.tokens, prompt_tokens),
        )
        rejections = [
            Rejection(kind, bucket.limit, wait)
            for kind, bucket, amount in checks
            if bucket is not None and (wait := bucket.wait_for(amount, now)) > 0
        ]
        if rejections:
            return max(rejections, key=lambda r: r.wait_s)
        if self.requests is not None:
            self.requests.take(1, now)
        if self.tokens is not None:
            self.tokens.take(prompt_tokens, now)
        return None

    def charge_tokens(self, tokens: int) -> None:
        """Count tokens used after admission (the answer's)."""
        if self.tokens is not None:
            self.tokens.take(tokens, self._clock())

    def state(self) -> LimitState:
        """Both limits as responses advertise them now."""
        now = self._clock()
        return LimitState(
            self.requests.state(now) if self.requests is not None else None,
            self.tokens.state(now) if self.tokens is not None else None,
        )


# -- headers ------------------------------------------------------------------------------------------------


def go_duration(seconds: float) -> str:
    """A duration as OpenAI writes its reset headers: ``0s``, ``120ms``, ``8.64s``, ``6m0s``, ``1h2m3s``."""
    total_ms = max(0, math.ceil(seconds * 1000 - _EPSILON))
    if total_ms == 0:
        return "0s"
    if total_ms < 1000:
        return f"{total_ms}ms"
    hours, rest_ms = divmod(total_ms, 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    secs = f"{rest_ms / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def rfc3339_in(seconds: float, now: datetime | None = None) -> str:
    """The UTC time ``seconds`` from ``now``, rounded up to the whole second, as ``2025-01-01T00:00:05Z``."""
    moment = (now or datetime.now(UTC)) + timedelta(seconds=seconds)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def openai_headers(state: LimitState) -> dict[str, str]:
    """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` for the limits that are set."""
    headers: dict[str, str] = {}
    for kind, bucket in (("requests", state.requests), ("tokens", state.tokens)):
        if bucket is not None:
            headers[f"x-ratelimit-limit-{kind}"] = str(bucket.limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(bucket.remaining)
            headers[f"x-ratelimit-reset-{kind}"] = go_duration(bucket.reset_s)
    return headers


def anthropic_headers(state: LimitState) -> dict[str, str]:
    """``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` (reset as an RFC 3339 time)."""
    headers: dict[str, str] = {}
    now = datetime.now(UTC)
    for kind, bucket in (("requests", state.requests), ("tokens", state.tokens)):
        if bucket is not None:
            headers[f"anthropic-ratelimit-{kind}-limit"] = str(bucket.limit)
            headers[f"anthropic-ratelimit-{kind}-remaining"] = str(bucket.remaining)
            headers[f"anthropic-ratelimit-{kind}-reset"] = rfc3339_in(bucket.reset_s, now)
    return headers


LIMIT_HEADERS: dict[str, Callable[[LimitState], dict[str, str]]] = {
    "openai": openai_headers,
    "anthropic": anthropic_headers,
}
"""Header writers by protocol name; Gemini and Ollama advertise no limits (only ``Retry-After`` on a 429)."""


def retry_headers(wait_s: float) -> dict[str, str]:
    """``Retry-After`` (whole seconds, rounded up, at least 1) and ``retry-after-ms`` (at least 1)."""
    seconds = max(1, math.ceil(wait_s - _EPSILON))
    millis = max(1, math.ceil(wait_s * 1000 - _EPSILON))
    return {"Retry-After": str(seconds), "retry-after-ms": str(millis)}
