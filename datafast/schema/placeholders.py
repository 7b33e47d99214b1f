"""What `PromptExpansionConfig.placeholders` may give for one `{{name}}`, and the checks of each form.

- a list of texts: plain values (as always);
- a list of `{value, weight}`: weighted values;
- `{depends_on: other, values: {other's value: [...], ...}}`: sub-values that depend on another placeholder;
- `{uniform: [low, high], decimals: 0}`, `{normal: {mean, std}, min, max, decimals}`, `{integers: [low, high]}`:
  numbers, written as text;
- `{personas: {file: ..., column: persona}}` or `{personas: {hf_dataset: ..., config, split, column}}`: a text
  drawn from a column of a local file or a Hugging Face dataset (read when the run starts, not here).

`parse_placeholder` turns what a config file says into these models, with an error that names the placeholder.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from datafast.expansion.samplers import (
    Choice,
    Integers,
    Listed,
    Normal,
    Pool,
    Sampler,
    SubValues,
    Uniform,
    Weighted,
)

PERSONA_FILE_TYPES = (".parquet", ".jsonl", ".json", ".csv", ".txt")
_MAX_DECIMALS = 10
# A normal distribution must put at least this share of its draws between min and max.
_LEAST_MASS = 1e-9


class WeightedValue(BaseModel):
    """One value of a weighted placeholder and its weight: weights are relative (they need not sum to 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str
    weight: float = Field(gt=0, allow_inf_nan=False)


class DependentValues(BaseModel):
    """Values that depend on another placeholder's value (Data Designer's subcategory): `values` gives, for
    each value of the placeholder `depends_on` names, the values to use with it (plain or weighted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    depends_on: str
    values: dict[str, list[str] | list[WeightedValue]]

    @field_validator("values", mode="before")
    @classmethod
    def _parse_values(cls, given: Any) -> Any:
        if not isinstance(given, Mapping) or not given:
            raise ValueError(
                "values must map each value of the depends_on placeholder to its values, e.g. "
                "{AI: [machine learning, robotics], climate: [oceans, policy]}"
            )
        return {
            key: _parse_list(f"values under {key!r}", list(sub) if isinstance(sub, tuple) else sub)
            for key, sub in given.items()
        }


class UniformNumbers(BaseModel):
    """A number drawn uniformly between `uniform`'s two bounds, written with `decimals` decimals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uniform: tuple[float, float]
    decimals: int = Field(default=0, ge=0, le=_MAX_DECIMALS)

    @model_validator(mode="after")
    def _check(self) -> Self:
        low, high = self.uniform
        if not low < high:
            raise ValueError(f"uniform: [{low:g}, {high:g}] must be [low, high] with low < high")
        _check_on_grid({"low": low, "high": high}, self.decimals)
        return self


class NormalParameters(BaseModel):
    """The mean and standard deviation of a normal distribution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float = Field(allow_inf_nan=False)
    std: float = Field(gt=0, allow_inf_nan=False)


class NormalNumbers(BaseModel):
    """A number from a normal distribution, kept between `min` and `max` where given (truncated, not
    clipped), written with `decimals` decimals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    normal: NormalParameters
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)
    decimals: int = Field(default=0, ge=0, le=_MAX_DECIMALS)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        _check_on_grid({"min": self.min, "max": self.max}, self.decimals)
        dist = NormalDist(self.normal.mean, self.normal.std)
        mass = (1.0 if self.max is None else dist.cdf(self.max)) - (0.0 if self.min is None else dist.cdf(self.min))
        if mass < _LEAST_MASS:
            raise ValueError(
                f"min..max lies where normal(mean={self.normal.mean:g}, std={self.normal.std:g}) has almost no "
                "draws; move the bounds towards the mean or widen std"
            )
        return self


class IntegerNumbers(BaseModel):
    """A whole number drawn uniformly from `integers`' two bounds, both included."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    integers: list[int]

    @model_validator(mode="after")
    def _check(self) -> Self:
        if len(self.integers) != 2:
            raise ValueError(
                f"integers takes [low, high], got {len(self.integers)} numbers; to choose among given numbers, "
                "list them as values, e.g. ['1', '5', '10']"
            )
        low, high = self.integers
        if low > high:
            raise ValueError(f"integers: [{low}, {high}] must be [low, high] with low <= high")
        return self


class PersonaFile(BaseModel):
    """Personas in a column of a local file: .parquet, .jsonl, .json, .csv, or .txt (one persona a line)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(min_length=1)
    column: str = Field(default="persona", min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        suffix = Path(self.file).suffix.lower()
        if suffix not in PERSONA_FILE_TYPES:
            raise ValueError(
                f"file {self.file!r}: unsupported file type {suffix or '(none)'!r}; use "
                + ", ".join(PERSONA_FILE_TYPES)
            )
        return self

    def describe(self) -> str:
        """The source as a user named it, for messages."""
        return f"file {self.file!r}"


class PersonaDataset(BaseModel):
    """Personas in a column of a Hugging Face dataset (`datasets.load_dataset(hf_dataset, config, split=split)`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hf_dataset: str = Field(min_length=1)
    config: str | None = None
    split: str = Field(default="train", min_length=1)
    column: str = Field(default="persona", min_length=1)

    def describe(self) -> str:
        """The source as a user named it, for messages."""
        subset = f", config {self.config!r}" if self.config else ""
        return f"Hugging Face dataset {self.hf_dataset!r}{subset}, split {self.split!r}"


PersonaSource = PersonaFile | PersonaDataset


class Personas(BaseModel):
    """A persona drawn uniformly from a column of a local file or a Hugging Face dataset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    personas: PersonaFile | PersonaDataset

    @field_validator("personas", mode="before")
    @classmethod
    def _one_source(cls, given: Any) -> Any:
        if not isinstance(given, Mapping):
            return given
        if ("file" in given) == ("hf_dataset" in given):
            raise ValueError(
                "give exactly one of file (a local .parquet/.jsonl/.json/.csv/.txt file) or hf_dataset "
                "(a Hugging Face dataset, e.g. proj-persona/PersonaHub)"
            )
        if "file" in given:
            if {"config", "split"} & given.keys():
                raise ValueError("config and split are for hf_dataset; a file has neither")
            return PersonaFile.model_validate(dict(given))
        return PersonaDataset.model_validate(dict(given))


SamplerSpec = DependentValues | UniformNumbers | NormalNumbers | IntegerNumbers | Personas
PlaceholderValues = list[str] | list[WeightedValue] | SamplerSpec
# A persona source -> its texts (datafast.datasets.personas reads them, when a run or a plan starts).
PersonaLoader = Callable[[PersonaSource], Sequence[str]]

_FORMS: dict[str, type[BaseModel]] = {
    "depends_on": DependentValues,
    "uniform": UniformNumbers,
    "normal": NormalNumbers,
    "integers": IntegerNumbers,
    "personas": Personas,
}
_FORMS_HELP = (
    "{depends_on: other, values: {...}}, {uniform: [low, high]}, {normal: {mean: .., std: ..}}, "
    "{integers: [low, high]} or {personas: {file: ..} | {hf_dataset: ..}}"
)


def parse_placeholder(name: str, given: Any) -> PlaceholderValues:
    """What a config gives for the placeholder `name`, as one of the forms, or a ValueError naming it."""
    if isinstance(given, BaseModel) and isinstance(given, (*_FORMS.values(),)):
        return given  # type: ignore[return-value]  # (one of the SamplerSpec models, built in Python)
    where = f"placeholder '{name}'"
    if isinstance(given, str):
        raise ValueError(f"{where} is the text {given!r}; give a list of values, e.g. [{given!r}]")
    if isinstance(given, Mapping):
        forms = [key for key in _FORMS if key in given]
        if len(forms) != 1:
            keys = ", ".join(map(str, given)) or "none"
            raise ValueError(f"{where} is a mapping with keys {keys}; give a list of values, or one of {_FORMS_HELP}")
        try:
            return _FORMS[forms[0]].model_validate(dict(given))  # type: ignore[return-value]
        except ValidationError as exc:
            raise ValueError(f"{where} ({forms[0]}): {_first_error(exc)}") from None
    if not isinstance(given, (list, tuple)):
        raise ValueError(f"{where} is a {type(given).__name__}; give a list of values, or one of {_FORMS_HELP}")
    return _parse_list(where, list(given))


def _parse_list(where: str, given: Any) -> list[str] | list[WeightedValue]:
    """Plain or weighted values; `where` names them in errors ("placeholder 'tone'")."""
    if not isinstance(given, list):
        raise ValueError(f"{where} is a {type(given).__name__}; give a list of values")
    if not given:
        raise ValueError(f"{where} has no values: give at least one")
    if all(isinstance(value, str) for value in given):
        _check_distinct(where, given)
        return given
    weighted: list[WeightedValue] = []
    for i, item in enumerate(given):
        if isinstance(item, WeightedValue):
            weighted.append(item)
        elif isinstance(item, Mapping):
            try:
                weighted.append(WeightedValue.model_validate(dict(item)))
            except ValidationError as exc:
                raise ValueError(
                    f"{where}, value [{i}]: {_first_error(exc)}; write it as {{value: ..., weight: ...}}"
                ) from None
        elif isinstance(item, str):
            raise ValueError(f"{where} mixes plain values and {{value, weight}} entries ({item!r}): give each a weight")
        else:
            raise ValueError(f"{where}, value [{i}] is not text ({item!r}); quote it, e.g. '{item}'")
    _check_distinct(where, [w.value for w in weighted])
    return weighted


def _check_distinct(where: str, values: Sequence[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if not value.strip():
            raise ValueError(f"{where} has an empty value")
        if value in seen:
            raise ValueError(f"{where} lists the value {value!r} twice")
        seen.add(value)


def check_dependencies(placeholders: Mapping[str, PlaceholderValues]) -> None:
    """Each `depends_on` names another placeholder with listed or weighted values (no cycle), and gives
    sub-values for exactly that placeholder's values."""
    for name, given in placeholders.items():
        if not isinstance(given, DependentValues):
            continue
        where, parent = f"placeholder '{name}'", given.depends_on
        if parent == name:
            raise ValueError(f"{where} depends on itself; name another placeholder in depends_on")
        if parent not in placeholders:
            raise ValueError(f"{where} depends on '{parent}', which has no values in expansion.placeholders; add it")
        parent_values = possible_values(placeholders, parent, seen={name})
        if parent_values is None:
            raise ValueError(
                f"{where} depends on '{parent}', whose values are drawn numbers or personas; depend on listed values"
            )
        for parent_value in given.values:
            if parent_value not in parent_values:
                close = difflib.get_close_matches(parent_value, parent_values, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"{where} gives values under {parent_value!r}, not a value of '{parent}'{hint}")
        missing = [v for v in parent_values if v not in given.values]
        if missing:
            raise ValueError(f"{where} has no values for {parent}={missing[0]!r}; add them under {missing[0]!r}")


def possible_values(placeholders: Mapping[str, PlaceholderValues], name: str, seen: set[str]) -> list[str] | None:
    """Every value the placeholder `name` can take, in order (None for numbers and personas)."""
    given = placeholders[name]
    if isinstance(given, list):
        return [v.value if isinstance(v, WeightedValue) else v for v in given]
    if not isinstance(given, DependentValues):
        return None
    if name in seen:
        raise ValueError(f"placeholder '{name}' is part of a depends_on cycle ({', '.join(sorted(seen))}); break it")
    if given.depends_on not in placeholders:
        return None  # reported for that placeholder itself
    values: dict[str, None] = {}
    for sub in given.values.values():
        values.update(dict.fromkeys(v.value if isinstance(v, WeightedValue) else v for v in sub))
    possible_values(placeholders, given.depends_on, seen | {name})
    return list(values)


def to_sampler(given: PlaceholderValues, personas: PersonaLoader) -> Sampler:
    """The expansion sampler of one placeholder's values; a persona source is read at its first draw."""
    if isinstance(given, list):
        return _choice(given)
    if isinstance(given, DependentValues):
        return SubValues(given.depends_on, {value: _choice(sub) for value, sub in given.values.items()})
    if isinstance(given, UniformNumbers):
        return Uniform(given.uniform[0], given.uniform[1], given.decimals)
    if isinstance(given, NormalNumbers):
        return Normal(given.normal.mean, given.normal.std, given.min, given.max, given.decimals)
    if isinstance(given, IntegerNumbers):
        return Integers(given.integers[0], given.integers[1])
    source = given.personas
    return Pool(lambda: personas(source))


def _choice(values: list[str] | list[WeightedValue]) -> Choice:
    if all(isinstance(v, str) for v in values):
        return Listed(tuple(v for v in values if isinstance(v, str)))
    weighted = [v for v in values if isinstance(v, WeightedValue)]
    return Weighted(tuple(w.value for w in weighted), tuple(w.weight for w in weighted))


def _check_on_grid(bounds: Mapping[str, float | None], decimals: int) -> None:
    """Bounds are written with at most `decimals` decimals, so a drawn number rounded to them stays inside."""
    for label, bound in bounds.items():
        if bound is not None and not math.isclose(round(bound, decimals), bound, abs_tol=1e-12):
            raise ValueError(
                f"{label} {bound:g} has more decimals than decimals={decimals}; raise decimals or round {label}"
            )


def _first_error(exc: ValidationError) -> str:
    """The first problem pydantic found, where it is (our own checks' messages say where themselves)."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field (check its spelling)"
    if error["type"] == "value_error" and len(error["loc"]) <= 1:
        return message
    return f"{where}: {message}" if where else message
