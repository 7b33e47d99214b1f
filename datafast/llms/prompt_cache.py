"""Marking the fixed prefix of a request for Anthropic's prompt cache (`cache_control`).

Every prompt datafast renders from a template is a `datafast.expansion.Prompt`, which knows its fixed prefix:
the template's text before its first placeholder, the same in every request made from that template. Anthropic
caches a prompt prefix only where a content block carries `cache_control`; this module turns the first
message's fixed prefix into such a block, the rest of the message into a plain one. One mark is enough: a cache
hit covers everything before the mark (the tools and schema, the system prompt, earlier messages), and the first
message's fixed part is what every request of a step shares. Messages with no fixed prefix (plain strings a
caller wrote) are sent as they are.
"""

from __future__ import annotations

import re
from typing import Any

from datafast.expansion import Prompt

Messages = list[dict[str, Any]]

EPHEMERAL: dict[str, str] = {"type": "ephemeral"}

# Characters per token of English prose, for the estimate a warning needs (no tokenizer at hand).
_CHARS_PER_TOKEN = 4


def fixed_prefix(messages: Messages) -> str:
    """The fixed prefix of the request's first message ("" when it has none)."""
    if not messages:
        return ""
    content = messages[0].get("content")
    return content.fixed_prefix if isinstance(content, Prompt) else ""


def mark_fixed_prefix(messages: Messages) -> tuple[Messages, str]:
    """`messages` with the fixed prefix of the first one in a content block marked with `cache_control`, and the
    text marked; the messages unchanged and "" when there is no fixed prefix (or one of only whitespace, which
    Anthropic refuses as a block)."""
    prefix = fixed_prefix(messages)
    if not prefix.strip():
        return messages, ""
    text = str(messages[0]["content"])
    rest = text[len(prefix) :]
    if rest.strip():
        blocks = [{"type": "text", "text": prefix, "cache_control": EPHEMERAL}, {"type": "text", "text": rest}]
    else:
        prefix = text
        blocks = [{"type": "text", "text": text, "cache_control": EPHEMERAL}]
    return [{**messages[0], "content": blocks}, *messages[1:]], prefix


def min_cacheable_tokens(model_id: str) -> int:
    """The shortest prefix Anthropic caches for the model, in tokens (its documentation, late 2025): 4096 for
    Claude Haiku 4.5 and Opus 4.5 and later, 2048 for the Haiku 3 models and Sonnet 4.6, 1024 for the others."""
    model = model_id.lower()
    if re.search(r"haiku-4|opus-4-[5-9]", model):
        return 4096
    if "haiku" in model or re.search(r"sonnet-4-[6-9]", model):
        return 2048
    return 1024


def estimated_tokens(text: str) -> int:
    return len(text) // _CHARS_PER_TOKEN
