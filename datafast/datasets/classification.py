"""Text classification: for each class and language, texts that belong to the class."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field, create_model

from datafast.datasets.base import DatasetBase, MandatoryCombination, PromptRequest
from datafast.datasets.registry import register
from datafast.outputs.card import HubCard
from datafast.schema.config import ClassificationDatasetConfig
from datafast.schema.data_rows import TextClassificationRow
from datafast.schema.judging import JudgeCriterion


@register
class ClassificationDataset(DatasetBase):
    """Generates `TextClassificationRow`s: `num_samples_per_prompt` texts per request, for every class ×
    language × prompt × optional-placeholder combination, with every provider."""

    config_class: ClassVar[type[ClassificationDatasetConfig]] = ClassificationDatasetConfig
    record_class: ClassVar[type[TextClassificationRow]] = TextClassificationRow
    label_field: ClassVar[str | None] = "label"
    output_tokens_per_sample: ClassVar[int] = 80
    hub_card: ClassVar[HubCard] = HubCard(
        "text classification", ("text-classification",), ("multi-class-classification",)
    )
    judge_rubric: ClassVar[tuple[JudgeCriterion, ...]] = (
        JudgeCriterion(name="fits_label", description="The text clearly belongs to its label, and to no other class."),
        JudgeCriterion(
            name="realistic", description="The text reads like a real one of its kind, written by a person."
        ),
        JudgeCriterion(
            name="self_contained",
            description="The text stands on its own: it needs no missing context and does not name its label.",
        ),
    )
    config: ClassificationDatasetConfig

    def class_names(self) -> list[str] | None:
        return [label.name for label in self.config.classes]

    def mandatory_combinations(self) -> list[MandatoryCombination]:
        listing = ", ".join(label.name for label in self.config.classes)
        return [
            MandatoryCombination(
                placeholders={
                    "num_samples": str(self.config.num_samples_per_prompt),
                    "label_name": label.name,
                    "label_description": label.description,
                    "labels_listing": listing,
                    **self.language_placeholders(code),
                },
                language=code,
                fields={"label": label.name},
            )
            for label in self.config.classes
            for code in self.config.languages
        ]

    def response_model(self) -> type[BaseModel]:
        return text_entries_model(self.config.num_samples_per_prompt)

    def records_from(self, request: PromptRequest, answer: Any) -> list[dict[str, Any]]:
        return [
            {"text": text.strip(), "label": request.fields["label"]}
            for text in answer.entries[: self.config.num_samples_per_prompt]
            if text.strip()
        ]


def text_entries_model(n: int) -> type[BaseModel]:
    """`{"entries": [str, ...]}` with at most `n` entries (and at least one)."""
    return create_model(
        "TextEntries",
        entries=(list[str], Field(min_length=1, max_length=n, description=f"exactly {n} generated texts")),
    )
