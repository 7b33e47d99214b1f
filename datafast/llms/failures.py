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
    not validate even after the repair retry) or `fatal` (bad key, bad request: retrying cannot help).
    """

    kind: FailureKind
    message: str
    retry_after: float | None = None
    status_code: int | None = None
    limits: RateLimitHeaders | None = None  # the provider's rate limits, when its error response told them

    def __str__(self) -> str:
        return self.message


def classify_litellm_error(exc: Exception, secrets: tuple[str, ...]) -> CallFailure:
    """Map a LiteLLM/OpenAI-SDK exception to a CallFailure, with every secret scrubbed from the message."""
    import litellm

    message = redact(f"{type(exc).__name__}: {exc}", secrets)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, litellm.RateLimitError) or status == 429:
        return CallFailure("rate_limit", message, _retry_after(exc), 429)
    if isinstance(exc, litellm.Timeout | litellm.APIConnectionError):
        return CallFailure("transient", message, None, status)
    if isinstance(exc, litellm.ContextWindowExceededError | litellm.ContentPolicyViolationError):
        return CallFailure("fatal", message, None, status)
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError | litellm.NotFoundError):
        return CallFailure("fatal", message, None, status)
    if isinstance(exc, litellm.BadRequestError) or (isinstance(status, int) and 400 <= status < 500):
        if status in (408, 409):
            return CallFailure("transient", message, None, status)
        return CallFailure("fatal", message, None, status)
    # 5xx, service unavailable, bad gateway, and errors raised while reading a broken response.
    return CallFailure("transient", message, None, status)


def _retry_after(exc: Exception) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name in ("retry-after-ms", "retry-after"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            continue
        return seconds / 1000 if name == "retry-after-ms" else seconds
    return None


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
