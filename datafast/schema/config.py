"""Dataset configurations: what to generate. Each is a Pydantic model checked in full when it is built,
so a mistake is reported, with the field at fault, before any request is sent.

Every configuration is importable from here (`datafast.schema.config`, the original Datafast's path);
the shared base is in `base_config`, and the larger types have a module of their own.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from datafast.schema.base_config import CONFIG_TYPES, DatasetConfig, LabelDefinition, PromptExpansionConfig
from datafast.schema.chat_config import UltrachatDatasetConfig
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.document_configs import GenericPipelineDatasetConfig, MCQDatasetConfig
from datafast.schema.preference_config import PreferenceDatasetConfig

__all__ = [
    "CONFIG_TYPES",
    "ClassificationDatasetConfig",
    "CleaningConfig",
    "DatasetConfig",
    "GenericPipelineDatasetConfig",
    "LabelDefinition",
    "MCQDatasetConfig",
    "PreferenceDatasetConfig",
    "PromptExpansionConfig",
    "RawDatasetConfig",
    "UltrachatDatasetConfig",
]


class ClassificationDatasetConfig(DatasetConfig):
    """A text classification dataset: texts for each class, in each language."""

    mandatory_placeholders: ClassVar[dict[str, str]] = {
        "num_samples": "the number of texts to write, num_samples_per_prompt",
        "label_name": "the class name",
        "label_description": "the class description",
        "labels_listing": "the names of all classes, comma-separated",
        "language_name": "the language name, e.g. English",
        "language_code": "the language code, e.g. en",
    }
    required_placeholders: ClassVar[frozenset[str]] = frozenset({"num_samples", "label_name"})
    # Instructions first, what varies last (the request itself, with the count and language, closes it, as small
    # models need): every request of a run shares the instructions as a prefix, which a provider's prompt cache
    # can reuse.
    default_prompts: ClassVar[tuple[str, ...]] = (
        "Write varied, realistic texts that belong to the class described below. Vary their length, style, "
        "register and point of view. Each text must stand on its own and must not mention the class name.\n\n"
        "Class: '{label_name}': {label_description}\n\n"
        "Write {num_samples} such texts in {language_name}.",
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
        "Write distinct documents of the type given below, about the topic given below. Each must read like a "
        "real document of that type, with its own angle, details and length.\n\n"
        "Document type: {document_type}\n"
        "Topic: {topic}\n\n"
        "Write {num_samples} such documents in {language_name}.",
    )

    dataset_type_aliases: ClassVar[tuple[str, ...]] = ("text",)
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


