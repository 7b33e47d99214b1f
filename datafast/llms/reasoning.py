"""Reasoning traces in answers: what a model wrote while thinking, apart from its answer.

LiteLLM's transformations put a provider's reasoning in `message.reasoning_content` (OpenAI-compatible
servers' `reasoning_content` or `reasoning`, Anthropic's thinking blocks, Gemini's thought parts, Ollama's
`thinking`) and split a `<think>...</think>` block that opens the content. What they leave is split here: a
block after leading whitespace, and the DeepSeek-R1 form whose opening tag was in the prompt's template (the
content starts with the reasoning and `</think>` ends it)."""

from __future__ import annotations

import re

_OPENED = re.compile(r"\s*<(think|thinking)>(.*?)</\1>(.*)", re.DOTALL)
_UNOPENED = re.compile(r"(.*?)</think>(.*)", re.DOTALL)


def split_reasoning(text: str) -> tuple[str | None, str]:
    """`(reasoning, answer)` of an answer's text that starts with a think block, else `(None, text)`."""
    opened = _OPENED.match(text)
    if opened:
        return opened.group(2).strip() or None, opened.group(3).lstrip()
    if "</think>" in text:
        unopened = _UNOPENED.match(text)
        # A JSON answer is not reasoning, whatever its strings hold.
        if unopened and not unopened.group(1).lstrip().startswith(("{", "[")):
            return unopened.group(1).strip() or None, unopened.group(2).lstrip()
    return None, text


def tidy_reasoning(reasoning: object) -> str | None:
    """A reasoning trace as kept: its text without surrounding blank lines; None for none or an empty one."""
    if not isinstance(reasoning, str):
        return None
    return reasoning.strip() or None
