"""Produce a JSON instance that is valid against a JSON schema.

Covers the subset of JSON schema that Pydantic, OpenAI, Anthropic, Gemini and Ollama structured-output requests
use: objects, arrays (including ``prefixItems``), strings, numbers, booleans, null, ``enum``/``const``,
``$ref`` into ``$defs``/``definitions``, ``anyOf``/``oneOf``/``allOf``, list-valued ``type`` and OpenAPI-style
upper-case types (Gemini's ``responseSchema``). ``pattern`` is not honoured.
"""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

from datafast.testing import words

JSONSchema = dict[str, Any] | bool

_FORMAT_SAMPLES: dict[str, str] = {
    "date-time": "2024-05-17T09:30:00Z",
    "date": "2024-05-17",
    "time": "09:30:00",
    "email": "someone@example.com",
    "uri": "https://example.com/page",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
}


class SchemaError(ValueError):
    """The schema cannot be instantiated (for example a ``$ref`` that points nowhere)."""


class SchemaFaker:
    """Generates schema-valid fake data; strings are English-like sentences from a fixed word list.

    ``default_array_items`` is used for arrays without ``minItems``/``maxItems``; past ``max_depth`` nesting
    levels, recursion is cut short (minimum array lengths, ``null`` branches, optional fields left out).
    """

    def __init__(self, default_array_items: int = 3, max_depth: int = 6) -> None:
        self.default_array_items = default_array_items
        self.max_depth = max_depth

    def generate(self, schema: JSONSchema, rng: random.Random) -> Any:
        """Return an instance of ``schema`` drawn from ``rng``; raises :class:`SchemaError` if it is broken."""
        root = schema if isinstance(schema, dict) else {}
        return self._value(schema, rng, root, 0)

    def check(self, schema: JSONSchema) -> None:
        """Raise :class:`SchemaError` if some ``$ref`` in ``schema`` cannot be resolved."""
        if not isinstance(schema, dict):
            return
        stack: list[Any] = [schema]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str):
                    self._resolve(ref, schema)
                stack.extend(v for v in node.values() if isinstance(v, dict | list))
            elif isinstance(node, list):
                stack.extend(v for v in node if isinstance(v, dict | list))

    # -- dispatch -------------------------------------------------------------------------------------------

    def _value(self, schema: JSONSchema, rng: random.Random, root: dict[str, Any], depth: int) -> Any:
        if schema is True or schema == {}:
            return words.sentence(rng)
        if not isinstance(schema, dict):
            return None
        description = schema.get("description")
        if isinstance(description, str) and "Note: " in description:
            schema = _constraints_from_note(schema, description)
        if "$ref" in schema:
            return self._value(self._resolve(schema["$ref"], root), rng, root, depth + 1)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                return self._value(self._pick_branch(schema[key], depth), rng, root, depth)
        if schema.get("allOf"):
            return self._value(_merge_all_of(schema), rng, root, depth)
        kind = _schema_type(schema, prefer_null=depth > self.max_depth)
        if kind == "object":
            return self._object(schema, rng, root, depth)
        if kind == "array":
            return self._array(schema, rng, root, depth)
        if kind == "integer":
            return _integer(schema, rng)
        if kind == "number":
            return _number(schema, rng)
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "null":
            return None
        return _string(schema, rng)

    def _pick_branch(self, branches: list[JSONSchema], depth: int) -> JSONSchema:
        non_null = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
        if depth > self.max_depth and len(non_null) < len(branches):
            return {"type": "null"}
        return non_null[0] if non_null else branches[0]

    @staticmethod
    def _resolve(ref: str, root: dict[str, Any]) -> JSONSchema:
        if not ref.startswith(("#", "/")):  # LiteLLM sends "/$defs/X" in Anthropic tool mode
            raise SchemaError(f"only local $ref values are supported, got {ref!r}")
        node: Any = root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaError(f"unresolvable $ref {ref!r}")
            node = node[part]
        if not isinstance(node, dict | bool):
            raise SchemaError(f"$ref {ref!r} does not point to a schema")
        return node

    # -- containers -----------------------------------------------------------------------------------------

    def _object(self, schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int) -> Any:
        props: dict[str, JSONSchema] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        shallow = depth > self.max_depth
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if shallow and name not in required:
                continue
            out[name] = self._value(sub, rng, root, depth + 1)
        extra = schema.get("additionalProperties")
        if not props and isinstance(extra, dict) and not shallow:
            wanted = max(int(schema.get("minProperties", 0)), 2)
            wanted = min(wanted, int(schema.get("maxProperties", wanted)))
            for i in range(wanted):
                out[f"{rng.choice(words.NOUNS)}_{i + 1}"] = self._value(extra, rng, root, depth + 1)
        return out

    def _array(self, schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int) -> Any:
        lo, hi = schema.get("minItems"), schema.get("maxItems")
        if depth > self.max_depth:
            count = int(lo or 0)
        elif lo is not None and hi is not None:
            count = int(hi)
        elif lo is not None:
            count = max(int(lo), self.default_array_items)
        elif hi is not None:
            count = min(int(hi), self.default_array_items)
        else:
            count = self.default_array_items
        prefix: list[JSONSchema] = schema.get("prefixItems") or []
        items = schema.get("items", {} if not prefix else False)
        out: list[Any] = [self._value(sub, rng, root, depth + 1) for sub in prefix[:count]]
        if items is False:
            return out
        unique = bool(schema.get("uniqueItems"))
        attempts = 0
        while len(out) < count and attempts < count * 10:
            attempts += 1
            value = self._value(items, rng, root, depth + 1)
            if unique and value in out:
                continue
            out.append(value)
        return out


_NOTE_LABELS: tuple[tuple[str, str], ...] = (
    ("exclusive minimum value", "exclusiveMinimum"),
    ("exclusive maximum value", "exclusiveMaximum"),
    ("minimum value", "minimum"),
    ("maximum value", "maximum"),
    ("minimum number of items", "minItems"),
    ("maximum number of items", "maxItems"),
    ("minimum length", "minLength"),
    ("maximum length", "maxLength"),
    ("must be a multiple of", "multipleOf"),
)


def _constraints_from_note(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """Honour constraints that LiteLLM moved into a "Note: ..." description (Anthropic ``output_format``).

    A capable model reads such notes; restoring them keeps answers valid against the caller's original model.
    """
    found: dict[str, Any] = {}
    note = description[description.index("Note: ") + len("Note: ") :].strip().rstrip(".")
    for piece in note.split(", "):
        if piece == "all array items must be unique":
            found["uniqueItems"] = True
            continue
        for label, keyword in _NOTE_LABELS:
            if piece.startswith(label) and keyword not in schema:
                try:
                    number = float(piece[len(label) :].lstrip(": "))
                except ValueError:
                    break
                found[keyword] = int(number) if number.is_integer() else number
                break
    return {**schema, **found} if found else schema


def _schema_type(schema: dict[str, Any], prefer_null: bool) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        names = [str(k).lower() for k in kind]
        if prefer_null and "null" in names:
            return "null"
        non_null = [k for k in names if k != "null"]
        kind = non_null[0] if non_null else "null"
    if isinstance(kind, str):
        return kind.lower()
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties":
                merged.setdefault("properties", {}).update(value)
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _string(schema: dict[str, Any], rng: random.Random) -> str:
    min_len = int(schema.get("minLength", 0))
    max_len = schema.get("maxLength")
    fmt = schema.get("format")
    sample = str(uuid.UUID(int=rng.getrandbits(128), version=4)) if fmt == "uuid" else _FORMAT_SAMPLES.get(fmt or "")
    if sample is not None and len(sample) >= min_len and (max_len is None or len(sample) <= max_len):
        return sample
    return words.text_between(rng, min_len, None if max_len is None else int(max_len))


def _bounds(schema: dict[str, Any]) -> tuple[float | None, float | None, bool, bool]:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    lo_excl = hi_excl = False
    ex_lo, ex_hi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(ex_lo, bool):  # draft 4 style
        lo_excl = ex_lo
    elif ex_lo is not None and (lo is None or ex_lo >= lo):
        lo, lo_excl = ex_lo, True
    if isinstance(ex_hi, bool):
        hi_excl = ex_hi
    elif ex_hi is not None and (hi is None or ex_hi <= hi):
        hi, hi_excl = ex_hi, True
    return lo, hi, lo_excl, hi_excl


def _integer(schema: dict[str, Any], rng: random.Random) -> int:
    lo, hi, lo_excl, hi_excl = _bounds(schema)
    low = None if lo is None else (math.floor(lo) + 1 if lo_excl else math.ceil(lo))
    high = None if hi is None else (math.ceil(hi) - 1 if hi_excl else math.floor(hi))
    if low is None and high is None:
        low, high = 0, 100
    elif low is None:
        low = high - 100 if high is not None else 0
    elif high is None:
        high = low + 100
    assert low is not None and high is not None
    value = rng.randint(low, max(low, high))
    step = schema.get("multipleOf")
    if isinstance(step, int) and step > 0:
        value = (value // step) * step
        if value < low:
            value += step
    return value


def _number(schema: dict[str, Any], rng: random.Random) -> float:
    lo, hi, lo_excl, hi_excl = _bounds(schema)
    low = float(lo) if lo is not None else (float(hi) - 100.0 if hi is not None else 0.0)
    high = float(hi) if hi is not None else low + 100.0
    value = round(rng.uniform(low, high), 2)
    too_low = value < low or (lo_excl and value <= low)
    too_high = value > high or (hi_excl and value >= high)
    if too_low or too_high:
        value = (low + high) / 2
    return value
