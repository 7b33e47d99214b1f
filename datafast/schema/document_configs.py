"""The configurations of the row-based dataset types: multiple-choice questions from documents and the
generic pipeline over input rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, Field, field_serializer, field_validator, model_validator

from datafast.expansion import PromptTemplate
from datafast.schema.base_config import IDENTIFIER, LANGUAGE_PLACEHOLDERS, DatasetConfig, check_step_prompts
from datafast.schema.data_rows import DatasetRow
from datafast.sources import SourceFields


class MCQDatasetConfig(SourceFields, DatasetConfig):
    """A multiple-choice question dataset from source documents.

    Documents come from a Hugging Face dataset (`hf_dataset_name`, or a `save_to_disk` folder), a local
    JSONL, JSON, CSV, Parquet or text file (`local_file_path`) or a list (`input_rows`); `text_column` holds
    the text, the optional `context_column` extra context given to the LLM with it. Documents whose text is shorter
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
        **LANGUAGE_PLACEHOLDERS,
    }
    required_placeholders: ClassVar[frozenset[str]] = frozenset({"num_samples"})
    # Instructions first, then the document (shared by its languages' requests), and the request with its count and
    # language last: every request shares the instructions as a prefix, which a provider's prompt cache can reuse.
    default_prompts: ClassVar[tuple[str, ...]] = (
        "Write multiple-choice exam questions that test understanding of the source document below, each with "
        "its one correct answer. Cover different facts, causes, consequences and details rather than the same "
        "point twice, and prefer questions that need the document's content over trivia anyone could guess. "
        "Every question must be answerable on its own, without seeing the document (never write 'the document', "
        "'the text' or 'according to'). Keep each correct answer short: a word, a number or a brief phrase.\n\n"
        "Source document:\n<document>\n{document}\n</document>\n\n"
        "Write {num_samples} such questions, with their correct answers, in {language_name}.",
    )
    context_prompts: ClassVar[tuple[str, ...]] = (
        "Write multiple-choice exam questions that test understanding of the source document below, each with "
        "its one correct answer. Use the document's context (given before it) so that each question names what "
        "it is about and makes sense on its own, without seeing the document (never write 'the document', 'the "
        "text' or 'according to'). Cover different facts, causes and details rather than the same point twice. "
        "Keep each correct answer short: a word, a number or a brief phrase.\n\n"
        "Context: {context}\n\n"
        "Source document from that context:\n<document>\n{document}\n</document>\n\n"
        "Write {num_samples} such questions, with their correct answers, in {language_name}.",
    )
    distractor_placeholders: ClassVar[dict[str, str]] = {
        "question": "the question",
        "correct_answer": "its correct answer",
        "document": "the source document's text",
        "text": "the source document's text, same as {document}",
        "context": "the document's context (context_column)",
        **LANGUAGE_PLACEHOLDERS,
    }

    dataset_type_aliases: ClassVar[tuple[str, ...]] = ("mcq_dataset",)
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
            check_step_prompts(
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
    `{language_name}` (or 0.0.36's `{language}`, unless a column has that name) and `{{optional}}` ones); for
    every row × language (× prompt × optional draw), one request asks for `num_samples_per_prompt` outputs,
    each with the `output_columns` (strings) or the fields of `output_model` (a Pydantic model; in a config
    file, its import path `package.module.Model`); with neither, one string `generated_text` (0.0.36's
    default). Each output is a record with the `forward_columns` of its row copied in. `skip_function` (a
    function of the row's column values, or in a config file its import path) returning True leaves a row
    out: it is not asked, nor counted.
    """

    builtin_placeholders: ClassVar[dict[str, str]] = {
        "num_samples": "the number of outputs to write, num_samples_per_prompt",
        **LANGUAGE_PLACEHOLDERS,
    }

    dataset_type_aliases: ClassVar[tuple[str, ...]] = ("generic_pipeline_dataset",)
    dataset_type: Literal["generic_pipeline"] = "generic_pipeline"
    input_columns: list[str] = Field(min_length=1)
    forward_columns: list[str] | None = None
    output_columns: list[str] | None = None
    output_model: type[BaseModel] | str | None = None
    skip_function: Callable[[dict[str, Any]], bool] | None = None
    num_samples_per_prompt: int = Field(default=1, ge=1, le=100)
    output_file: str = Field(default="generic_pipeline.jsonl", min_length=1)

    @property
    def mandatory_placeholders(self) -> dict[str, str]:  # type: ignore[override]
        """The `{names}` a prompt may use: the input columns, then `{num_samples}` and the language (also as
        0.0.36's `{language}`, unless an input column is called so)."""
        columns = {name: f"the row's {name!r} column (input_columns)" for name in self.input_columns}
        language = {} if "language" in columns else {"language": "the language name, as {language_name}"}
        return {**columns, **self.builtin_placeholders, **language}

    @property
    def placeholder_aliases(self) -> dict[str, str]:  # type: ignore[override]
        """`{language}` (Datafast 0.0.36's name) stands for `{language_name}`, unless it is an input column."""
        return {} if "language" in self.input_columns else {"language": "language_name"}

    @field_validator("input_columns", "forward_columns", "output_columns")
    @classmethod
    def _check_columns(cls, columns: list[str] | None, info: Any) -> list[str] | None:
        if columns is None:
            return None
        if not columns:
            raise ValueError(f"{info.field_name} is an empty list: give at least one column or leave it out")
        for name in columns:
            if info.field_name != "forward_columns" and not IDENTIFIER.match(name):
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

    @field_validator("skip_function", mode="before")
    @classmethod
    def _import_skip_function(cls, value: Any) -> Any:
        if isinstance(value, str):
            function = _import_object(value, "skip_function", "my_package.filters.skip_row")
            if not callable(function):
                raise ValueError(f"skip_function {value!r} is not a function")
            return function
        if value is not None and not callable(value):
            raise ValueError(
                f"skip_function must be a function of a row (a dict of its columns) returning True to skip it, "
                f"got {type(value).__name__}"
            )
        return value

    @field_serializer("skip_function")
    def _dump_skip_function(self, function: Callable[[dict[str, Any]], bool] | None) -> str | None:
        if function is None:
            return None
        return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"

    @model_validator(mode="before")
    @classmethod
    def _require_prompts(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("output_columns") is None and data.get("output_model") is None:
            data = {**data, "output_columns": ["generated_text"]}  # 0.0.36's default output
        if isinstance(data, dict) and not data.get("prompts"):
            raise ValueError(
                "prompts is missing: write the prompt to run over each row, using its columns as {column} "
                "placeholders, e.g. 'Summarise this review in one sentence: {review}'"
            )
        return data

    @model_validator(mode="after")
    def _check_pipeline(self) -> Self:
        if self.output_columns is not None and self.output_model is not None:
            raise ValueError(
                "give either output_columns (names of the text fields to generate) or output_model (a Pydantic "
                "model), not both"
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
        if self.keep_reasoning and "reasoning" in [*outputs, *forward]:
            raise ValueError(
                "keep_reasoning adds a 'reasoning' field to every record, and this config has a column of that "
                "name; rename it"
            )
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
    model = _import_object(path, "output_model", "my_package.models.Answer")
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError(f"output_model {path!r} is not a Pydantic model class")
    return model


def _import_object(path: str, field: str, example: str) -> Any:
    """What `package.module.name` (or `package.module:name`) names (None if the module has no such name), for
    the config field `field`."""
    import importlib

    module_name, sep, name = path.replace(":", ".").rpartition(".")
    if not sep or not module_name or not all(IDENTIFIER.match(part) for part in path.replace(":", ".").split(".")):
        raise ValueError(f"{field} {path!r} is not an import path such as {example!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{field} {path!r}: cannot import {module_name!r}: {exc}") from None
    return getattr(module, name, None)
