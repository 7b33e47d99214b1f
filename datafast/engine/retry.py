"""When to try a failed request again, and how long to wait first."""

from __future__ import annotations

import random
from dataclasses import dataclass

from datafast.llms.failures import CallFailure


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with full jitter for transient failures and rate limits; a server's
    `Retry-After` is honoured when given. An answer that does not validate even after its repair is asked
    again at once, as a fresh request. After `max_attempts` the item is given up and its reason kept.
    An answer the dataset type rejects (valid JSON it cannot use, e.g. a wrong answer that repeats the
    right one) is asked again at once, up to `max_rejections` times, then given up until a rerun. So is an
    answer whose records cleaning would all drop for a sampling accident (see
    `datafast.quality.cleaner.RESAMPLE_REASONS`), except that the last one is taken, its records dropped."""

    max_attempts: int = 6
    max_rejections: int = 2
    base_delay: float = 1.0
    max_delay: float = 60.0
    # 429s are waited out, not counted as attempts: a request gives up only after this long rate-limited.
    max_rate_limit_wait: float = 600.0

    def should_retry(self, failure: CallFailure, attempts: int) -> bool:
        return failure.kind in ("rate_limit", "transient", "invalid_response") and attempts < self.max_attempts

    def delay(self, failure: CallFailure, attempts: int, rng: random.Random) -> float:
        if failure.kind == "invalid_response":  # the server answered; a sampled model answers differently
            return 0.0
        if failure.retry_after is not None:
            return min(max(failure.retry_after, 0.0), self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
        return rng.uniform(ceiling / 2, ceiling)
