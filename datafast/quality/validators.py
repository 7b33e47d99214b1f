"""A config's validators (`validators:`, `datafast.schema.judging.ValidatorConfig`) at work: each record is
checked as it arrives, and the first validator it fails names its drop reason, `validator:<name>`."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from datafast.errors import ConfigError
from datafast.quality.cleaner import VALIDATOR_PREFIX
from datafast.quality.records import record_text
from datafast.schema.judging import ValidatorConfig

log = logging.getLogger("datafast")


class RecordValidators:
    """The validators of a run, ready to check records. Built before any request: a `field` the records do
    not have is a ConfigError naming the validator. A Python validator that raises fails the record (the
    first time, a warning says what it raised: a bug in it would otherwise drop every record quietly)."""

    def __init__(self, validators: Sequence[ValidatorConfig], record_class: type[BaseModel]) -> None:
        fields = list(record_class.model_fields)
        for i, validator in enumerate(validators):
            if validator.field is not None and validator.field not in fields:
                raise ConfigError(
                    f"validators[{i}] ({validator.name!r}): field {validator.field!r} is not a field of "
                    f"{record_class.__name__} records; use one of: {', '.join(fields)}"
                )
        self.validators = tuple(validators)
        self._patterns = {v.name: re.compile(v.regex) for v in validators if v.regex is not None}
        self._schemas = {v.name: _schema_validator(v.json_schema) for v in validators if v.json_schema is not None}
        self._warned: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.validators)

    def check(self, record: BaseModel, text: str) -> str | None:
        """`validator:<name>` of the first validator `record` fails (`text` is its cleaning text), or None."""
        data: dict[str, Any] | None = None
        for validator in self.validators:
            if validator.kind in ("python", "json_schema"):
                data = data if data is not None else record.model_dump(mode="json")
                passed = self._call(validator, data) if validator.kind == "python" else self._valid(validator, data)
            else:
                value = text if validator.field is None else _field_text(record, validator.field)
                passed = self._matches(validator, value)
            if not passed:
                return VALIDATOR_PREFIX + validator.name
        return None

    def _matches(self, validator: ValidatorConfig, text: str) -> bool:
        if validator.kind == "regex":
            return self._patterns[validator.name].search(text) is not None
        low, high = validator.min_length, validator.max_length
        return (low is None or len(text) >= low) and (high is None or len(text) <= high)

    def _valid(self, validator: ValidatorConfig, data: dict[str, Any]) -> bool:
        return bool(self._schemas[validator.name].is_valid(data))

    def _call(self, validator: ValidatorConfig, data: dict[str, Any]) -> bool:
        assert validator.python is not None
        try:
            return bool(validator.python(data))
        except Exception as exc:  # the user's code: whatever it raises fails the record
            if validator.name not in self._warned:
                self._warned.add(validator.name)
                log.warning(
                    "validator %r raised %s: %s; records it raises on are dropped (validator:%s)",
                    validator.name,
                    type(exc).__name__,
                    exc,
                    validator.name,
                )
            return False


def _field_text(record: BaseModel, field: str) -> str:
    value = getattr(record, field, None)
    if value is None:
        return ""
    if isinstance(value, str | list):
        return record_text({field: value}, (field,))
    return str(value)


def _schema_validator(schema: dict[str, Any]) -> Any:
    import jsonschema

    return jsonschema.validators.validator_for(schema)(schema)
