"""Generic pipeline: your prompt over each input row, with your output fields (column names or a Pydantic
model), and chosen input columns forwarded into the records."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, create_model

from datafast.datasets.base import DatasetBase, MandatoryCombination, PromptRequest
from datafast.datasets.chains import numbered
from datafast.datasets.registry import register
from datafast.errors import ConfigError
from datafast.outputs.card import HubCard
from datafast.schema.base_config import DatasetConfig
from datafast.schema.config import GenericPipelineDatasetConfig
from datafast.schema.data_rows import GenericPipelineRow
from datafast.schema.judging import JudgeCriterion
from datafast.sources import SourceRow, as_text, load_config_rows


def output_item_model(config: GenericPipelineDatasetConfig) -> type[BaseModel]:
    """One output: the user's model, or one text field per output column."""
    if config.output_model is not None:
        assert isinstance(config.output_model, type)
        return config.output_model
    fields: dict[str, Any] = {name: (str, Field(min_length=1)) for name in config.output_columns or []}
    return create_model("Output", **fields)


def outputs_model(config: GenericPipelineDatasetConfig) -> type[BaseModel]:
    """`{"outputs": [item, ...]}` with exactly `num_samples_per_prompt` items."""
    n = config.num_samples_per_prompt
    item: Any = output_item_model(config)  # a class made at run time: a type to pydantic, not to mypy
    return create_model(
        "Outputs", outputs=(list[item], Field(min_length=n, max_length=n, description=f"exactly {n} outputs"))
    )


def record_model(config: GenericPipelineDatasetConfig) -> type[GenericPipelineRow]:
    """The record model of this config: the common fields, `document_id`, the forwarded columns (any JSON
    value) and the output fields (as the output model declares them), `reasoning` with `keep_reasoning`, and
    nothing else."""
    fields: dict[str, Any] = {name: (Any, None) for name in config.forward_columns or []}
    if config.output_model is not None:
        assert isinstance(config.output_model, type)
        for name, info in config.output_model.model_fields.items():
            fields[name] = (info.annotation, info)
    else:
        fields |= {name: (str, Field(min_length=1)) for name in config.output_columns or []}
    if config.keep_reasoning:  # last, as `with_reasoning` adds it to the other types' records
        fields["reasoning"] = (str | None, None)
    return create_model("GenericPipelineRecord", __base__=_ExactRow, **fields)


class _ExactRow(GenericPipelineRow):
    """A record with no field beyond those its config declares."""

    model_config = ConfigDict(extra="forbid")


@register
class GenericPipelineDataset(DatasetBase):
    """Runs the config's prompts over every input row × language × prompt × optional-placeholder
    combination with every provider; each request gives `num_samples_per_prompt` outputs, each a record
    (validated against a record model built for the config: `record_class`). The rows are read, their
    columns checked and `skip_function` applied when first needed (`rows`: counting or generating), before
    anything is sent; building the dataset reads nothing, as in 0.0.36."""

    config_class: ClassVar[type[GenericPipelineDatasetConfig]] = GenericPipelineDatasetConfig
    record_class: ClassVar[type[GenericPipelineRow]] = GenericPipelineRow
    config: GenericPipelineDatasetConfig
    prose: ClassVar[bool] = False  # outputs may be numbers or code
    output_tokens_per_sample: ClassVar[int] = 150
    hub_card: ClassVar[HubCard] = HubCard("generic pipeline")
    judge_rubric: ClassVar[tuple[JudgeCriterion, ...]] = (
        JudgeCriterion(
            name="follows_request", description="The output does what the request asks, fully and accurately."
        ),
        JudgeCriterion(name="quality", description="The output is well formed and coherent, without filler."),
    )
    judge_sees_request: ClassVar[bool] = True  # whether an output is right depends on what was asked

    def __init__(self, config: GenericPipelineDatasetConfig) -> None:
        super().__init__(config)
        self.record_class = record_model(config)  # type: ignore[misc]
        self._response_model = outputs_model(config)

    @cached_property
    def rows(self) -> list[SourceRow]:
        """The input rows `skip_function` keeps, read and checked on first use."""
        columns = {name: "input_columns" for name in self.config.input_columns}
        columns |= {name: "forward_columns" for name in self.config.forward_columns or [] if name not in columns}
        return self._kept(load_config_rows(self.config, columns=columns))

    @cached_property
    def _rows_by_index(self) -> dict[int, SourceRow]:
        return {row.index: row for row in self.rows}

    def _kept(self, rows: list[SourceRow]) -> list[SourceRow]:
        """The rows `skip_function` does not skip (all without one): the others are never asked nor counted."""
        skip = self.config.skip_function
        if skip is None:
            return rows
        kept = []
        for row in rows:
            try:
                skipped = skip(dict(row.values))
            except Exception as exc:
                raise ConfigError(
                    f"skip_function raised {type(exc).__name__} on row {row.index} of "
                    f"{self.config.source_name()}: {exc}"
                ) from exc
            if not skipped:
                kept.append(row)
        if not kept:
            raise ConfigError(
                f"skip_function skips every one of the {len(rows)} rows of {self.config.source_name()}: nothing to ask"
            )
        return kept

    def mandatory_combinations(self) -> list[MandatoryCombination]:
        combos = []
        aliases = self.config.placeholder_aliases
        for row in self.rows:
            values = {name: as_text(row.values.get(name)) for name in self.config.input_columns}
            for code in self.config.languages:
                language = self.language_placeholders(code)
                combos.append(
                    MandatoryCombination(
                        placeholders={
                            **values,
                            "num_samples": str(self.config.num_samples_per_prompt),
                            **language,
                            **{alias: language[name] for alias, name in aliases.items()},
                        },
                        language=code,
                        fields={"document_id": row.document_id, "row": str(row.index)},
                    )
                )
        return combos

    def prompt_requests(self) -> Iterator[PromptRequest]:
        # A request's position in the run keeps two identical rows two requests (keys include `draw`).
        return numbered(super().prompt_requests())

    def response_model(self) -> type[BaseModel]:
        return self._response_model

    @classmethod
    def quality_fields_of(cls, config: DatasetConfig | None) -> tuple[str, ...]:
        """The output fields (they depend on the config: none without one)."""
        if not isinstance(config, GenericPipelineDatasetConfig):
            return ()
        return tuple(output_item_model(config).model_fields)

    def records_from(self, request: PromptRequest, answer: Any) -> list[dict[str, Any]]:
        row = self._rows_by_index[int(request.fields["row"])]
        forwarded = {name: row.values.get(name) for name in self.config.forward_columns or []}
        return [
            {"document_id": request.fields["document_id"], **forwarded, **output.model_dump(mode="json")}
            for output in answer.outputs[: self.config.num_samples_per_prompt]
        ]
