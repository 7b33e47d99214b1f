"""Dataset configurations: what to generate. Each is a Pydantic model checked in full when it is built,
so a mistake is reported, with the field at fault, before any request is sent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from datafast.expansion import PromptTemplate, check_template, count_combinations

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

    prompts: list[str] | None = None
    num_samples_per_prompt: int = Field(default=5, ge=1, le=100)
    output_file: str = Field(default="dataset.jsonl", min_length=1)
    languages: dict[str, str] = Field(default_factory=lambda: {"en": "English"})
    expansion: PromptExpansionConfig = Field(default_factory=PromptExpansionConfig)

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
                where=f"prompts[{i}]",
                allowed=self.mandatory_placeholders,
                required=required,
                optional_values=placeholders,
            )
            used_optional |= template.optional
            if self.expansion.combinatorial:
                combos = count_combinations({n: placeholders[n] for n in template.optional})
                if combos > self.expansion.max_samples:
                    raise ValueError(
                        f"prompts[{i}] expands to {combos} combinations of optional placeholders, above "
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


CONFIG_TYPES: dict[str, type[DatasetConfig]] = {
    "text_classification": ClassificationDatasetConfig,
    "raw_text": RawDatasetConfig,
}
