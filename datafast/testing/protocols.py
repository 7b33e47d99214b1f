"""Request parsing and response/error shapes of the wire formats the test server speaks (OpenAI chat completions,
also as OpenRouter and Mistral use it, Anthropic messages, Gemini generateContent, Ollama chat)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from datafast.testing.answers import Answer, ParsedRequest


def flatten_content(content: Any) -> str:
    """Text of a message ``content``: a string, or a list of blocks/parts carrying ``text`` (or nested ``content``).

    A list of only text blocks (``{"type": "text", ...}``) is one text cut into pieces, as a request marking a
    prefix for the prompt cache sends it: its pieces are joined as they are. Other parts are joined by newlines.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        separator = "" if all(_is_text_block(part) for part in content) else "\n"
        return separator.join(t for t in (flatten_content(part) for part in content) if t)
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return content["text"]
        return flatten_content(content.get("content") or content.get("parts"))
    return ""


def _is_text_block(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)


def cache_marked(*contents: Any) -> list[str]:
    """The texts of the content blocks that carry ``cache_control`` (Anthropic's prompt-cache marks), in order, in
    a system prompt or in messages' ``content``."""
    marked: list[str] = []
    for content in contents:
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    if part.get("cache_control") is not None and isinstance(part.get("text"), str):
                        marked.append(part["text"])
                    marked += cache_marked(part.get("content"))
    return marked


def _messages_text(messages: Any, key: str = "content") -> list[str]:
    if not isinstance(messages, list):
        return []
    return [t for t in (flatten_content(m.get(key)) for m in messages if isinstance(m, dict)) if t]


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _params(body: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The sampling parameters among ``names`` that ``body`` (a mapping) sets."""
    if not isinstance(body, dict):
        return {}
    return {name: body[name] for name in names if body.get(name) is not None}


# Sampling parameters logged per wire format (see ``ParsedRequest.params``).
_OPENAI_PARAMS = (
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "reasoning_effort",
    "reasoning",
    "seed",
)
_ANTHROPIC_PARAMS = ("temperature", "top_p", "top_k", "thinking")
_GEMINI_PARAMS = (
    "temperature",
    "topP",
    "topK",
    "frequencyPenalty",
    "presencePenalty",
    "thinkingConfig",
    "top_p",
    "top_k",
    "frequency_penalty",
    "presence_penalty",
    "thinking_config",
)
_OLLAMA_PARAMS = ("temperature", "top_p", "top_k", "frequency_penalty", "presence_penalty", "repeat_penalty", "seed")


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    return value[7:] if value[:7].lower() == "bearer " else value


def _openai_usage(answer: Answer) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }
    if answer.cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": answer.cached_tokens, "audio_tokens": 0}
    if answer.reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": answer.reasoning_tokens}
    return usage


def think_block(reasoning: str, text: str) -> str:
    """``text`` opened by ``reasoning`` in a ``<think>`` block, as a reasoning model served raw writes it."""
    return f"<think>\n{reasoning}\n</think>\n\n{text}"


def _carry_reasoning(message: dict[str, Any], answer: Answer, field: str) -> None:
    """Put ``answer``'s reasoning into an OpenAI- or Ollama-format ``message``: in ``field`` or a think block."""
    if answer.reasoning is None:
        return
    if answer.think_tags:
        message["content"] = think_block(answer.reasoning, message.get("content") or "")
    else:
        message[field] = answer.reasoning


def _anthropic_usage(answer: Answer) -> dict[str, Any]:
    """Anthropic counts cache reads apart: ``input_tokens`` is the uncached rest of the prompt."""
    if answer.cached_tokens is None:
        return {"input_tokens": answer.prompt_tokens, "output_tokens": answer.completion_tokens}
    return {
        "input_tokens": answer.prompt_tokens - answer.cached_tokens,
        "output_tokens": answer.completion_tokens,
        "cache_read_input_tokens": answer.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


class Protocol:
    """One LLM wire format: how to read a request and how to shape answers and errors."""

    name = ""
    auth_headers: tuple[str, ...] = ()
    length_reason = ""
    answers_key = ""  # the field of a 200 body that holds the answer (emptied by the 'no_choices' fault)

    def api_key(self, headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
        """The API key sent with the request, if any."""
        for header in self.auth_headers:
            key = _bearer(headers.get(header))
            if key:
                return key
        return query.get("key") or None

    def parse(self, body: dict[str, Any], path_model: str | None) -> ParsedRequest:
        """Extract model, prompt text, schema and limits from a request body."""
        raise NotImplementedError

    def success(self, req: ParsedRequest, answer: Answer, seq: int) -> dict[str, Any]:
        """The 200 body for ``answer``."""
        raise NotImplementedError

    def error(self, status: int, message: str) -> dict[str, Any]:
        """An error body in this protocol's own shape."""
        raise NotImplementedError

    def rate_limited(self, message: str, retry_after_s: float, kind: str) -> dict[str, Any]:
        """The 429 body for a request over the ``kind`` (``requests`` or ``tokens``) per-minute limit."""
        return self.error(429, message)


class OpenAIProtocol(Protocol):
    """``POST /v1/chat/completions`` (OpenAI chat completions)."""

    name = "openai"
    answers_key = "choices"
    auth_headers = ("authorization", "api-key")
    length_reason = "length"
    reasoning_field = "reasoning_content"  # as DeepSeek and vLLM name it

    def parse(self, body: dict[str, Any], path_model: str | None) -> ParsedRequest:
        fmt = body.get("response_format") or {}
        schema = None
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {}
        tool_name = None
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            tool_name = choice["function"].get("name")
            for tool in body.get("tools") or []:
                fn = (tool.get("function") or {}) if isinstance(tool, dict) else {}
                if fn.get("name") == tool_name:
                    schema = fn.get("parameters") or {"type": "object"}
        return ParsedRequest(
            model=str(body.get("model") or ""),
            prompt_text="\n".join(_messages_text(body.get("messages"))),
            schema=schema,
            json_mode=kind in ("json_object", "json_schema"),
            max_tokens=_positive_int(body.get("max_completion_tokens")) or _positive_int(body.get("max_tokens")),
            tool_name=tool_name,
            stream=bool(body.get("stream")),
            params=_params(body, _OPENAI_PARAMS),
            cache_marked=cache_marked(body.get("messages")),
        )

    def success(self, req: ParsedRequest, answer: Answer, seq: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
        finish = "length" if answer.truncated else "stop"
        if req.tool_name is not None and not answer.malformed:
            function = {"name": req.tool_name, "arguments": answer.text}
            call = {"id": f"call_{seq:012x}", "type": "function", "function": function}
            message = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
            finish = "length" if answer.truncated else "tool_calls"
        _carry_reasoning(message, answer, self.reasoning_field)
        return {
            "id": f"chatcmpl-{seq:012x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": _openai_usage(answer),
            "system_fingerprint": None,
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        kind, code = {
            429: ("requests", "rate_limit_exceeded"),
            500: ("server_error", None),
        }.get(status, ("invalid_request_error", None))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def rate_limited(self, message: str, retry_after_s: float, kind: str) -> dict[str, Any]:
        body = self.error(429, message)
        body["error"]["type"] = kind
        return body


class OpenRouterProtocol(OpenAIProtocol):
    """``POST /api/v1/chat/completions`` (OpenRouter): OpenAI's format, with the routed vendor named in the
    answer and, when the request asks for it (``usage: {include: true}``, as LiteLLM always does), the
    request's cost in ``usage.cost`` (a made-up price: one microdollar a token)."""

    name = "openrouter"
    reasoning_field = "reasoning"

    def success(self, req: ParsedRequest, answer: Answer, seq: int) -> dict[str, Any]:
        body = super().success(req, answer, seq)
        body["provider"] = req.model.split("/")[0] if "/" in req.model else "test"
        if req.usage_cost:
            body["usage"]["cost"] = (answer.prompt_tokens + answer.completion_tokens) * OPENROUTER_PRICE_PER_TOKEN
        return body

    def parse(self, body: dict[str, Any], path_model: str | None) -> ParsedRequest:
        req = super().parse(body, path_model)
        usage = body.get("usage")
        req.usage_cost = isinstance(usage, dict) and bool(usage.get("include"))
        return req


# What the test server's OpenRouter charges (in ``usage.cost``) per prompt or completion token.
OPENROUTER_PRICE_PER_TOKEN = 1e-6


class AnthropicProtocol(Protocol):
    """``POST /v1/messages`` (Anthropic messages), in both structured-output modes."""

    name = "anthropic"
    answers_key = "content"
    auth_headers = ("x-api-key", "authorization")
    length_reason = "max_tokens"

    def parse(self, body: dict[str, Any], path_model: str | None) -> ParsedRequest:
        system = flatten_content(body.get("system"))
        texts = ([system] if system else []) + _messages_text(body.get("messages"))
        schema = None
        fmt = body.get("output_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            schema = fmt.get("schema") or {}
        tool_name = None
        choice = body.get("tool_choice")
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        if isinstance(choice, dict) and choice.get("type") in ("tool", "any") and tools:
            wanted = choice.get("name")
            tool = next((t for t in tools if t.get("name") == wanted), tools[0])
            tool_name = str(tool.get("name") or "json_tool_call")
            schema = tool.get("input_schema") or {"type": "object"}
        return ParsedRequest(
            model=str(body.get("model") or ""),
            prompt_text="\n".join(texts),
            schema=schema,
            json_mode=schema is not None,
            max_tokens=_positive_int(body.get("max_tokens")),
            tool_name=tool_name,
            stream=bool(body.get("stream")),
            params=_params(body, _ANTHROPIC_PARAMS),
            cache_marked=cache_marked(body.get("system"), body.get("messages")),
        )

    def success(self, req: ParsedRequest, answer: Answer, seq: int) -> dict[str, Any]:
        if req.tool_name is not None and not answer.malformed:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_{seq:020x}",
                "name": req.tool_name,
                "input": answer.data if isinstance(answer.data, dict) else {},
            }
            stop = "max_tokens" if answer.truncated else "tool_use"
        else:
            block = {"type": "text", "text": answer.text}
            stop = "max_tokens" if answer.truncated else "end_turn"
        content = [block]
        if answer.reasoning is not None:
            signature = f"sig-{seq:012x}"  # Anthropic's is an opaque token that lets a thinking block be sent back
            content.insert(0, {"type": "thinking", "thinking": answer.reasoning, "signature": signature})
        return {
            "id": f"msg_{seq:020x}",
            "type": "message",
            "role": "assistant",
            "model": req.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": _anthropic_usage(answer),
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        kind = {429: "rate_limit_error", 500: "api_error", 404: "not_found_error"}.get(
            status, "invalid_request_error"
        )
        return {"type": "error", "error": {"type": kind, "message": message}}


_GEMINI_SCHEMA_KEYS = ("response_json_schema", "responseJsonSchema", "response_schema", "responseSchema")


class GeminiProtocol(Protocol):
    """``POST /models/{model}:generateContent`` (Gemini / Google AI Studio)."""

    name = "gemini"
    answers_key = "candidates"
    auth_headers = ("x-goog-api-key", "authorization")
    length_reason = "MAX_TOKENS"

    def parse(self, body: dict[str, Any], path_model: str | None) -> ParsedRequest:
        system = flatten_content(body.get("systemInstruction") or body.get("system_instruction"))
        texts = ([system] if system else []) + _messages_text(body.get("contents"), key="parts")
        config = body.get("generationConfig") or body.get("generation_config") or {}
        schema = next((config[k] for k in _GEMINI_SCHEMA_KEYS if isinstance(config.get(k), dict)), None)
        mime = config.get("response_mime_type") or config.get("responseMimeType") or ""
        limit = config.get("max_output_tokens") or config.get("maxOutputTokens")
        return ParsedRequest(
            model=path_model or str(body.get("model") or ""),
            prompt_text="\n".join(texts),
            schema=schema,
            json_mode=schema is not None or mime == "application/json",
            max_tokens=_positive_int(limit),
            params=_params(config, _GEMINI_PARAMS),
        )

    def success(self, req: ParsedRequest, answer: Answer, seq: int) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": answer.text}]
        usage: dict[str, Any] = {
            "promptTokenCount": answer.prompt_tokens,
            "candidatesTokenCount": answer.completion_tokens,
            "totalTokenCount": answer.prompt_tokens + answer.completion_tokens,
        }
        if answer.reasoning is not None:
            parts.insert(0, {"text": answer.reasoning, "thought": True})
            # Gemini counts thinking apart from the answer's tokens.
            usage["candidatesTokenCount"] = answer.completion_tokens - answer.reasoning_tokens
            usage["thoughtsTokenCount"] = answer.reasoning_tokens
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": parts},
                    "finishReason": "MAX_TOKENS" if answer.truncated else "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": usage,
            "modelVersion": req.model,
            "responseId": f"resp-{seq:012x}",
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        state = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 404: "NOT_FOUND"}.get(status, "INVALID_ARGUMENT")
        return {"error": {"code": status, "message": message, "status": state}}

    def rate_limited(self, message: str, retry_after_s: float, kind: str) -> dict[str, Any]:
        body = self.error(429, message)
        delay = f"{max(1, math.ceil(retry_after_s))}s"
        body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
        return body


class OllamaProtocol(Protocol):
    """``POST /api/chat`` (Ollama chat, non-streaming)."""

    name = "ollama"
    answers_key = "message"
    auth_headers = ("authorization",)
    length_reason = "length"

    def parse(self, body: dict[str, Any], path_model: str | None) -> ParsedRequest:
        fmt = body.get("format")
        options = body.get("options") or {}
        return ParsedRequest(
            model=str(body.get("model") or ""),
            prompt_text="\n".join(_messages_text(body.get("messages"))),
            schema=fmt if isinstance(fmt, dict) else None,
            json_mode=bool(fmt),
            max_tokens=_positive_int(options.get("num_predict")),
            stream=bool(body.get("stream")),
            params=_params(options, _OLLAMA_PARAMS),
        )

    def success(self, req: ParsedRequest, answer: Answer, seq: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": answer.text}
        _carry_reasoning(message, answer, "thinking")
        return {
            "model": req.model,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "message": message,
            "done": True,
            "done_reason": "length" if answer.truncated else "stop",
            "total_duration": 0,
            "prompt_eval_count": answer.prompt_tokens,
            "eval_count": answer.completion_tokens,
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message}


PROTOCOLS: dict[str, Protocol] = {
    p.name: p for p in (OpenAIProtocol(), OpenRouterProtocol(), AnthropicProtocol(), GeminiProtocol(), OllamaProtocol())
}
