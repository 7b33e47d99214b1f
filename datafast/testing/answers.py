"""Turn a parsed request and a chosen fault into the answer text the server sends back."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datafast.testing import words
from datafast.testing.schema_faker import SchemaFaker


@dataclass(slots=True)
class ParsedRequest:
    """The protocol-independent part of a generation request."""

    model: str
    prompt_text: str
    schema: dict[str, Any] | None = None
    json_mode: bool = False
    max_tokens: int | None = None
    tool_name: str | None = None
    stream: bool = False
    # The sampling parameters the request carried, under its wire format's names (temperature, top_p,
    # frequency_penalty, reasoning_effort, ...): logged so that tests can see what reached the server.
    params: dict[str, Any] = field(default_factory=dict)
    usage_cost: bool = False  # OpenRouter: the request asks for its cost in the answer's usage
    # Texts of the content blocks marked with `cache_control` (Anthropic's prompt-cache marks), in order.
    cache_marked: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Answer:
    """What to send back: ``text`` always; ``data`` is the structured value for tool-call replies.

    ``truncated``: the protocol's length finish reason must be used. ``malformed``: ``text`` is not JSON.
    """

    text: str
    data: Any = None
    truncated: bool = False
    malformed: bool = False
    prompt_tokens: int = 1
    completion_tokens: int = 1
    cached_tokens: int | None = None  # prompt tokens read from the cache; None: report no cache fields
    reasoning: str | None = None  # the reasoning trace sent with the answer (its tokens are in completion_tokens)
    reasoning_tokens: int = 0
    think_tags: bool = False  # the reasoning opens the text in a <think> block, not a field of its own


def estimate_tokens(text: str) -> int:
    """Rough token count: a quarter of the characters, at least 1."""
    return max(1, len(text) // 4)


def malformed_text(text: str) -> str:
    """A reply that looks like a chatty model's JSON but fails ``json.loads`` even after trimming prose."""
    body = text.replace('"', "'")
    return f"Sure! Here is the JSON you asked for:\n{body[:-1]},\n}}\nLet me know if you need anything else."


def replace_free_text(data: Any, replacement: Callable[[], str]) -> Any:
    """`data` with every free-text string (over 20 characters: short ones may be enum values) replaced."""
    if isinstance(data, dict):
        return {k: replace_free_text(v, replacement) for k, v in data.items()}
    if isinstance(data, list):
        return [replace_free_text(v, replacement) for v in data]
    if isinstance(data, str) and len(data) > 20:
        return replacement()
    return data


def junk_text(rng: random.Random) -> str:
    """A timestamp or a product code, as small models sometimes write for prose; at most 20 characters."""
    if rng.random() < 0.5:
        return f"{rng.randint(2000, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(10, 28)}T{rng.randint(10, 23)}:14"
    return f"SKU {rng.randint(1000, 9999)}-{rng.randint(10**7, 10**8 - 1)}"


def reasoning_trace(rng: random.Random) -> str:
    """A model's thinking before its answer, in English (as reasoning models mostly think)."""
    return "Let me think this through. " + words.paragraph(rng, 3) + " So the answer follows."


def build_answer(
    req: ParsedRequest,
    fault: str,
    rng: random.Random,
    faker: SchemaFaker,
    honor_max_tokens: bool = True,
    reasoning: bool = False,
) -> Answer:
    """Build the answer for ``req`` under ``fault`` (``ok`` and the HTTP-level faults leave it as it is), with a
    reasoning trace when ``reasoning`` (drawn after the answer: the answer is the same either way)."""
    data: Any = None
    with words.writing_in(words.vocabulary_for(req.prompt_text)):
        if req.schema is not None:
            data = faker.generate(req.schema, rng)
            if fault == "junk":
                data = replace_free_text(data, lambda: junk_text(rng))
            elif fault == "empty":
                data = replace_free_text(data, str)
            text = json.dumps(data)
        elif req.json_mode or req.tool_name is not None:
            data = {"answer": words.paragraph(rng, 2)}
            text = json.dumps(data)
        else:
            text = words.paragraph(rng, 2)
    structured = req.schema is not None or req.json_mode or req.tool_name is not None
    answer = Answer(text=text, data=data if req.tool_name is not None else None)
    over_limit = honor_max_tokens and req.max_tokens is not None and estimate_tokens(text) > req.max_tokens
    if fault == "truncated" or over_limit:
        limit = len(text) // 2 if fault == "truncated" else max(1, req.max_tokens or 1) * 4
        answer.text = text[: max(1, min(limit, len(text) - 1))]
        answer.truncated = True
        if isinstance(answer.data, dict):
            keys = list(answer.data)[: len(answer.data) // 2]
            answer.data = {k: answer.data[k] for k in keys}
    elif fault == "malformed":
        answer.text = malformed_text(text) if structured else f"{text} {{'unterminated"
        answer.malformed = True
        answer.data = None
    answer.prompt_tokens = estimate_tokens(req.prompt_text)
    answer.completion_tokens = estimate_tokens(answer.text)
    if reasoning:
        answer.reasoning = reasoning_trace(rng)
        answer.reasoning_tokens = estimate_tokens(answer.reasoning)
        answer.completion_tokens += answer.reasoning_tokens
    return answer


def cached_tokens(prompt_tokens: int, share: float | None) -> int | None:
    """Prompt tokens reported as cached for ``share`` (``None`` when the server reports no cache fields)."""
    return None if share is None else int(prompt_tokens * share)
