"""How a failed LLM call is classified, so the engine knows whether to wait, retry or give up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datafast.llms.rate_limits import RateLimitHeaders

FailureKind = Literal["rate_limit", "transient", "invalid_response", "fatal"]


@dataclass
class CallFailure(Exception):
    """A request that did not produce a usable answer.

    `kind` tells the engine what to do: `rate_limit` (wait `retry_after` seconds or back off, then retry),
    `transient` (timeout, 5xx, dropped connection: back off and retry), `invalid_response` (the answer did
    not validate even after the repair retry: asked again at once, like a transient failure) or `fatal` (bad
    key, bad request: retrying cannot help).
    """

    kind: FailureKind
    message: str
    retry_after: float | None = None
    status_code: int | None = None
    limits: RateLimitHeaders | None = None  # the provider's rate limits, when its error response told them
    # What answers that could not be used cost (an invalid answer and its repair were paid for all the same).
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    def __str__(self) -> str:
        return self.message


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
