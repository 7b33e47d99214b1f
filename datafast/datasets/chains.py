"""Helpers shared by the multi-step dataset types (chat, preference): numbering chains, seeded choices,
small response models and rendering a later step's prompt."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from pydantic import BaseModel, Field, create_model

from datafast.datasets.base import PromptRequest
from datafast.expansion import PromptTemplate
from datafast.quality.cleaner import EMPTY, FRAGMENT, NOT_TEXT, RecordCleaner
from datafast.schema.cleaning import CleaningConfig


def numbered(requests: Iterable[PromptRequest]) -> Iterator[PromptRequest]:
    """The requests with `draw` set to their position in the run, so that two first prompts that render
    to the same text (a template that leaves out `{topic}`, a document listed twice) stay two chains."""
    for i, request in enumerate(requests):
        yield replace(request, draw=i)


def branch(origin: PromptRequest, index: int, per_origin: int) -> PromptRequest:
    """The origin of the `index`-th chain a first answer starts (one per question it wrote). Its `draw` is
    unique among the branches of every origin with the same prompt, so each branch's later steps have
    their own keys even when two branches reach the same text."""
    return replace(origin, draw=origin.draw * per_origin + index)


def seeded_rng(seed: int, origin: PromptRequest, index: int) -> random.Random:
    """A generator for the choices of one chain (persona, number of turns), from stable values only: the
    same config gives the same choices on every run, before any answer is known."""
    return random.Random(f"{seed}:{origin.prompt}:{origin.draw}:{index}")


def entries_model(name: str, n: int, what: str) -> type[BaseModel]:
    """`{"entries": [str, ...]}` with exactly `n` entries."""
    return create_model(name, entries=(list[str], Field(min_length=n, max_length=n, description=f"exactly {n} {what}")))


def text_model(name: str, field: str, description: str) -> type[BaseModel]:
    """A response with one text field."""
    return create_model(name, **{field: (str, Field(description=description))})  # type: ignore[call-overload]


def render(template: str, values: Mapping[str, str]) -> str:
    """A later step's prompt with its `{placeholders}` filled literally (configs are checked first)."""
    return PromptTemplate.parse(template).render(values, {})


def clean(text: str, what: str, cleaning: CleaningConfig | None = None) -> str:
    """`text` stripped; an empty answer is rejected so that it is asked again. Given the dataset's
    `cleaning`, so is a text its empty, not-text or fragment rule would drop (emoji only, a date, a code, a
    bare name where a message was asked for): cleaning sees a chain's text only in its record, too late to ask again."""
    text = text.strip()
    if not text:
        raise ValueError(f"the {what} is empty")
    if cleaning is not None:
        reason = RecordCleaner(cleaning).flaw(text)
        if reason in (EMPTY, NOT_TEXT, FRAGMENT):
            raise ValueError(f"the {what} is not prose ({reason}): {text[:80]!r}")
    return text
