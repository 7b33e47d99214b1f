"""What the engine needs from a dataset type, and the data they exchange.

The engine runs chains of questions without knowing what a dataset type is: it takes a `ChainSource` (any
object with these few methods, in practice a `datafast.datasets.DatasetBase`), asks its `first_asks`, hands
each answer to `on_answer`, and runs the `Ask`s of the `Outcome` that comes back. Dataset types build on
these classes; the engine never imports `datafast.datasets`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

from datafast.schema.cleaning import CleaningConfig
from datafast.schema.config import DatasetConfig
from datafast.schema.data_rows import DatasetRow

if TYPE_CHECKING:
    from datafast.engine.judging import RecordJudge
    from datafast.llms.base import LLMProvider


@dataclass(frozen=True)
class PromptRequest:
    """One rendered prompt, before a provider is chosen: the text, where it came from, and the values the
    dataset type needs to turn the answer into records (`fields`, e.g. the label)."""

    prompt: str
    template: str
    placeholders: dict[str, str]
    language: str
    fields: dict[str, str]
    draw: int


@dataclass(frozen=True)
class Ask:
    """One question a dataset type wants answered.

    `step` names the stage (it is part of the request's key); `role` names which LLM answers (`"llms"`: the
    provider the chain runs with; a multi-role type such as preference names its own roles); `origin` is
    the prompt the chain started from, whose template, placeholders and language every record carries;
    `state` is the type's own data for `on_answer` (earlier answers, the turn number, ...). A chain must be
    reproducible from its answers alone: the same answers give the same asks, so a rerun replays stored
    answers instead of paying for them again."""

    step: str
    messages: list[dict[str, str]]
    response_model: type[BaseModel] | None
    origin: PromptRequest
    role: str = "llms"
    state: Any = None


@dataclass
class Outcome:
    """What one answer gives: records to write now, and the asks that follow it in its chain."""

    records: list[dict[str, Any]] = field(default_factory=list)
    then: list[Ask] = field(default_factory=list)


@dataclass(frozen=True)
class MandatoryCombination:
    """Values for one combination of a dataset type's own dimensions (label × language, ...)."""

    placeholders: dict[str, str]
    language: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class FailedRequest:
    """A request given up after its retries, with the reason; its prompt can be retried by a rerun."""

    request_id: str
    model_id: str
    prompt: str
    kind: str
    reason: str


class ChainSource(Protocol):
    """What a run needs from a dataset type (`datafast.datasets.DatasetBase` is one)."""

    config: DatasetConfig
    record_class: ClassVar[type[DatasetRow]]
    label_field: ClassVar[str | None]
    failures: list[FailedRequest]
    report: dict[str, Any] | None

    def first_asks(self) -> Iterator[Ask]:
        """The first question of every chain, lazily, in a fixed order."""
        ...

    def on_answer(self, ask: Ask, answer: Any, model_id: str) -> Outcome:
        """Records and follow-up asks from one validated answer; ValueError rejects it (asked again)."""
        ...

    def reasoning_step(self, record: Mapping[str, Any]) -> str | None:
        """With `keep_reasoning`: the step whose answer's reasoning trace a record keeps (None: the answer
        that made it)."""
        ...

    def num_requests(self) -> int:
        """Requests one role → provider binding makes in a complete run."""
        ...

    def record_judge(self, bindings: list[dict[str, LLMProvider]]) -> RecordJudge | None:
        """The judge of the run's records (`judge:` in the config; None without one), for these bindings."""
        ...

    def quality_fields(self) -> tuple[str, ...]:
        """The record fields the cleaning rules and the report look at."""
        ...

    def cleaning(self) -> CleaningConfig:
        """The cleaning rules, the type's defaults filled in."""
        ...
