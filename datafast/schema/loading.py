"""Reading configs from YAML and TOML files, with errors that name the file and the field at fault."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from datafast.errors import ConfigError


def read_config_mapping(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML or TOML config file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".yaml", ".yml", ".toml"}:
        raise ConfigError(f"{path}: unsupported config file type {suffix or '(none)'!r}; use .yaml, .yml or .toml")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        data = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {'TOML' if suffix == '.toml' else 'YAML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of config fields, got {type(data).__name__}")
    return data


def describe_validation_error(error: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """One line per problem: `source: field.path: message`. An unknown field of `model` (the config class)
    is named with the field it probably means."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (check its spelling)"
            if model is not None and len(item["loc"]) == 1:
                close = difflib.get_close_matches(str(item["loc"][0]), list(model.model_fields), n=1)
                if close:
                    message = f"unknown field (did you mean {close[0]!r}?)"
        lines.append(f"{source}: {where}: {message}")
    return "\n".join(lines)


def load_dataset_config(path: str | Path) -> tuple[Any, list[dict[str, Any]]]:
    """A dataset config from a file, of the type its `dataset_type` names, and the file's `llms:` entries. A
    relative `local_file_path` (or personas `file`) is read from the working directory, else from beside the
    config file."""
    from datafast.schema.config import CONFIG_TYPES

    data = read_config_mapping(path)
    llms = data.pop("llms", None) or []
    if not isinstance(llms, list) or not all(isinstance(entry, dict) for entry in llms):
        raise ConfigError(
            f"{path}: llms must be a list of mappings, e.g. [{{provider: openai, model_id: gpt-4.1-mini}}]"
        )
    if "local_file_path" in data:
        data["local_file_path"] = _beside(path, data["local_file_path"])
    expansion = data.get("expansion")
    placeholders = expansion.get("placeholders") if isinstance(expansion, dict) else None
    for given in placeholders.values() if isinstance(placeholders, dict) else ():
        personas = given.get("personas") if isinstance(given, dict) else None
        if isinstance(personas, dict) and "file" in personas:
            personas["file"] = _beside(path, personas["file"])
    dataset_type = data.get("dataset_type")
    if dataset_type is None:
        raise ConfigError(f"{path}: dataset_type is missing; use one of: {', '.join(CONFIG_TYPES)}")
    config_class = CONFIG_TYPES.get(dataset_type)
    if config_class is None:
        raise ConfigError(f"{path}: dataset_type {dataset_type!r} is unknown; use one of: {', '.join(CONFIG_TYPES)}")
    try:
        return config_class.model_validate(data), llms
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, str(path), config_class)) from None


def _beside(config_path: str | Path, source: Any) -> Any:
    """`source`, or the same relative path beside the config file where only that exists."""
    if isinstance(source, str) and not Path(source).is_absolute() and not Path(source).exists():
        beside = Path(config_path).parent / source  # a path written relative to the config file itself
        if beside.exists():
            return str(beside)
    return source
