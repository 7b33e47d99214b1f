"""The rate limits a provider advertises in its response headers (OpenAI's `x-ratelimit-*`, Anthropic's
`anthropic-ratelimit-*`), read so that the engine can pace a run without being told the account's tier."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RateLimitHeaders:
    """Per-minute limits and what is left of them, as one response reported them; None where not sent."""

    requests_limit: int | None = None
    requests_remaining: int | None = None
    requests_reset_s: float | None = None
    tokens_limit: int | None = None
    tokens_remaining: int | None = None
    tokens_reset_s: float | None = None

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> RateLimitHeaders | None:
        """The limits in these headers (names compared case-insensitively), or None when there are none."""
        if "x-ratelimit-limit-requests" in headers or "x-ratelimit-limit-tokens" in headers:
            prefix, reset = "x-ratelimit-{}-{}", _duration_seconds
        elif "anthropic-ratelimit-requests-limit" in headers or "anthropic-ratelimit-tokens-limit" in headers:
            prefix, reset = "anthropic-ratelimit-{1}-{0}", _timestamp_seconds
        else:
            return None

        def number(what: str, kind: str) -> int | None:
            value = headers.get(prefix.format(what, kind))
            try:
                return int(float(value)) if value is not None else None
            except ValueError:
                return None

        def until(kind: str) -> float | None:
            value = headers.get(prefix.format("reset", kind))
            return reset(value) if value else None

        return cls(
            number("limit", "requests"),
            number("remaining", "requests"),
            until("requests"),
            number("limit", "tokens"),
            number("remaining", "tokens"),
            until("tokens"),
        )


def _duration_seconds(value: str) -> float | None:
    """OpenAI's reset durations: `1s`, `6m0s`, `120ms`, `0.5s`; a bare number is seconds."""
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if not parts:
        return None
    return sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)


def _timestamp_seconds(value: str) -> float | None:
    """Anthropic's resets are RFC 3339 times: the seconds from now until then (never negative)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, moment.timestamp() - time.time())
