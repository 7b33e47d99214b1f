"""What a config says about checking records beyond the cleaning rules: `judge:` (an LLM scores each record
against a rubric; records under the threshold are dropped) and `validators:` (named checks of your own: a
Python function, a regular expression, a JSON schema or a length range). Both are checked in full when the
config is built, so an import path that does not import or a regex that does not compile is reported, with
the field at fault, before any request."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

# A criterion's name is a key of the judge's answer and of `judge_scores`.
_CRITERION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# A validator's name goes into the drop reason `validator:<name>`.
_VALIDATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class JudgeCriterion(BaseModel):
    """One line of a judge's rubric: a name (the key of its score in `judge_scores`), what it asks of the
    record, and the scale it is scored on (1 to `scale`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = Field(min_length=1)
    scale: int = Field(default=5, ge=2, le=10)

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _CRITERION_NAME.match(name):
            raise ValueError(
                f"criterion name {name!r} is not valid: use letters, digits and underscores, starting with a "
                "letter (at most 64), e.g. 'fits_label'"
            )
        if name == "reason":
            raise ValueError("'reason' is the judge's explanation, not a criterion: name the criterion otherwise")
        return name


class JudgeConfig(BaseModel):
    """An LLM judge of every record (`judge:` in a config).

    Each record is sent to the judge with the `rubric` (the dataset type's own when left out); the judge
    scores it on each criterion and gives a short reason, which the record keeps (`judge_scores`,
    `judge_reason`). A record is kept when every criterion scores at least `threshold`; otherwise it goes
    to the dropped file with the reason `judge`. `llm` names the judge as an `llms:` entry does
    (`{provider: openai, model_id: gpt-4.1}`); left out, each chain's own LLM judges its records (a
    preference pair's judge LLM when it has one, else its question LLM)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rubric: list[JudgeCriterion] | None = None
    threshold: int = Field(default=3, ge=1)
    llm: dict[str, Any] | None = None

    @field_validator("rubric")
    @classmethod
    def _check_rubric(cls, rubric: list[JudgeCriterion] | None) -> list[JudgeCriterion] | None:
        if rubric is None:
            return None
        if not rubric:
            raise ValueError("rubric is an empty list: give at least one criterion, or leave it out for the default")
        names = [criterion.name for criterion in rubric]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"rubric names the criterion {name!r} twice; criterion names must be unique")
        return rubric

    @field_validator("llm")
    @classmethod
    def _check_llm(cls, llm: dict[str, Any] | None) -> dict[str, Any] | None:
        if llm is not None and "provider" not in llm:
            raise ValueError("llm needs a provider, as an llms: entry: e.g. {provider: openai, model_id: gpt-4.1}")
        if llm is not None and "role" in llm:
            raise ValueError("llm takes no role: it is the judge")
        return llm

    @model_validator(mode="after")
    def _check_threshold(self) -> Self:
        check_threshold(self.threshold, self.rubric or [])
        return self


def check_threshold(threshold: int, rubric: list[JudgeCriterion] | tuple[JudgeCriterion, ...]) -> None:
    """A ValueError when no record could ever be kept: the threshold is above a criterion's scale."""
    for criterion in rubric:
        if threshold > criterion.scale:
            raise ValueError(
                f"judge threshold {threshold} is above the scale of criterion {criterion.name!r} "
                f"(1-{criterion.scale}): no record could be kept; lower the threshold or raise the scale"
            )


class ValidatorConfig(BaseModel):
    """One named check of each record (`validators:` in a config), applied as records arrive: a record that
    fails it goes to the dropped file with the reason `validator:<name>` (and is not judged).

    Exactly one kind:
    - `python: my_package.checks:has_price`: a function of the record (a dict, as written to JSONL) that
      returns True to keep it; returning False or raising drops it.
    - `regex: "..."`: the text must contain a match (anchor it, `^...$`, to match the whole text).
    - `json_schema: {...}`: the record (as written to JSONL) must be valid against the schema.
    - `min_length` / `max_length`: the text's length in characters, bounds included.

    The text is the record's `field` when given (regex and length checks), else the text the cleaning rules
    check (`text`; chat: the conversation; MCQ and preference: the question; generic pipeline: the outputs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    python: Callable[[dict[str, Any]], Any] | None = None
    regex: str | None = None
    json_schema: dict[str, Any] | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    field: str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _VALIDATOR_NAME.match(name):
            raise ValueError(
                f"validator name {name!r} is not valid: use letters, digits, '_', '.' and '-' (at most 64), "
                "e.g. 'has_price'"
            )
        return name

    @field_validator("python", mode="before")
    @classmethod
    def _import_python(cls, value: Any) -> Any:
        if isinstance(value, str):
            return import_function(value)
        if value is not None and not callable(value):
            raise ValueError(
                "python must be the import path of a function (my_package.checks:has_price), got "
                f"{type(value).__name__}"
            )
        return value

    @field_serializer("python")
    def _dump_python(self, function: Callable[[dict[str, Any]], Any] | None) -> str | None:
        if function is None:
            return None
        return f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', repr(function))}"

    @field_validator("regex")
    @classmethod
    def _check_regex(cls, regex: str | None) -> str | None:
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                raise ValueError(f"regex {regex!r} is not a valid regular expression: {exc}") from None
        return regex

    @field_validator("json_schema")
    @classmethod
    def _check_json_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            import jsonschema

            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"json_schema is not a valid JSON schema: {exc.message}") from None
        return schema

    @model_validator(mode="after")
    def _check_kind(self) -> Self:
        kinds = [k for k in ("python", "regex", "json_schema") if getattr(self, k) is not None]
        if self.min_length is not None or self.max_length is not None:
            kinds.append("min_length/max_length")
        if len(kinds) != 1:
            given = f"it gives {' and '.join(kinds)}" if kinds else "it gives none"
            raise ValueError(
                f"validator {self.name!r} needs exactly one of python, regex, json_schema or min_length/max_length; "
                + given
            )
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError(
                f"validator {self.name!r}: min_length {self.min_length} is above max_length {self.max_length}"
            )
        if self.field is not None and kinds[0] in ("python", "json_schema"):
            raise ValueError(
                f"validator {self.name!r}: field applies to regex and length checks only; a {kinds[0]} check "
                "sees the whole record"
            )
        return self

    @property
    def kind(self) -> str:
        """Which check this is: python, regex, json_schema or length."""
        for kind in ("python", "regex", "json_schema"):
            if getattr(self, kind) is not None:
                return kind
        return "length"


def check_validators(validators: list[ValidatorConfig]) -> list[ValidatorConfig]:
    """The validators of a config, their names unique (each is a drop reason)."""
    names = [validator.name for validator in validators]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"validators name {name!r} twice; each validator needs its own name")
    return validators


def import_function(path: str) -> Callable[..., Any]:
    """The function at `package.module:name` (or `package.module.name`), for a validator's `python`."""
    dotted = path.replace(":", ".")
    module_name, sep, name = dotted.rpartition(".")
    if not sep or not module_name or not all(part.isidentifier() for part in dotted.split(".")):
        raise ValueError(f"python {path!r} is not an import path such as 'my_package.checks:has_price'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"python {path!r}: cannot import {module_name!r} ({exc}); check the path, and that the module is "
            "installed or on PYTHONPATH"
        ) from None
    function = getattr(module, name, None)
    if function is None:
        raise ValueError(f"python {path!r}: module {module_name!r} has no {name!r}")
    if not callable(function):
        raise ValueError(f"python {path!r} is not a function")
    return function
