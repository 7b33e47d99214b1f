"""Reading any record dict generically: which fields hold its text, and the text itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Fields that hold the main text of the known record types, most likely first.
TEXT_FIELD_GUESSES: tuple[tuple[str, ...], ...] = (
    ("text",),
    ("messages",),
    ("question", "chosen_response", "rejected_response"),
    ("question",),
)


def guess_text_fields(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The text field(s) of a record: `text` when present, else `messages` (chat), else the question and
    responses (preference), else the longest string field."""
    for fields in TEXT_FIELD_GUESSES:
        if all(f in record for f in fields):
            return fields
    strings = [(len(v), k) for k, v in record.items() if isinstance(v, str)]
    return (max(strings)[1],) if strings else ()


def text_fields_from(text_field: str | Sequence[str] | None, first: Mapping[str, Any] | None) -> tuple[str, ...]:
    if text_field is None:
        return guess_text_fields(first) if first is not None else ("text",)
    if isinstance(text_field, str):
        return (text_field,)
    return tuple(text_field)


def record_text(record: Mapping[str, Any], fields: Sequence[str]) -> str:
    """The record's text over `fields`, joined by newlines: strings as they are, chat messages by their
    `content`, lists of strings joined. A missing field adds nothing."""
    parts: list[str] = []
    for field in fields:
        value = record.get(field)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    parts.append(item)
                elif isinstance(item, Mapping) and isinstance(item.get("content"), str):
                    parts.append(item["content"])
    return "\n".join(parts)
