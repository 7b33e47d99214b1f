"""What every dataset configuration shares: the prompt expansion settings, the base model with its
prompts, languages and output file, and the checks of the prompts of later steps of a chain."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from datafast.expansion import PromptTemplate, check_template
from datafast.expansion.draws import PlaceholderDraws
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.judging import JudgeConfig, ValidatorConfig, check_validators
from datafast.schema.placeholders import (
    PersonaLoader,
    PersonaSource,
    PlaceholderValues,
    check_dependencies,
    parse_placeholder,
    to_sampler,
)

# A placeholder, class or module name: letters, digits and underscores, not starting with a digit.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# ISO 639-1/639-3 language code, optionally with a script or region subtag: en, fra, pt-BR, zh-Hant.
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-([A-Z]{2}|[0-9]{3}|[A-Z][a-z]{3}))?$")


class PromptExpansionConfig(BaseModel):
    """Values for the `{{optional}}` placeholders of the prompts and how to combine them.

    A placeholder's values are a list of texts, or a sampler (`datafast.schema.placeholders`): weighted values,
    sub-values depending on another placeholder, numbers, personas. With `combinatorial=True` every
    combination of the listed values a prompt uses is asked for (at most `max_samples` of them, a guard against
    surprise bills), and each sampler draws once per combination; with `combinatorial=False`,
    `num_random_samples` combinations are drawn with `seed`, none repeated until all have been drawn, and each
    sampler draws once per draw.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    placeholders: dict[str, PlaceholderValues] = Field(default_factory=dict)
    combinatorial: bool = True
    num_random_samples: int = Field(default=1, ge=1)
    max_samples: int = Field(default=1000, ge=1)
    seed: int = 42

    @field_validator("placeholders", mode="before")
    @classmethod
    def _parse_placeholders(cls, given: Any) -> Any:
        if not isinstance(given, Mapping):
            return given  # pydantic says what it expected
        parsed: dict[str, PlaceholderValues] = {}
        for name, values in given.items():
            if not isinstance(name, str) or not IDENTIFIER.match(name):
                raise ValueError(
                    f"placeholder name {name!r} is not valid: use letters, digits and underscores, "
                    "not starting with a digit"
                )
            parsed[name] = parse_placeholder(name, values)
        check_dependencies(parsed)
        return parsed

    def draws(self, names: Iterable[str], personas: PersonaLoader | None = None) -> PlaceholderDraws:
        """The values for a prompt's optional placeholders `names` and those they depend on; `personas`
        reads a persona source's texts (at the first draw: building this reads nothing)."""
        load = personas or _personas_need_a_loader
        samplers = {name: to_sampler(values, load) for name, values in self.placeholders.items()}
        return PlaceholderDraws(names, samplers)

    def num_prompts(self, names: Iterable[str]) -> int:
        """Prompts made of one template with the optional placeholders `names`, for each combination of the
        dataset type's own placeholders: every combination of the listed values, or `num_random_samples`."""
        return self.draws(names).count(combinatorial=self.combinatorial, num_samples=self.num_random_samples)


def _personas_need_a_loader(source: PersonaSource) -> list[str]:
    raise RuntimeError(f"personas from {source.describe()} are read by a dataset; pass `personas` to draws()")


class LabelDefinition(BaseModel):
    """One class of a classification dataset: its name (the label written in records) and a description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)


T = TypeVar("T")


class TypeRegistry(MutableMapping[str, T]):
    """Things by dataset type name. A name may also have aliases (Datafast 0.0.36's names for the same
    types, such as `instruction_dataset` for `ultrachat`): looking an alias up finds what its name finds,
    while iterating (and listing the names in an error) gives each type once, by its own name."""

    def __init__(self) -> None:
        self._items: dict[str, T] = {}
        self.aliases: dict[str, str] = {}

    def name_of(self, name: str) -> str:
        """The type's own name for `name` (itself, or what the alias stands for)."""
        return self.aliases.get(name, name)

    def add_alias(self, alias: str, name: str) -> None:
        """Make `alias` find what `name` finds; a TypeError if it is taken by another type."""
        taken = self.aliases.get(alias, alias if alias in self._items else None)
        if taken is not None and taken != name:
            raise TypeError(f"dataset_type {alias!r} is taken by {taken!r}")
        self.aliases[alias] = name

    def __getitem__(self, name: str) -> T:
        return self._items[self.name_of(name)]

    def __setitem__(self, name: str, value: T) -> None:
        self._items[name] = value

    def __delitem__(self, name: str) -> None:
        del self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"TypeRegistry({self._items!r}, aliases={self.aliases!r})"


# Every dataset config by its `dataset_type` (and 0.0.36's name for it, where different), filled as the
# classes are defined (see DatasetConfig).
CONFIG_TYPES: TypeRegistry[type[DatasetConfig]] = TypeRegistry()


class DatasetConfig(BaseModel):
    """Fields every dataset type shares. Subclasses name their mandatory placeholders and default prompts,
    and declare `dataset_type: Literal["name"] = "name"`: defining such a subclass registers it under that
    name (`CONFIG_TYPES`), which is how a config file's `dataset_type:` finds it. A subclass whose type
    Datafast 0.0.36 named otherwise lists that name in `dataset_type_aliases`: it then finds the same class,
    and a config given it reads `dataset_type` as the type's own name.

    `keep_reasoning=True` gives every record a `reasoning` field: the reasoning trace the provider returned
    with the answer the record came from (None where it returned none; see `DatasetBase.reasoning_step` for
    the types whose records come from several answers)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    dataset_type: str

    # Mandatory placeholder name -> what it is filled with; the names a subclass's prompts may use.
    mandatory_placeholders: ClassVar[dict[str, str]] = {}
    # The ones every prompt must contain; `{language_name}` is added when there is more than one language.
    required_placeholders: ClassVar[frozenset[str]] = frozenset()
    default_prompts: ClassVar[tuple[str, ...]] = ()
    # The field that holds the first-step prompts, for error messages.
    prompts_field: ClassVar[str] = "prompts"
    # Other names of this type's `dataset_type` (Datafast 0.0.36's), accepted for it.
    dataset_type_aliases: ClassVar[tuple[str, ...]] = ()
    # A `{name}` a prompt may write for another one (0.0.36's names): alias -> the placeholder it stands for.
    placeholder_aliases: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.model_fields["dataset_type"].default
        if isinstance(name, str):
            registered = CONFIG_TYPES.get(name)
            if registered is not None and registered.__qualname__ != cls.__qualname__:  # (a reload is not)
                raise TypeError(f"dataset_type {name!r} is taken by {registered.__qualname__}")
            CONFIG_TYPES[name] = cls
            for alias in cls.dataset_type_aliases:
                CONFIG_TYPES.add_alias(alias, name)

    @field_validator("dataset_type", mode="before")
    @classmethod
    def _own_type_name(cls, value: Any) -> Any:
        if isinstance(value, str) and value in cls.dataset_type_aliases:
            return cls.model_fields["dataset_type"].default
        return value

    prompts: list[str] | None = None
    num_samples_per_prompt: int = Field(default=5, ge=1, le=100)
    output_file: str = Field(default="dataset.jsonl", min_length=1)
    languages: dict[str, str] = Field(default_factory=lambda: {"en": "English"})
    expansion: PromptExpansionConfig = Field(default_factory=PromptExpansionConfig)
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)
    # Left out of the config's dump while unset, so that runs made before they existed keep their fingerprint.
    judge: JudgeConfig | None = Field(default=None, exclude_if=lambda judge: judge is None)
    validators: list[ValidatorConfig] = Field(default_factory=list, exclude_if=lambda validators: not validators)
    # Records carry the reasoning trace of their answer (`reasoning`). Left out of the config's dump while off,
    # so that the configs of runs made before it existed keep their fingerprint.
    keep_reasoning: bool = Field(default=False, exclude_if=lambda keep: not keep)

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

    @field_validator("validators")
    @classmethod
    def _check_validators(cls, validators: list[ValidatorConfig]) -> list[ValidatorConfig]:
        return check_validators(validators)

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
            written_as = {self.placeholder_aliases[n] for n in template.mandatory if n in self.placeholder_aliases}
            check_template(
                template,
                where=f"{self.prompts_field}[{i}]",
                allowed=self.mandatory_placeholders,
                required=required - written_as,
                optional_values=placeholders,
            )
            draws = self.expansion.draws(template.optional)
            used_optional.update(draws.names)
            if self.expansion.combinatorial:
                combos = draws.num_combinations()
                if combos > self.expansion.max_samples:
                    raise ValueError(
                        f"{self.prompts_field}[{i}] expands to {combos} combinations of optional placeholders, above "
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


def check_step_prompt(prompt: str | None, field: str, allowed: dict[str, str], required: set[str]) -> None:
    """Check a prompt of a later step of a chain (one template, filled by the dataset type alone)."""
    if prompt is None:
        return
    if not prompt.strip():
        raise ValueError(f"{field} is empty: leave it out to use the default prompt")
    template = PromptTemplate.parse(prompt)
    if template.optional:
        name = sorted(template.optional)[0]
        raise ValueError(
            f"{field} uses the optional placeholder {{{{{name}}}}}; optional placeholders are only filled in "
            "question_generation_prompts (the first step of each chain)"
        )
    check_template(template, where=field, allowed=allowed, required=required, optional_values={})


def check_step_prompts(config: DatasetConfig, prompts: dict[str, tuple[dict[str, str], frozenset[str]]]) -> None:
    for field, (allowed, required) in prompts.items():
        check_step_prompt(getattr(config, field), field, allowed, set(required))


def check_prompt_list(prompts: list[str] | None, field: str) -> list[str] | None:
    if prompts is not None:
        if not prompts:
            raise ValueError(f"{field} is an empty list: leave it out to use the default prompts")
        for i, prompt in enumerate(prompts):
            if not prompt.strip():
                raise ValueError(f"{field}[{i}] is empty")
    return prompts


LANGUAGE_PLACEHOLDERS = {
    "language_name": "the language name, e.g. English",
    "language_code": "the language code, e.g. en",
}
