"""The request log and counters kept by the test server."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_hash(model: str, prompt_text: str) -> str:
    """The ``prompt_hash`` logged for a request: SHA-256 of ``model + "\\n" + prompt_text``."""
    return sha256_hex(f"{model}\n{prompt_text}")


def key_hash(api_key: str) -> str:
    """The ``api_key_sha256`` logged for a request sent with ``api_key`` (``Bearer `` prefix removed)."""
    return sha256_hex(api_key)


@dataclass(slots=True)
class RequestRecord:
    """One generation request as the server saw it.

    ``start``/``end`` are ``time.monotonic()`` values of the serving process (``end`` is ``None`` while the
    request is in flight). ``prompt_text`` and ``content`` are empty when ``log_bodies`` is off.
    ``api_key_sha256`` is the SHA-256 of the key sent (see :func:`key_hash`), never the key itself.
    ``rate_limited`` marks a 429 sent because ``rpm_limit``/``tpm_limit`` or ``max_concurrent_requests`` was
    exceeded (its ``outcome`` is
    ``"429"``, as for an injected one). ``params`` are the request's sampling parameters under its wire
    format's names (``temperature``, ``frequency_penalty``, ``reasoning_effort``, Gemini's ``topP``, ...).
    ``cache_marked`` are the texts of the content blocks the request marked with ``cache_control`` (Anthropic's
    prompt-cache marks; OpenAI-format requests may carry them too), in order; empty when there are none or
    ``log_bodies`` is off. ``reasoning`` is the reasoning trace sent with the answer (``ServerBehavior.reasoning``;
    None without one or when ``log_bodies`` is off).
    """

    seq: int
    start: float
    protocol: str
    path: str
    model: str = ""
    prompt_text: str = ""
    prompt_hash: str = ""
    schema_requested: bool = False
    max_tokens: int | None = None
    outcome: str = "ok"
    content: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    has_auth: bool = False
    api_key_sha256: str | None = None
    rate_limited: bool = False
    status: int = 0
    end: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    cache_marked: list[str] = field(default_factory=list)
    reasoning: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds between arrival and answer (``None`` while in flight)."""
        return None if self.end is None else self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of all fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class ServerStats:
    """Counters since start or the last reset; they run even when records are not kept.

    ``by_outcome["429"]`` counts every 429 sent, injected or not; ``rate_limited`` the part of them sent
    because ``rpm_limit``/``tpm_limit`` or ``max_concurrent_requests`` was exceeded.
    """

    total: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    by_protocol: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    control_requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of all fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerStats:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
