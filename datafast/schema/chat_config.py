"""The configuration of multi-turn chat datasets (UltraChat style)."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import AliasChoices, Field, field_validator, model_validator

from datafast.expansion import PromptTemplate
from datafast.schema.base_config import LANGUAGE_PLACEHOLDERS, DatasetConfig, check_prompt_list, check_step_prompts


class UltrachatDatasetConfig(DatasetConfig):
    """A multi-turn chat dataset in the UltraChat style.

    For every topic × subtopic × language (× prompt × optional-placeholder draw), one request writes
    `num_samples` opening questions about the subtopic of `domain`. Each question starts a conversation:
    it is reworded in the voice of a persona (picked from `personas` with `expansion.seed`), then a
    simulated assistant answers and the simulated user follows up, until the conversation has its number
    of turns (drawn between `min_turns` and `max_turns`, with the seed; set both equal for a fixed count).
    A turn is one user message and the assistant's answer to it. With `conversation_continuation_prob`
    (Datafast 0.0.36's way), a conversation instead has `min_turns` turns and goes on to each further one,
    up to `max_turns`, with that probability; the draws use the seed too, so counts are exact before the run.
    """

    mandatory_placeholders: ClassVar[dict[str, str]] = {
        "num_samples": "the number of opening questions to write, num_samples",
        "domain": "the domain, e.g. Science",
        "topic": "a topic of topics_and_subtopics",
        "subtopic": "one of the topic's subtopics",
        **LANGUAGE_PLACEHOLDERS,
    }
    required_placeholders: ClassVar[frozenset[str]] = frozenset({"num_samples", "subtopic"})
    # Instructions first, what varies last (see ClassificationDatasetConfig.default_prompts).
    default_prompts: ClassVar[tuple[str, ...]] = (
        "You are building a dataset of conversations between people and an AI assistant in the domain given "
        "below. Write different questions that someone could open such a conversation with about the subtopic "
        "given below (part of the topic given below). Mix kinds of request: explanations, how-to help, "
        "comparisons, troubleshooting a concrete situation, asking for an opinion or a plan. Each question must "
        "make sense on its own, be specific and answerable, and differ from the others in angle and difficulty."
        "\n\n"
        "Domain: {domain}\n"
        "Topic: {topic}\n"
        "Subtopic: {subtopic}\n\n"
        "Write {num_samples} such questions in {language_name}.",
    )
    reformulation_placeholders: ClassVar[dict[str, str]] = {
        "question": "the opening question",
        "persona": "the persona the user speaks as",
        "domain": "the domain",
        "topic": "the topic",
        "subtopic": "the subtopic",
        **LANGUAGE_PLACEHOLDERS,
    }
    assistant_placeholders: ClassVar[dict[str, str]] = {
        "question": "the user's latest message",
        "domain": "the domain",
        "topic": "the topic",
        "subtopic": "the subtopic",
        **LANGUAGE_PLACEHOLDERS,
    }
    user_placeholders: ClassVar[dict[str, str]] = {
        "persona": "the persona the user speaks as",
        "domain": "the domain",
        "topic": "the topic",
        "subtopic": "the subtopic",
        **LANGUAGE_PLACEHOLDERS,
    }
    followup_placeholders: ClassVar[dict[str, str]] = {
        "dialog_summary": "the conversation so far, one 'User:'/'Assistant:' line per message",
        **user_placeholders,
    }

    prompts_field: ClassVar[str] = "question_generation_prompts"

    dataset_type_aliases: ClassVar[tuple[str, ...]] = ("instruction_dataset",)
    dataset_type: Literal["ultrachat"] = "ultrachat"
    domain: str = Field(default="Science, Technology, Engineering, and Mathematics", min_length=1)
    # Empty (0.0.36's default) builds, to hold rows set by hand; counting or generating then asks for a topic.
    topics_and_subtopics: dict[str, list[str]] = Field(default_factory=dict)
    personas: list[str] = Field(
        default_factory=lambda: [
            "a curious high-school student",
            "a busy software engineer who wants a precise answer",
            "a retired teacher who is new to the subject",
            "a sceptical journalist checking facts",
            "a graduate student preparing an exam",
        ]
    )
    num_samples_per_prompt: int = Field(
        default=5, ge=1, le=100, validation_alias=AliasChoices("num_samples", "num_samples_per_prompt")
    )
    min_turns: int = Field(default=1, ge=1, le=20)
    max_turns: int = Field(default=3, ge=1, le=20)
    conversation_continuation_prob: float | None = Field(default=None, ge=0.0, le=1.0)
    question_generation_prompts: list[str] | None = None
    persona_question_reformulation_prompt: str | None = None
    simulated_assistant_prompt: str | None = None
    user_system_prompt: str | None = None
    user_followup_prompt: str | None = None
    output_file: str = Field(default="ultrachat.jsonl", min_length=1)

    @property
    def num_samples(self) -> int:
        """The original Datafast's name for `num_samples_per_prompt`: opening questions per request."""
        return self.num_samples_per_prompt

    @field_validator("question_generation_prompts")
    @classmethod
    def _check_question_prompts(cls, prompts: list[str] | None) -> list[str] | None:
        return check_prompt_list(prompts, "question_generation_prompts")

    @field_validator("topics_and_subtopics")
    @classmethod
    def _check_topics(cls, topics: dict[str, list[str]]) -> dict[str, list[str]]:
        for topic, subtopics in topics.items():
            if not topic.strip():
                raise ValueError("a topic name is empty")
            if not subtopics:
                raise ValueError(f"topic {topic!r} has no subtopics: give at least one")
            for subtopic in subtopics:
                if not subtopic.strip():
                    raise ValueError(f"topic {topic!r} has an empty subtopic")
                if subtopics.count(subtopic) > 1:
                    raise ValueError(f"topic {topic!r} lists the subtopic {subtopic!r} twice")
        return topics

    @field_validator("personas")
    @classmethod
    def _check_personas(cls, personas: list[str]) -> list[str]:
        if not personas:
            raise ValueError("personas is empty: give at least one, or leave it out for the default personas")
        for persona in personas:
            if not persona.strip():
                raise ValueError("personas has an empty entry")
        return personas

    @model_validator(mode="after")
    def _check_ultrachat(self) -> Self:
        if self.prompts is not None:
            raise ValueError("ultrachat takes its opening-question prompts in question_generation_prompts, not prompts")
        if self.min_turns > self.max_turns:
            raise ValueError(
                f"min_turns ({self.min_turns}) is above max_turns ({self.max_turns}); set min_turns <= max_turns "
                "(equal for a fixed number of turns)"
            )
        check_step_prompts(
            self,
            {
                "persona_question_reformulation_prompt": (
                    self.reformulation_placeholders,
                    frozenset({"question", "persona"}),
                ),
                "simulated_assistant_prompt": (self.assistant_placeholders, frozenset()),
                "user_system_prompt": (self.user_placeholders, frozenset()),
                "user_followup_prompt": (self.followup_placeholders, frozenset({"dialog_summary"})),
            },
        )
        return self

    def templates(self) -> list[PromptTemplate]:
        return [PromptTemplate.parse(p) for p in (self.question_generation_prompts or self.default_prompts)]
