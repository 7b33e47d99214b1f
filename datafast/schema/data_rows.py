"""Record models: one validated row of a generated dataset, as written to JSONL."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
