"""Work items: one request to one provider, with the deterministic key that identifies it across runs."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from datafast.llms.base import LLMProvider, Messages
from datafast.llms.structured import strict_schema_json

# Characters per token in English prose, for estimates made before an answer tells the real count.
CHARS_PER_TOKEN = 4


def prompt_chars(messages: Messages) -> int:
    """The characters of a request's messages, for token estimates."""
    return sum(len(str(m.get("content", ""))) for m in messages)


_RECORD_NAMESPACE = uuid.UUID("6f1c8a52-3e0b-4d57-9a4e-0c2f7d9b1e34")


def work_key(
    messages: Messages,
    provider: LLMProvider,
    response_model: type[BaseModel] | None,
    step: str,
    draw: int,
    chain: str | None = None,
) -> str:
    """Hash of everything that determines an answer: rendered messages, model and parameters, response
    schema, step name, the draw number that tells apart repeated samples of one prompt, and for a later
    step of a chain, the chain's first prompt (two chains may reach the same question)."""
    payload: dict[str, Any] = {
        "messages": messages,
        "params": provider.generation_params(),
        "schema": strict_schema_json(response_model) if response_model else None,
        "step": step,
        "draw": draw,
    }
    if chain is not None:
        payload["chain"] = chain
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def record_uuid(key: str, index: int) -> str:
    """The uuid of the `index`-th record a work item produced: stable across reruns."""
    return str(uuid.uuid5(_RECORD_NAMESPACE, f"{key}:{index}"))


@dataclass
class WorkItem:
    """One request for the engine: what to send, to whom, at which step, and the caller's context.
    `attempts` counts the requests sent for it that failed or were answered (not those turned away with a 429),
    `rejections` the answers its observer turned down."""

    key: str
    provider: LLMProvider
    messages: Messages
    response_model: type[BaseModel] | None
    step: str = "generate"
    context: Any = None
    attempts: int = field(default=0)
    rejections: int = field(default=0)
    rate_limit_waits: int = field(default=0)  # 429s in a row: they wait, they are not attempts
    # Tokens and cost of answers paid for but not kept (invalid ones), added to what the store records.
    unkept_prompt_tokens: int = field(default=0)
    unkept_completion_tokens: int = field(default=0)
    unkept_cost_usd: float | None = field(default=None)
    unkept_cached_tokens: int = field(default=0)
    unkept_cache_write_tokens: int = field(default=0)

    def paid_for_nothing(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float | None,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> None:
        self.unkept_prompt_tokens += prompt_tokens
        self.unkept_completion_tokens += completion_tokens
        self.unkept_cached_tokens += cached_tokens
        self.unkept_cache_write_tokens += cache_write_tokens
        if cost_usd is not None:
            self.unkept_cost_usd = (self.unkept_cost_usd or 0.0) + cost_usd
