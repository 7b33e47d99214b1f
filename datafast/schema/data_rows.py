"""Record models: one validated row of a generated dataset, as written to JSONL.

The module keeps Datafast 0.0.36's names (`datafast.schema.data_rows`): its row models, their source enums
(`LabelSource`, `TextSource`, `MCQSource`, `PreferenceSource`, `GenericPipelineSource`) and fields
(`label_source`, `confidence_scores`, `metadata`, ...). A row can be built as 0.0.36 built it
(`TextClassificationRow(text=..., label=...)`): the fields datafast adds have defaults, and a field 0.0.36 kept
in `metadata` (a document's type and topic, a conversation's domain, topic and subtopic) is read from there
when it is not given. `is_v0036_line` tells a line 0.0.36 wrote from one datafast wrote. The records of a
run with `keep_reasoning` have one more field, `reasoning`, last: read them with `with_reasoning(RowModel)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Any, Self, TypeVar, cast
from uuid import UUID, uuid4

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)


class LabelSource(StrEnum):
    """Who gave a classification record its label; datafast's records are `synthetic`."""

    SYNTHETIC = "synthetic"
    VERIFIED = "verified"
    HUMAN = "human"
    CONSENSUS = "consensus"


class TextSource(StrEnum):
    """Who wrote a raw-text record; datafast's records are `synthetic`."""

    SYNTHETIC = "synthetic"
    VERIFIED = "verified"
    HUMAN = "human"
    CONSENSUS = "consensus"


class MCQSource(StrEnum):
    """Who wrote a multiple-choice question; datafast's records are `synthetic`."""

    SYNTHETIC = "synthetic"
    VERIFIED = "verified"
    HUMAN = "human"
    CONSENSUS = "consensus"


class PreferenceSource(StrEnum):
    """Who made a preference pair; datafast's records are `synthetic`."""

    SYNTHETIC = "synthetic"
    VERIFIED = "verified"
    HUMAN = "human"
    CONSENSUS = "consensus"


class GenericPipelineSource(StrEnum):
    """Who wrote a generic pipeline's outputs; datafast's records are `synthetic`."""

    SYNTHETIC = "synthetic"
    VERIFIED = "verified"
    HUMAN = "human"
    CONSENSUS = "consensus"


# The label types 0.0.36 declared; datafast's classification records have one label, a string.
LabelType = str | list[str] | list[int]

# Fields only datafast writes (0.0.36's rows had none of them), and fields every 0.0.36 row had.
DATAFAST_ONLY_FIELDS = frozenset({"request_id", "dataset_type", "prompt_template", "placeholders"})
V0036_COMMON_FIELDS = frozenset({"uuid", "language", "metadata"})
# The judge's verdict on a record (`judge:` in a config): written only when a judge ran.
_JUDGE_FIELDS = ("judge_scores", "judge_reason")
# Fields a row made by hand or by 0.0.36 may give as None, meaning "not known": their default is used.
_NONE_IS_DEFAULT = ("model_id", "language")


def is_v0036_line(line: Mapping[str, Any]) -> bool:
    """Whether a JSONL line has the shape of a record Datafast 0.0.36 wrote: `uuid`, `language` and `metadata`
    (every 0.0.36 row had them) and none of the fields only datafast writes."""
    return line.keys() >= V0036_COMMON_FIELDS and not DATAFAST_ONLY_FIELDS & line.keys()


def _new_uuid() -> str:
    return str(uuid4())


def _from_metadata(data: Any, names: tuple[str, ...]) -> Any:
    """`data` with each of `names` that it does not give taken from its `metadata`, where 0.0.36 kept it."""
    if not isinstance(data, Mapping):
        return data
    metadata = data.get("metadata")
    if not isinstance(metadata, Mapping):
        return data
    found = {name: metadata[name] for name in names if name not in data and name in metadata}
    return {**data, **found} if found else data


class DatasetRow(BaseModel):
    """Fields every record carries, whatever the dataset type.

    `uuid` is derived from the request that produced the record (`request_id`), so a rerun reproduces
    it; `prompt_template` and `placeholders` say exactly which prompt the record came from. A record a run
    writes has them all; a row built by hand (or read from a Datafast 0.0.36 output) gets defaults: a random
    uuid, empty strings.

    A run with a judge (`judge:` in its config) gives each record the judge's `judge_scores` (criterion ->
    score) and `judge_reason`; they are written last, and only when set, so other runs' files are as
    they were without them.
    """

    model_config = ConfigDict(extra="forbid")

    uuid: str = Field(default_factory=_new_uuid)
    request_id: str = ""
    dataset_type: str = ""
    model_id: str = ""
    language: str = ""
    prompt_template: str = ""
    placeholders: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    judge_scores: dict[str, int] | None = None
    judge_reason: str | None = None

    @model_serializer(mode="wrap")
    def _judge_fields_last(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in _JUDGE_FIELDS:
            value = data.pop(name, None)
            if value is not None:
                data[name] = value
        return data

    @field_validator("uuid", mode="before")
    @classmethod
    def _uuid_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, UUID) else value

    @model_validator(mode="before")
    @classmethod
    def _none_is_default(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and any(data.get(name, "") is None for name in _NONE_IS_DEFAULT):
            return {k: v for k, v in data.items() if not (v is None and k in _NONE_IS_DEFAULT)}
        return data


Row = TypeVar("Row", bound=DatasetRow)


@lru_cache(maxsize=64)
def with_reasoning(record_class: type[Row]) -> type[Row]:
    """`record_class` with one more field, last: `reasoning`, the reasoning trace of the answer a record came
    from (None where the provider returned none). The records of a run with `keep_reasoning` have it; those of
    other runs do not have the key at all, so their files are as they were without it."""
    model = create_model(
        record_class.__name__,
        __base__=record_class,
        __module__=record_class.__module__,
        __doc__=record_class.__doc__,
        reasoning=(str | None, Field(default=None, description="the model's reasoning trace")),
    )
    return cast(type[Row], model)


class TextClassificationRow(DatasetRow):
    """A text and its class label (and, as in 0.0.36, where the label came from and optional scores)."""

    dataset_type: str = "text_classification"
    text: str = Field(min_length=1)
    label: str
    label_source: LabelSource = LabelSource.SYNTHETIC
    confidence_scores: dict[str, float] | None = Field(default_factory=dict)


class TextRow(DatasetRow):
    """A generated document with the document type and topic it was asked for."""

    dataset_type: str = "raw_text"
    text: str = Field(min_length=1)
    document_type: str = ""
    topic: str = ""
    text_source: TextSource = TextSource.SYNTHETIC

    @model_validator(mode="before")
    @classmethod
    def _v0036_metadata(cls, data: Any) -> Any:
        return _from_metadata(data, ("document_type", "topic"))


class ChatRow(DatasetRow):
    """A multi-turn conversation in the standard chat format: `messages` alternate user and assistant,
    starting with the user and ending with the assistant's answer, ready for supervised fine-tuning.
    `num_turns` defaults to the turns `messages` hold."""

    dataset_type: str = "ultrachat"
    messages: list[dict[str, str]] = Field(min_length=2)
    opening_question: str = Field(min_length=1)
    persona: str
    domain: str = ""
    topic: str = ""
    subtopic: str = ""
    num_turns: int = Field(ge=1)

    @model_validator(mode="before")
    @classmethod
    def _v0036_metadata(cls, data: Any) -> Any:
        data = _from_metadata(data, ("domain", "topic", "subtopic"))
        if isinstance(data, Mapping) and "num_turns" not in data and isinstance(data.get("messages"), list):
            data = {**data, "num_turns": max(1, len(data["messages"]) // 2)}
        return data

    @field_validator("messages")
    @classmethod
    def _check_messages(cls, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        if len(messages) % 2:
            raise ValueError("a conversation has an even number of messages (user, assistant, ...)")
        for i, message in enumerate(messages):
            expected = "user" if i % 2 == 0 else "assistant"
            if set(message) != {"role", "content"}:
                raise ValueError(f"messages[{i}] must have exactly the keys role and content")
            if message["role"] != expected:
                raise ValueError(f"messages[{i}] has role {message['role']!r}, expected {expected!r}")
            if not message["content"].strip():
                raise ValueError(f"messages[{i}] is empty")
        return messages

    @model_validator(mode="after")
    def _check_turns(self) -> Self:
        if len(self.messages) != 2 * self.num_turns:
            raise ValueError(f"num_turns is {self.num_turns} but messages hold {len(self.messages) // 2} turns")
        return self


class PreferenceRow(DatasetRow):
    """A question with a preferred (`chosen`) and a dispreferred (`rejected`) response, the models that
    wrote each, and the judge's scores (1-10) and reasons when an LLM judge was used. `model_id` is the
    chosen response's model. `to_dpo_record()` gives the `prompt`/`chosen`/`rejected` shape of TRL."""

    dataset_type: str = "preference"
    input_document: str = Field(min_length=1)
    document_id: str = ""
    question: str = Field(min_length=1)
    original_question: str | None = None
    chosen_response: str = Field(min_length=1)
    rejected_response: str = Field(min_length=1)
    question_model_id: str = ""
    chosen_model_id: str = ""
    rejected_model_id: str = ""
    judge_model_id: str | None = None
    chosen_response_score: int | None = Field(default=None, ge=1, le=10)
    rejected_response_score: int | None = Field(default=None, ge=1, le=10)
    chosen_response_assessment: str | None = None
    rejected_response_assessment: str | None = None
    swapped_by_judge: bool = False
    preference_source: PreferenceSource = PreferenceSource.SYNTHETIC

    @model_validator(mode="before")
    @classmethod
    def _v0036_fields(cls, data: Any) -> Any:
        """0.0.36 kept the question's model in `metadata["instruction_model"]` and had no `model_id` (here
        the chosen response's model); None model ids mean unknown."""
        if not isinstance(data, Mapping):
            return data
        data = {k: v for k, v in data.items() if not (v is None and k.endswith("model_id"))}
        metadata = data.get("metadata")
        if "question_model_id" not in data and isinstance(metadata, Mapping) and "instruction_model" in metadata:
            data["question_model_id"] = metadata["instruction_model"]
        if "model_id" not in data and "chosen_model_id" in data:
            data["model_id"] = data["chosen_model_id"]
        return data

    def to_dpo_record(self, conversational: bool = True) -> dict[str, Any]:
        """This pair as TRL's DPOTrainer reads it: conversational (lists of role/content messages) or
        standard (plain strings)."""
        if conversational:
            return {
                "prompt": [{"role": "user", "content": self.question}],
                "chosen": [{"role": "assistant", "content": self.chosen_response}],
                "rejected": [{"role": "assistant", "content": self.rejected_response}],
            }
        return {"prompt": self.question, "chosen": self.chosen_response, "rejected": self.rejected_response}


class MCQRow(DatasetRow):
    """A multiple-choice question about a source document: the question, its correct answer and three
    plausible incorrect answers (all four distinct, ignoring case), with the document and its id."""

    dataset_type: str = "mcq"
    source_document: str = Field(min_length=1)
    document_id: str = ""
    context: str | None = None
    question: str = Field(min_length=1)
    correct_answer: str = Field(min_length=1)
    incorrect_answer_1: str = Field(min_length=1)
    incorrect_answer_2: str = Field(min_length=1)
    incorrect_answer_3: str = Field(min_length=1)
    mcq_source: MCQSource = MCQSource.SYNTHETIC

    @model_validator(mode="after")
    def _check_distinct_answers(self) -> Self:
        answers = [self.correct_answer, self.incorrect_answer_1, self.incorrect_answer_2, self.incorrect_answer_3]
        folded = [a.strip().casefold() for a in answers]
        if len(set(folded)) < 4:
            raise ValueError("the correct answer and the three incorrect answers must all differ")
        return self


class GenericPipelineRow(DatasetRow):
    """One output of a generic pipeline: the input row's `document_id`, its forwarded columns and the
    generated output fields, as top-level fields. A run validates its records against a model made for its
    config (exactly those fields); this base accepts any of them, to read a file back."""

    model_config = ConfigDict(extra="allow")

    dataset_type: str = "generic_pipeline"
    document_id: str = ""
    pipeline_source: GenericPipelineSource = GenericPipelineSource.SYNTHETIC

    @model_validator(mode="before")
    @classmethod
    def _v0036_metadata(cls, data: Any) -> Any:
        """0.0.36 kept the input row's index in `metadata["source_row_index"]`."""
        if isinstance(data, Mapping) and "document_id" not in data:
            metadata = data.get("metadata")
            if isinstance(metadata, Mapping) and "source_row_index" in metadata:
                return {**data, "document_id": str(metadata["source_row_index"])}
        return data
