"""Raw text: documents of each type about each topic, in each language."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from datafast.datasets.base import DatasetBase, MandatoryCombination, PromptRequest
from datafast.datasets.classification import text_entries_model
from datafast.datasets.registry import register
from datafast.outputs.card import HubCard
from datafast.schema.config import RawDatasetConfig
from datafast.schema.data_rows import TextRow
from datafast.schema.judging import JudgeCriterion


@register
class RawDataset(DatasetBase):
    """Generates `TextRow`s: `num_samples_per_prompt` documents per request, for every document type ×
    topic × language × prompt × optional-placeholder combination, with every provider."""

    config_class: ClassVar[type[RawDatasetConfig]] = RawDatasetConfig
    record_class: ClassVar[type[TextRow]] = TextRow
    output_tokens_per_sample: ClassVar[int] = 450
    hub_card: ClassVar[HubCard] = HubCard("raw text", ("text-generation",), ("language-modeling",))
    judge_rubric: ClassVar[tuple[JudgeCriterion, ...]] = (
        JudgeCriterion(name="on_topic", description="The text is about its topic and reads as a document of its type."),
        JudgeCriterion(
            name="quality", description="The text is well written, coherent and informative, without filler or repeats."
        ),
    )
    judge_fields: ClassVar[tuple[str, ...] | None] = ("document_type", "topic", "text")
    config: RawDatasetConfig

    def mandatory_combinations(self) -> list[MandatoryCombination]:
        return [
            MandatoryCombination(
                placeholders={
                    "num_samples": str(self.config.num_samples_per_prompt),
                    "document_type": document_type,
                    "topic": topic,
                    **self.language_placeholders(code),
                },
                language=code,
                fields={"document_type": document_type, "topic": topic},
            )
            for document_type in self.config.document_types
            for topic in self.config.topics
            for code in self.config.languages
        ]

    def response_model(self) -> type[BaseModel]:
        return text_entries_model(self.config.num_samples_per_prompt)

    def records_from(self, request: PromptRequest, answer: Any) -> list[dict[str, Any]]:
        return [
            {"text": text.strip(), **request.fields}
            for text in answer.entries[: self.config.num_samples_per_prompt]
            if text.strip()
        ]
