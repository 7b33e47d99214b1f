"""Removing secrets from what datafast publishes (dataset cards, reports)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

# A key is secret when one of its words (split on _, -, . and camelCase) is one of these, or it says api key.
_SECRET_WORDS = frozenset({"token", "secret", "password", "passwd", "apikey", "credential", "credentials", "auth"})
_WORD_SPLIT = re.compile(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])")
REDACTED = "[redacted]"


def is_secret_key(key: str) -> bool:
    """True for key names like api_key, apiKey, HF_TOKEN, client_secret, password (not max_tokens)."""
    parts = [p.lower() for p in _WORD_SPLIT.split(key) if p]
    joined = "".join(parts)
    return "apikey" in joined or any(p in _SECRET_WORDS for p in parts)


def secret_env_values(environ: dict[str, str] | None = None) -> set[str]:
    """Values of environment variables whose names are secret (OPENAI_API_KEY, HF_TOKEN, ...), 8+ chars."""
    env = os.environ if environ is None else environ
    return {value for name, value in env.items() if is_secret_key(name) and len(value) >= 8}


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of `value` without secrets: keys named like secrets are dropped at any depth, and any string
    containing one of `secrets` has it replaced by "[redacted]"."""
    known = [s for s in secrets if s]
    if isinstance(value, dict):
        return {k: redact(v, known) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list | tuple):
        return [redact(v, known) for v in value]
    if isinstance(value, str):
        for secret in known:
            value = value.replace(secret, REDACTED)
    return value
