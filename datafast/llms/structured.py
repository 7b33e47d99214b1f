"""Structured output: the JSON schema we send for a response model, and reading an answer back into it."""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the strict form OpenAI-style structured output requires:
    every object closed (`additionalProperties: false`) and every property listed as required.
    A fresh copy each call, so a caller (or LiteLLM) may change it freely."""
    return json.loads(strict_schema_json(model))


@lru_cache(maxsize=128)
def strict_schema_json(model: type[BaseModel]) -> str:
    """`strict_json_schema` serialised with sorted keys: computed once per model, used in work keys."""
    schema = copy.deepcopy(model.model_json_schema())

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


def response_format_for(model: type[BaseModel], string_max_length: int | None = None) -> dict[str, Any]:
    """The OpenAI `response_format` LiteLLM translates for each provider (tool call, output_format, ...),
    with every string capped at `string_max_length` characters when given."""
    schema = strict_json_schema(model)
    if string_max_length:
        _limit_strings(schema, string_max_length)
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": schema, "strict": True}}


def _limit_strings(node: Any, limit: int) -> None:
    """Give every free-text string in a JSON schema a `maxLength` (keeping a smaller one), in place."""
    if isinstance(node, dict):
        if node.get("type") == "string" and "enum" not in node and "const" not in node:
            node["maxLength"] = min(node.get("maxLength", limit), limit)
        for value in node.values():
            _limit_strings(value, limit)
    elif isinstance(node, list):
        for value in node:
            _limit_strings(value, limit)


def parse_structured(text: str | None, model: type[BaseModel]) -> BaseModel:
    """Validate an answer against `model`. Tolerates a Markdown code fence around the JSON, which some
    models add even in JSON mode. Raises ValueError with a short reason the repair prompt can quote."""
    if text is None or not text.strip():
        raise ValueError("the answer was empty")
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise ValueError(f"the answer is not valid JSON ({exc.errors()[0]['msg']})") from None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'root'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise ValueError(f"the JSON does not match the schema ({problems})") from None


def repair_messages(
    messages: list[dict[str, Any]], bad_answer: str | None, reason: str, model: type[BaseModel]
) -> list[dict[str, Any]]:
    """The conversation for the one repair retry: the bad answer, what was wrong, and the schema again."""
    schema = strict_schema_json(model)
    return [
        *messages,
        {"role": "assistant", "content": (bad_answer or "")[:4000]},
        {
            "role": "user",
            "content": f"Your answer could not be used: {reason}. Reply again with only one complete JSON "
            f"object that follows this JSON schema, and keep it short enough to finish: {schema}",
        },
    ]
