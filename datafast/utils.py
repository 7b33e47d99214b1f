"""Datafast 0.0.36's helper functions (`datafast.utils`), over datafast's own code: counting prompt expansions
(`datafast.expansion`), reading input rows (`datafast.sources`) and the generic pipeline's models
(`datafast.datasets.generic_pipeline`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, create_model

from datafast.datasets.generic_pipeline import output_item_model, record_model
from datafast.errors import ConfigError
from datafast.expansion import PromptTemplate
from datafast.schema.config import GenericPipelineDatasetConfig, PromptExpansionConfig
from datafast.schema.data_rows import GenericPipelineRow
from datafast.sources import load_source_rows

log = logging.getLogger("datafast")


def log_generation_progress(
    total_rows: int, provider_name: str, model_id: str, duration: float, item_type: str = "examples"
) -> None:
    """Log (INFO, on the `datafast` logger) how many items there are so far, from which provider and model,
    and how long the step took."""
    log.info(
        "Generated and saved %d %s total | Provider: %s | Model: %s | Duration: %.1fs",
        total_rows,
        item_type,
        provider_name,
        model_id,
        duration,
    )


def calculate_num_prompt_expansions(base_prompts: Sequence[str], expansion_config: PromptExpansionConfig) -> int:
    """How many prompts a run makes of `base_prompts` for one combination of the dataset type's own
    placeholders (label, language, ...), as datafast expands them: per template, every combination of the
    placeholders it uses (`combinatorial=True`) or `num_random_samples` draws (`combinatorial=False`)."""
    total = 0
    for text in base_prompts:
        template = PromptTemplate.parse(text)
        names = [n for n in expansion_config.placeholders if n in template.optional or n in template.mandatory]
        total += expansion_config.num_prompts(names)
    return total


def load_dataset_from_source(
    hf_dataset_name: str | None = None,
    local_file_path: str | None = None,
    sample_count: int | None = None,
    text_column: str = "text",
) -> list[dict[str, Any]]:
    """The rows of a Hugging Face dataset (its `train` split) or of a local `.jsonl`, `.json`, `.csv`,
    `.parquet` or `.txt` file (one row per non-empty line, in `text_column`), the first `sample_count` of
    them, as dicts. Errors are `ConfigError`s (a `ValueError`, as 0.0.36 raised) naming the file, the column
    or the row."""
    if not hf_dataset_name and not local_file_path:
        raise ConfigError("give hf_dataset_name or local_file_path")
    text_file = not hf_dataset_name and Path(str(local_file_path)).suffix.lower() == ".txt"
    rows = load_source_rows(
        hf_dataset_name=hf_dataset_name or None,
        local_file_path=None if hf_dataset_name else local_file_path,
        text_column=text_column if text_file else None,  # 0.0.36 used it for text files only
        sample_count=sample_count,
    )
    return [row.values for row in rows]


def create_response_model(config: GenericPipelineDatasetConfig) -> type[BaseModel]:
    """The answer model of 0.0.36's generic pipeline: `{"entries": [output, ...]}`, each output with the
    config's output fields (`output_columns` as text, or `output_model`'s). A datafast run asks for the same
    outputs under `outputs`, exactly `num_samples_per_prompt` of them (`generic_pipeline.outputs_model`)."""
    item: Any = output_item_model(config)  # a class made at run time: a type to pydantic, not to mypy
    return create_model(
        "GenericPipelineResponse",
        entries=(list[item], Field(description=f"the {config.num_samples_per_prompt} generated outputs")),
    )


def create_generic_pipeline_row_model(config: GenericPipelineDatasetConfig) -> type[GenericPipelineRow]:
    """The record model of `config`'s generic pipeline (`generic_pipeline.record_model`: the fields every
    record has, `document_id`, the forwarded columns and the output fields) with 0.0.36's input columns as
    optional text fields too, so that a row can be built as 0.0.36 built it. A datafast run writes the input
    columns only when they are forwarded."""
    base = record_model(config)
    inputs: dict[str, Any] = {
        name: (str | None, None) for name in config.input_columns if name not in base.model_fields
    }
    return create_model("DynamicGenericPipelineRow", __base__=base, **inputs)


__all__ = [
    "calculate_num_prompt_expansions",
    "create_generic_pipeline_row_model",
    "create_response_model",
    "load_dataset_from_source",
    "log_generation_progress",
]
