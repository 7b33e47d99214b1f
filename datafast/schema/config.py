"""Dataset configurations: what to generate. Each is a Pydantic model checked in full when it is built,
so a mistake is reported, with the field at fault, before any request is sent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from datafast.expansion import PromptTemplate, check_template, count_combinations
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.data_rows import DatasetRow
from datafast.sources import SourceFields

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# ISO 639-1/639-3 language code, optionally with a script or region subtag: en, fra, pt-BR, zh-Hant.
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-([A-Z]{2}|[0-9]{3}|[A-Z][a-z]{3}))?$")


class PromptExpansionConfig(BaseModel):
    """Values for the `{{optional}}` placeholders of the prompts and how to combine them.

    With `combinatorial=True` every combination of the values a prompt uses is asked for (at most
    `max_samples` of them, a guard against surprise bills); with `combinatorial=False`,
    `num_random_samples` combinations are drawn with `seed`, none repeated until all have been drawn.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    placeholders: dict[str, list[str]] = Field(default_factory=dict)
    combinatorial: bool = True
    num_random_samples: int = Field(default=1, ge=1)
    max_samples: int = Field(default=1000, ge=1)
    seed: int = 42

    @field_validator("placeholders")
    @classmethod
    def _check_placeholders(cls, placeholders: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, values in placeholders.items():
            if not _NAME.match(name):
                raise ValueError(
                    f"placeholder name {name!r} is not valid: use letters, digits and underscores, "
                    "not starting with a digit"
                )
            if not values:
                raise ValueError(f"placeholder '{name}' has no values: give at least one")
            seen: set[str] = set()
            for value in values:
                if not value.strip():
                    raise ValueError(f"placeholder '{name}' has an empty value")
                if value in seen:
                    raise ValueError(f"placeholder '{name}' lists the value {value!r} twice")
                seen.add(value)
        return placeholders


class LabelDefinition(BaseModel):
    """One class of a classification dataset: its name (the label written in records) and a description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)


class DatasetConfig(BaseModel):
    """Fields every dataset type shares. Subclasses name their mandatory placeholders and default prompts."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # Mandatory placeholder name -> what it is filled with; the names a subclass's prompts may use.
    mandatory_placeholders: ClassVar[dict[str, str]] = {}
    # The ones every prompt must contain; `{language_name}` is added when there is more than one language.
    required_placeholders: ClassVar[frozenset[str]] = frozenset()
    default_prompts: ClassVar[tuple[str, ...]] = ()
    # The field that holds the first-step prompts, for error messages.
    prompts_field: ClassVar[str] = "prompts"

    prompts: list[str] | None = None
    num_samples_per_prompt: int = Field(default=5, ge=1, le=100)
    output_file: str = Field(default="dataset.jsonl", min_length=1)
    languages: dict[str, str] = Field(default_factory=lambda: {"en": "English"})
    expansion: PromptExpansionConfig = Field(default_factory=PromptExpansionConfig)
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)

    @field_validator("languages")
    @classmethod
    def _check_languages(cls, languages: dict[str, str]) -> dict[str, str]:
        if not languages:
            raise ValueError("give at least one language, e.g. {'en': 'English'}")
        for code, name in languages.items():
            if not _LANGUAGE_CODE.match(code):
                raise ValueError(
                    f"language code {code!r} is not a valid ISO 639 code: use a lowercase 2- or 3-letter "
                    "code with an optional region, e.g. 'en', 'fr', 'pt-BR'"
                )
            if not name.strip():
                raise ValueError(f"language {code!r} needs a name, e.g. {{'{code}': 'English'}}")
        return languages

    @field_validator("prompts")
    @classmethod
    def _check_prompts_given(cls, prompts: list[str] | None) -> list[str] | None:
        if prompts is not None:
            if not prompts:
                raise ValueError("prompts is an empty list: leave it out to use the default prompts")
            for i, prompt in enumerate(prompts):
                if not prompt.strip():
                    raise ValueError(f"prompts[{i}] is empty")
        return prompts

    @model_validator(mode="after")
    def _check_placeholders(self) -> Self:
        required = set(self.required_placeholders)
        if len(self.languages) > 1:
            required.add("language_name")
        used_optional: set[str] = set()
        placeholders = self.expansion.placeholders
        for i, template in enumerate(self.templates()):
            check_template(
                template,
                where=f"{self.prompts_field}[{i}]",
                allowed=self.mandatory_placeholders,
                required=required,
                optional_values=placeholders,
            )
            used_optional |= template.optional
            if self.expansion.combinatorial:
                combos = count_combinations({n: placeholders[n] for n in template.optional})
                if combos > self.expansion.max_samples:
                    raise ValueError(
                        f"{self.prompts_field}[{i}] expands to {combos} combinations of optional placeholders, above "
                        f"expansion.max_samples={self.expansion.max_samples}; raise max_samples or use "
                        "combinatorial=False with num_random_samples"
                    )
        unused = sorted(placeholders.keys() - used_optional)
        if unused:
            raise ValueError(
                f"expansion.placeholders gives values for '{unused[0]}' but no prompt uses "
                f"{{{{{unused[0]}}}}}; use it in a prompt or remove it"
            )
        return self

    def templates(self) -> list[PromptTemplate]:
        """The parsed prompt templates: the user's, or the dataset type's defaults."""
        return [PromptTemplate.parse(p) for p in (self.prompts or self.default_prompts)]

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Load this config from a YAML (.yaml/.yml) or TOML (.toml) file."""
        from datafast.schema.loading import read_config_mapping

        data = read_config_mapping(path)
        data.pop("llms", None)
        return cls.model_validate(data)

    from_yaml = from_file
    from_toml = from_file


class ClassificationDatasetConfig(DatasetConfig):
    """A text classification dataset: texts for each class, in each language."""

    mandatory_placeholders: ClassVar[dict[str, str]] = {
        "num_samples": "the number of texts to write, num_samples_per_prompt",
        "label_name": "the class name",
        "label_description": "the class description",
        "language_name": "the language name, e.g. English",
        "language_code": "the language code, e.g. en",
    }
    required_placeholders: ClassVar[frozenset[str]] = frozenset({"num_samples", "label_name"})
    default_prompts: ClassVar[tuple[str, ...]] = (
        "Write {num_samples} varied, realistic texts in {language_name} that belong to the class "
        "'{label_name}': {label_description}. Vary their length, style, register and point of view. "
        "Each text must stand on its own and must not mention the class name.",
    )

    dataset_type: Literal["text_classification"] = "text_classification"
    classes: list[LabelDefinition]
    output_file: str = Field(default="classification.jsonl", min_length=1)

    @field_validator("classes")
    @classmethod
    def _check_classes(cls, classes: list[LabelDefinition]) -> list[LabelDefinition]:
        if not classes:
            raise ValueError("give at least one class, e.g. [{'name': 'positive', 'description': '...'}]")
        names = [c.name for c in classes]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"class name {name!r} appears twice; class names must be unique")
        return classes


class RawDatasetConfig(DatasetConfig):
    """A raw text dataset: documents of each type about each topic, in each language."""

    mandatory_placeholders: ClassVar[dict[str, str]] = {
        "num_samples": "the number of documents to write, num_samples_per_prompt",
        "document_type": "one of document_types",
        "topic": "one of topics",
        "language_name": "the language name, e.g. English",
        "language_code": "the language code, e.g. en",
    }
    required_placeholders: ClassVar[frozenset[str]] = frozenset({"num_samples", "document_type", "topic"})
    default_prompts: ClassVar[tuple[str, ...]] = (
        "Write {num_samples} distinct {document_type} documents in {language_name} about {topic}. "
        "Each must read like a real {document_type}, with its own angle, details and length.",
    )

    dataset_type: Literal["raw_text"] = "raw_text"
    document_types: list[str]
    topics: list[str]
    output_file: str = Field(default="raw.jsonl", min_length=1)

    @field_validator("document_types", "topics")
    @classmethod
    def _check_non_empty_unique(cls, values: list[str], info: Any) -> list[str]:
        if not values:
            raise ValueError(f"{info.field_name} is empty: give at least one")
        for value in values:
            if not value.strip():
                raise ValueError(f"{info.field_name} has an empty entry")
            if values.count(value) > 1:
                raise ValueError(f"{info.field_name} lists {value!r} twice")
        return values


def _check_step_prompt(prompt: str | None, field: str, allowed: dict[str, str], required: set[str]) -> None:
    """Check a prompt of a later step of a chain (one template, filled by the dataset type alone)."""
    if prompt is None:
        return
    if not prompt.strip():
        raise ValueError(f"{field} is empty: leave it out to use the default prompt")
    template = PromptTemplate.parse(prompt)
    if template.optional:
        name = sorted(template.optional)[0]
        raise ValueError(
            f"{field} uses the optional placeholder {{{{{name}}}}}; optional placeholders are only filled in "
            "question_generation_prompts (the first step of each chain)"
        )
    check_template(template, where=field, allowed=allowed, required=required, optional_values={})


def _check_step_prompts(config: DatasetConfig, prompts: dict[str, tuple[dict[str, str], frozenset[str]]]) -> None:
    for field, (allowed, required) in prompts.items():
        _check_step_prompt(getattr(config, field), field, allowed, set(required))


def _check_prompt_list(prompts: list[str] | None, field: str) -> list[str] | None:
    if prompts is not None:
        if not prompts:
            raise ValueError(f"{field} is an empty list: leave it out to use the default prompts")
        for i, prompt in enumerate(prompts):
            if not prompt.strip():
                raise ValueError(f"{field}[{i}] is empty")
    return prompts


_LANGUAGE_PLACEHOLDERS = {
    "language_name": "the language name, e.g. English",
    "language_code": "the language code, e.g. en",
}


class UltrachatDatasetConfig(DatasetConfig):
    """A multi-turn chat dataset in the UltraChat style.

    For every topic × subtopic × language (× prompt × optional-placeholder draw), one request writes
    `num_samples` opening questions about the subtopic of `domain`. Each question starts a conversation:
    it is reworded in the voice of a persona (picked from `personas` with `expansion.seed`), then a
    simulated assistant answers and the simulated user follows up, until the conversation has its number
    of turns (drawn between `min_turns` and `max_turns`, with the seed; set both equal for a fixed count).
    A turn is one user message and the assistant's answer to it.
    """

    mandatory_placeholders: ClassVar[dict[str, str]] = {
        "num_samples": "the number of opening questions to write, num_samples",
        "domain": "the domain, e.g. Science",
        "topic": "a topic of topics_and_subtopics",
        "subtopic": "one of the topic's subtopics",
        **_LANGUAGE_PLACEHOLDERS,
    }
    required_placeholders: ClassVar[frozenset[str]] = frozenset({"num_samples", "subtopic"})
    default_prompts: ClassVar[tuple[str, ...]] = (
        "You are building a dataset of conversations between people and an AI assistant in the domain "
        "'{domain}'. Write {num_samples} different questions, in {language_name}, that someone could open such "
        "a conversation with about '{subtopic}' (part of '{topic}'). Mix kinds of request: explanations, "
        "how-to help, comparisons, troubleshooting a concrete situation, asking for an opinion or a plan. "
        "Each question must make sense on its own, be specific and answerable, and differ from the others "
        "in angle and difficulty.",
    )
    reformulation_placeholders: ClassVar[dict[str, str]] = {
        "question": "the opening question",
        "persona": "the persona the user speaks as",
        "domain": "the domain",
        "topic": "the topic",
        "subtopic": "the subtopic",
        **_LANGUAGE_PLACEHOLDERS,
    }
    assistant_placeholders: ClassVar[dict[str, str]] = {
        "question": "the user's latest message",
        "domain": "the domain",
        "topic": "the topic",
        "subtopic": "the subtopic",
        **_LANGUAGE_PLACEHOLDERS,
    }
    user_placeholders: ClassVar[dict[str, str]] = {
        "persona": "the persona the user speaks as",
        "domain": "the domain",
        "topic": "the topic",
        "subtopic": "the subtopic",
        **_LANGUAGE_PLACEHOLDERS,
    }
    followup_placeholders: ClassVar[dict[str, str]] = {
        "dialog_summary": "the conversation so far, one 'User:'/'Assistant:' line per message",
        **user_placeholders,
    }

    prompts_field: ClassVar[str] = "question_generation_prompts"

    dataset_type: Literal["ultrachat"] = "ultrachat"
    domain: str = Field(default="Science, Technology, Engineering, and Mathematics", min_length=1)
    topics_and_subtopics: dict[str, list[str]]
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
        return _check_prompt_list(prompts, "question_generation_prompts")

    @field_validator("topics_and_subtopics")
    @classmethod
    def _check_topics(cls, topics: dict[str, list[str]]) -> dict[str, list[str]]:
        if not topics:
            raise ValueError("give at least one topic with its subtopics, e.g. {'Physics': ['optics', 'gravity']}")
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
        _check_step_prompts(
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


class PreferenceDatasetConfig(DatasetConfig):
    """A preference (DPO) dataset from source documents.

    For every document × language (× prompt × optional-placeholder draw), one request writes
    `num_samples_per_prompt` questions about the document. Each question is optionally made harder
    (`evol_instruct`), then answered well by the chosen-response LLM and worse by the rejected-response
    LLM; with `llm_as_judge` the judge LLM scores both answers from 1 to 10 and, should it prefer the
    rejected one, the two are swapped. Documents come from `input_documents`, or from the `text_column` of
    a local file (`local_file_path`) or a Hugging Face dataset (`hf_dataset_name`), optionally filtered by
    length and cut to the first `sample_count`.
    """

    mandatory_placeholders: ClassVar[dict[str, str]] = {
        "num_samples": "the number of questions to write, num_samples_per_prompt",
        "document": "the source document",
        **_LANGUAGE_PLACEHOLDERS,
    }
    required_placeholders: ClassVar[frozenset[str]] = frozenset({"num_samples", "document"})
    default_prompts: ClassVar[tuple[str, ...]] = (
        "Here is a document:\n<document>\n{document}\n</document>\n\n"
        "Write {num_samples} different questions or instructions, in {language_name}, that a user could ask an "
        "AI assistant and that this document answers. Vary them: facts to look up, explanations of why or how, "
        "a summary of one part, applying what it says to a concrete case. Each must be understandable without "
        "seeing the document (never write 'the document' or 'the text'), and no two may ask the same thing.",
    )
    response_placeholders: ClassVar[dict[str, str]] = {
        "question": "the question to answer",
        "document": "the source document",
        **_LANGUAGE_PLACEHOLDERS,
    }
    judge_placeholders: ClassVar[dict[str, str]] = {
        "response": "the response to score",
        **response_placeholders,
    }

    prompts_field: ClassVar[str] = "question_generation_prompts"

    dataset_type: Literal["preference"] = "preference"
    input_documents: list[str] | None = None
    # Or documents from a file or a Hugging Face dataset (read with datafast.sources), one per row.
    local_file_path: str | None = Field(default=None, min_length=1)
    hf_dataset_name: str | None = Field(default=None, min_length=1)
    hf_dataset_subset: str | None = None
    hf_dataset_split: str = Field(default="train", min_length=1)
    text_column: str = Field(default="text", min_length=1)
    sample_count: int | None = Field(default=None, ge=1)
    min_document_length: int | None = Field(default=None, ge=1)
    max_document_length: int | None = Field(default=None, ge=1)
    num_samples_per_prompt: int = Field(default=3, ge=1, le=100)
    question_generation_prompts: list[str] | None = None
    chosen_response_generation_prompt: str | None = None
    rejected_response_generation_prompt: str | None = None
    evol_instruct: bool = False
    evolution_prompt: str | None = None
    llm_as_judge: bool = False
    judge_prompt: str | None = None
    output_file: str = Field(default="preference.jsonl", min_length=1)

    @field_validator("question_generation_prompts")
    @classmethod
    def _check_question_prompts(cls, prompts: list[str] | None) -> list[str] | None:
        return _check_prompt_list(prompts, "question_generation_prompts")

    @field_validator("input_documents")
    @classmethod
    def _check_documents(cls, documents: list[str] | None) -> list[str] | None:
        if documents is not None:
            if not documents:
                raise ValueError("input_documents is empty: give at least one document")
            for i, document in enumerate(documents):
                if not document.strip():
                    raise ValueError(f"input_documents[{i}] is empty")
        return documents

    @model_validator(mode="after")
    def _check_preference(self) -> Self:
        if self.prompts is not None:
            raise ValueError("preference takes its question prompts in question_generation_prompts, not prompts")
        sources = [n for n in ("input_documents", "local_file_path", "hf_dataset_name") if getattr(self, n) is not None]
        if not sources:
            raise ValueError(
                "no documents: give input_documents (a list of texts), local_file_path (.jsonl, .csv or .parquet, "
                "with text_column) or hf_dataset_name (a Hugging Face dataset or a save_to_disk folder)"
            )
        if len(sources) > 1:
            raise ValueError(f"give only one source of documents, not {' and '.join(sources)}")
        if (self.min_document_length or 0) > (self.max_document_length or float("inf")):
            raise ValueError("min_document_length is above max_document_length")
        if self.evolution_prompt is not None and "{answer}" in self.evolution_prompt:
            raise ValueError(
                "evolution_prompt uses {answer}, but questions are evolved before they are answered; "
                f"allowed: {', '.join('{' + n + '}' for n in self.response_placeholders)}"
            )
        _check_step_prompts(
            self,
            {
                "chosen_response_generation_prompt": (self.response_placeholders, frozenset({"question"})),
                "rejected_response_generation_prompt": (self.response_placeholders, frozenset({"question"})),
                "evolution_prompt": (self.response_placeholders, frozenset({"question"})),
                "judge_prompt": (self.judge_placeholders, frozenset({"question", "response"})),
            },
        )
        if self.evolution_prompt is not None and not self.evol_instruct:
            raise ValueError("evolution_prompt is set but evol_instruct is false: set evol_instruct: true to use it")
        if self.judge_prompt is not None and not self.llm_as_judge:
            raise ValueError("judge_prompt is set but llm_as_judge is false: set llm_as_judge: true to use it")
        return self

    def templates(self) -> list[PromptTemplate]:
        return [PromptTemplate.parse(p) for p in (self.question_generation_prompts or self.default_prompts)]


class MCQDatasetConfig(SourceFields, DatasetConfig):
    """A multiple-choice question dataset from source documents.

    Documents come from a Hugging Face dataset (`hf_dataset_name`, or a `save_to_disk` folder), a local
    JSONL, CSV or Parquet file (`local_file_path`) or a list (`input_rows`); `text_column` holds the text,
    the optional `context_column` extra context given to the LLM with it. Documents whose text is shorter
    than `min_document_length` or longer than `max_document_length` characters are skipped, and
    `sample_count` keeps the first N that remain. For every document × language (× prompt × optional-
    placeholder draw), one request writes `num_samples_per_prompt` questions with their correct answer;
    then one request per question writes three plausible incorrect answers (`distractor_prompt`).
    """

    mandatory_placeholders: ClassVar[dict[str, str]] = {
        "num_samples": "the number of questions to write, num_samples_per_prompt",
        "document": "the source document's text (text_column)",
        "text": "the source document's text (text_column), same as {document}",
        "context": "the document's context (context_column)",
        **_LANGUAGE_PLACEHOLDERS,
    }
    required_placeholders: ClassVar[frozenset[str]] = frozenset({"num_samples"})
    default_prompts: ClassVar[tuple[str, ...]] = (
        "Here is a source document:\n<document>\n{document}\n</document>\n\n"
        "Write {num_samples} multiple-choice exam questions in {language_name} that test understanding of this "
        "document, each with its one correct answer. Cover different facts, causes, consequences and details "
        "rather than the same point twice, and prefer questions that need the document's content over trivia "
        "anyone could guess. Every question must be answerable on its own, without seeing the document (never "
        "write 'the document', 'the text' or 'according to'). Keep each correct answer short: a word, a number "
        "or a brief phrase.",
    )
    context_prompts: ClassVar[tuple[str, ...]] = (
        "Context: {context}\n\nHere is a source document from that context:\n<document>\n{document}\n"
        "</document>\n\n"
        "Write {num_samples} multiple-choice exam questions in {language_name} that test understanding of this "
        "document, each with its one correct answer. Use the context so that each question names what it is "
        "about and makes sense on its own, without seeing the document (never write 'the document', 'the text' "
        "or 'according to'). Cover different facts, causes and details rather than the same point twice. Keep "
        "each correct answer short: a word, a number or a brief phrase.",
    )
    distractor_placeholders: ClassVar[dict[str, str]] = {
        "question": "the question",
        "correct_answer": "its correct answer",
        "document": "the source document's text",
        "text": "the source document's text, same as {document}",
        "context": "the document's context (context_column)",
        **_LANGUAGE_PLACEHOLDERS,
    }

    dataset_type: Literal["mcq"] = "mcq"
    text_column: str = Field(min_length=1)
    context_column: str | None = Field(default=None, min_length=1)
    num_samples_per_prompt: int = Field(default=3, ge=1, le=100)
    min_document_length: int = Field(default=100, ge=0)
    max_document_length: int = Field(default=10000, ge=1)
    distractor_prompt: str | None = None
    output_file: str = Field(default="mcq.jsonl", min_length=1)

    @model_validator(mode="after")
    def _check_mcq(self) -> Self:
        if self.min_document_length > self.max_document_length:
            raise ValueError(
                f"min_document_length ({self.min_document_length}) is above max_document_length "
                f"({self.max_document_length})"
            )
        if self.context_column is not None and self.context_column == self.text_column:
            raise ValueError(f"context_column and text_column are both {self.text_column!r}; name two columns")
        for i, template in enumerate(self.templates()):
            if not template.mandatory & {"document", "text"}:
                raise ValueError(f"prompts[{i}] is missing the document: use {{document}} (or {{text}}) in it")
            if "context" in template.mandatory and self.context_column is None:
                raise ValueError(f"prompts[{i}] uses {{context}} but context_column is not set; name the column")
        if self.distractor_prompt is not None:
            _check_step_prompts(
                self, {"distractor_prompt": (self.distractor_placeholders, frozenset({"question", "correct_answer"}))}
            )
            if "{context}" in self.distractor_prompt and self.context_column is None:
                raise ValueError("distractor_prompt uses {context} but context_column is not set; name the column")
        return self

    def templates(self) -> list[PromptTemplate]:
        defaults = self.context_prompts if self.context_column else self.default_prompts
        return [PromptTemplate.parse(p) for p in (self.prompts or defaults)]


# Fields every record already carries: output and forwarded columns may not reuse them.
_RECORD_FIELDS = frozenset(DatasetRow.model_fields) | {"document_id"}


class GenericPipelineDatasetConfig(SourceFields, DatasetConfig):
    """A dataset made by running your own prompt over input rows.

    Rows come from the same sources as MCQ (`hf_dataset_name`, `local_file_path` or `input_rows`). Each
    prompt uses `{column}` placeholders for the `input_columns` it reads (plus `{num_samples}`,
    `{language_name}` and `{{optional}}` ones); for every row × language (× prompt × optional draw), one
    request asks for `num_samples_per_prompt` outputs, each with the `output_columns` (strings) or the fields
    of `output_model` (a Pydantic model; in a config file, its import path `package.module.Model`). Each
    output is a record with the `forward_columns` of its row copied in.
    """

    builtin_placeholders: ClassVar[dict[str, str]] = {
        "num_samples": "the number of outputs to write, num_samples_per_prompt",
        **_LANGUAGE_PLACEHOLDERS,
    }

    dataset_type: Literal["generic_pipeline"] = "generic_pipeline"
    input_columns: list[str] = Field(min_length=1)
    forward_columns: list[str] | None = None
    output_columns: list[str] | None = None
    output_model: type[BaseModel] | str | None = None
    num_samples_per_prompt: int = Field(default=1, ge=1, le=100)
    output_file: str = Field(default="generic_pipeline.jsonl", min_length=1)

    @property
    def mandatory_placeholders(self) -> dict[str, str]:  # type: ignore[override]
        """The `{names}` a prompt may use: the input columns, then `{num_samples}` and the language."""
        columns = {name: f"the row's {name!r} column (input_columns)" for name in self.input_columns}
        return {**columns, **self.builtin_placeholders}

    @field_validator("input_columns", "forward_columns", "output_columns")
    @classmethod
    def _check_columns(cls, columns: list[str] | None, info: Any) -> list[str] | None:
        if columns is None:
            return None
        if not columns:
            raise ValueError(f"{info.field_name} is an empty list: give at least one column or leave it out")
        for name in columns:
            if info.field_name != "forward_columns" and not _NAME.match(name):
                raise ValueError(
                    f"{info.field_name} has {name!r}, which is not a valid name: use letters, digits and "
                    "underscores, not starting with a digit"
                )
            if columns.count(name) > 1:
                raise ValueError(f"{info.field_name} lists {name!r} twice")
            if info.field_name == "input_columns" and name in cls.builtin_placeholders:
                raise ValueError(f"input_columns has {name!r}, which is the name of a built-in placeholder")
        return columns

    @field_validator("output_model", mode="before")
    @classmethod
    def _import_output_model(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _import_model(value)
        return value

    @field_validator("output_model")
    @classmethod
    def _check_output_model(cls, model: Any) -> Any:
        if model is None:
            return None
        if not model.model_fields:
            raise ValueError(f"output_model {model.__name__} has no fields")
        return model

    @field_serializer("output_model")
    def _dump_output_model(self, model: type[BaseModel] | None) -> str | None:
        return None if model is None else f"{model.__module__}.{model.__qualname__}"

    @model_validator(mode="before")
    @classmethod
    def _require_prompts(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("prompts"):
            raise ValueError(
                "prompts is missing: write the prompt to run over each row, using its columns as {column} "
                "placeholders, e.g. 'Summarise this review in one sentence: {review}'"
            )
        return data

    @model_validator(mode="after")
    def _check_pipeline(self) -> Self:
        if (self.output_columns is None) == (self.output_model is None):
            raise ValueError(
                "give either output_columns (names of the text fields to generate) or output_model (a Pydantic "
                "model), not " + ("both" if self.output_columns else "neither")
            )
        outputs = self.output_names()
        forward = self.forward_columns or []
        for name in outputs:
            if name in _RECORD_FIELDS:
                raise ValueError(f"output field {name!r} is a field every record already has; rename it")
            if name in forward:
                raise ValueError(f"{name!r} is both an output field and in forward_columns; rename one")
        for name in forward:
            if name in _RECORD_FIELDS:
                raise ValueError(f"forward_columns has {name!r}, a field every record already has")
        columns = set(self.input_columns)
        for i, template in enumerate(self.templates()):
            if not template.mandatory & columns:
                raise ValueError(
                    f"prompts[{i}] uses none of input_columns; put at least one in it as a placeholder: "
                    + ", ".join("{" + c + "}" for c in self.input_columns)
                )
        return self

    def output_names(self) -> list[str]:
        """The fields each output has."""
        if self.output_columns is not None:
            return list(self.output_columns)
        assert isinstance(self.output_model, type)
        return list(self.output_model.model_fields)


def _import_model(path: str) -> type[BaseModel]:
    """The Pydantic model at `package.module.Model` (or `package.module:Model`)."""
    import importlib

    module_name, sep, name = path.replace(":", ".").rpartition(".")
    if not sep or not module_name or not all(_NAME.match(part) for part in path.replace(":", ".").split(".")):
        raise ValueError(f"output_model {path!r} is not an import path such as 'my_package.models.Answer'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"output_model {path!r}: cannot import {module_name!r}: {exc}") from None
    model = getattr(module, name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError(f"output_model {path!r} is not a Pydantic model class")
    return model


CONFIG_TYPES: dict[str, type[DatasetConfig]] = {
    "text_classification": ClassificationDatasetConfig,
    "raw_text": RawDatasetConfig,
    "ultrachat": UltrachatDatasetConfig,
    "preference": PreferenceDatasetConfig,
    "mcq": MCQDatasetConfig,
    "generic_pipeline": GenericPipelineDatasetConfig,
}
