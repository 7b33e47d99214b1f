"""Record models: one validated row of a generated dataset, as written to JSONL."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class DatasetRow(BaseModel):
    """Fields every record carries, whatever the dataset type.

    `uuid` is derived from the request that produced the record (`request_id`), so a rerun reproduces
    it; `prompt_template` and `placeholders` say exactly which prompt the record came from.
    """

    model_config = ConfigDict(extra="forbid")

    uuid: str
    request_id: str
    dataset_type: str
    model_id: str
    language: str
    prompt_template: str
    placeholders: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class TextClassificationRow(DatasetRow):
    """A text and its class label."""

    text: str = Field(min_length=1)
    label: str


class TextRow(DatasetRow):
    """A generated document with the document type and topic it was asked for."""

    text: str = Field(min_length=1)
    document_type: str
    topic: str


class ChatRow(DatasetRow):
    """A multi-turn conversation in the standard chat format: `messages` alternate user and assistant,
    starting with the user and ending with the assistant's answer, ready for supervised fine-tuning."""

    messages: list[dict[str, str]] = Field(min_length=2)
    opening_question: str = Field(min_length=1)
    persona: str
    domain: str
    topic: str
    subtopic: str
    num_turns: int = Field(ge=1)

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

    input_document: str = Field(min_length=1)
    document_id: str
    question: str = Field(min_length=1)
    original_question: str | None = None
    chosen_response: str = Field(min_length=1)
    rejected_response: str = Field(min_length=1)
    question_model_id: str
    chosen_model_id: str
    rejected_model_id: str
    judge_model_id: str | None = None
    chosen_response_score: int | None = Field(default=None, ge=1, le=10)
    rejected_response_score: int | None = Field(default=None, ge=1, le=10)
    chosen_response_assessment: str | None = None
    rejected_response_assessment: str | None = None
    swapped_by_judge: bool = False

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

    source_document: str = Field(min_length=1)
    document_id: str
    context: str | None = None
    question: str = Field(min_length=1)
    correct_answer: str = Field(min_length=1)
    incorrect_answer_1: str = Field(min_length=1)
    incorrect_answer_2: str = Field(min_length=1)
    incorrect_answer_3: str = Field(min_length=1)

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

    document_id: str
