"""LLM roles from config files: an `llms:` entry may say `role: question|chosen|rejected|judge` for a
dataset type whose chains use several LLMs (preference). Checked before anything is sent."""

from __future__ import annotations

from typing import Any

from datafast.datasets.base import DatasetBase
from datafast.errors import ConfigError
from datafast.llms.base import LLMProvider

Providers = list[LLMProvider] | dict[str, LLMProvider]


def is_multi_role(dataset: DatasetBase) -> bool:
    return tuple(dataset.roles) != ("llms",)


def providers_for(
    dataset: DatasetBase, specs: list[dict[str, Any]], source: str, *, require_keys: bool = True
) -> Providers:
    """The providers of a config file's `llms:` entries for `dataset`: a list for a single-role type, a
    role → provider mapping for a multi-role one (every entry then needs a distinct, known `role`)."""
    from datafast.llms.registry import providers_from_specs

    kind = dataset.config.dataset_type
    roles = [spec.get("role") for spec in specs]
    plain = [{k: v for k, v in spec.items() if k != "role"} for spec in specs]
    if not is_multi_role(dataset):
        for i, role in enumerate(roles):
            if role is not None:
                raise ConfigError(
                    f"{source}: llms[{i}]: role {role!r} given, but {kind} has no roles: every provider in llms "
                    "runs whole chains of its own; remove role"
                )
        return providers_from_specs(plain, source, require_keys=require_keys)
    if not specs:
        raise ConfigError(
            f"{source}: {kind} needs llms: entries with a role each ({', '.join(dataset.roles)}), e.g. "
            "[{provider: openai, role: question}, ...]"
        )
    seen: dict[str, int] = {}
    for i, role in enumerate(roles):
        if role is None:
            raise ConfigError(f"{source}: llms[{i}]: role is missing; {kind} needs one of: {', '.join(dataset.roles)}")
        if role not in dataset.roles:
            raise ConfigError(
                f"{source}: llms[{i}]: role {role!r} is unknown for {kind}; use one of: {', '.join(dataset.roles)}"
            )
        if role in seen:
            raise ConfigError(f"{source}: llms[{i}]: role {role!r} is already given to llms[{seen[role]}]")
        seen[role] = i
    built = providers_from_specs(plain, source, require_keys=require_keys)
    providers = dict(zip([str(role) for role in roles], built, strict=True))
    try:
        dataset.bindings(providers)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {_in_file_terms(str(exc), dataset)}") from None
    return providers


def judge_provider(spec: dict[str, Any], *, require_keys: bool = True) -> LLMProvider:
    """The record judge's LLM from a config's `judge.llm` (written as an `llms:` entry, without a role)."""
    from datafast.llms.registry import providers_from_specs

    try:
        return providers_from_specs([spec], "judge.llm", require_keys=require_keys)[0]
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("judge.llm: llms[0]:", "judge.llm:")) from None


def specs_from_options(
    dataset: DatasetBase, options: list[str], file_specs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`llms:` entries from the command line's `--llm PROVIDER[:MODEL]` options, which replace the file's.
    For a type with roles, the one option given takes every role the file names (else every required one)."""
    from datafast.llms.providers import PROVIDERS

    specs: list[dict[str, Any]] = []
    for option in options:
        name, _, model = option.partition(":")
        if name not in PROVIDERS:
            raise ConfigError(f"--llm {option}: provider {name!r} is unknown; use one of: {', '.join(PROVIDERS)}")
        specs.append({"provider": name, **({"model_id": model} if model else {})})
    if not is_multi_role(dataset):
        return specs
    kind = dataset.config.dataset_type
    if len(specs) != 1:
        raise ConfigError(
            f"--llm: {kind} has roles ({', '.join(dataset.roles)}); give --llm once and it takes every role, "
            "or give each role its provider in the file's llms: entries"
        )
    roles = [spec["role"] for spec in file_specs if spec.get("role")] or list(dataset.required_roles())
    return [{**specs[0], "role": role} for role in roles]


def _in_file_terms(message: str, dataset: DatasetBase) -> str:
    # The error names generate()'s keywords; in a file the user writes `role: ...` instead.
    for role, keyword in dataset.role_keywords.items():
        message = message.replace(f"{keyword}=...", f"an llms: entry with role: {role}")
    return message
