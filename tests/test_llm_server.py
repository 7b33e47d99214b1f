"""Tests of datafast.testing: the local LLM server used by end-to-end tests and benchmarks.

Everything goes over real HTTP on 127.0.0.1: LiteLLM for the four wire formats, a raw aiohttp client for the
faults (so LiteLLM's own retries do not hide them), and the control routes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")

import aiohttp
import jsonschema
import litellm
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, create_model

from datafast.testing import (
    LLMTestServer,
    SchemaFaker,
    ServerBehavior,
    key_hash,
    prompt_hash,
)

T = TypeVar("T")
Runner = Callable[[Coroutine[Any, Any, T]], T]
REPO_ROOT = Path(__file__).resolve().parents[1]


# -- response models used across the tests -------------------------------------------------------------------


class Tone(StrEnum):
    """Enum field."""

    FORMAL = "formal"
    CASUAL = "casual"


class Review(BaseModel):
    """Nested model with constrained fields."""

    text: str = Field(min_length=10, max_length=200)
    label: Literal["positive", "negative", "neutral"]
    stars: int = Field(ge=1, le=5)
    tone: Tone
    tags: list[str] = Field(min_length=1, max_length=4)
    confidence: float = Field(gt=0, lt=1)


class ReviewBatch(BaseModel):
    """List of nested models plus optional fields."""

    reviews: list[Review] = Field(min_length=2, max_length=5)
    summary: str | None = None
    source: Review | None = None


class Tree(BaseModel):
    """Recursive model."""

    name: str
    children: list[Tree] = Field(default_factory=list)


class Mixed(BaseModel):
    """Dicts, tuples, sets and unions."""

    scores: dict[str, int]
    pair: tuple[int, str]
    labels: set[Literal["a", "b", "c"]]
    value: int | str
    flag: bool
    nothing: None = None


# -- fixtures and helpers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run() -> Iterator[Runner[Any]]:
    """Run coroutines on one event loop for the whole module (LiteLLM caches per-loop clients)."""
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LLMTestServer]:
    with LLMTestServer() as server:
        yield server


@pytest.fixture
def server(shared_server: LLMTestServer) -> LLMTestServer:
    """The module's server with default behaviour, an empty log and zeroed counters."""
    shared_server.set_behavior(ServerBehavior())
    shared_server.reset()
    return shared_server


PROVIDERS: list[tuple[str, bool]] = [  # (LiteLLM model, api_base with /v1)
    ("openai/x", True),
    ("anthropic/claude-3-5-haiku-latest", False),  # tool mode (json_tool_call)
    ("anthropic/claude-haiku-4-5-20251001", False),  # output_format mode
    ("gemini/gemini-2.5-flash", False),
    ("ollama_chat/llama3", False),
]
PROTOCOL_OF = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "ollama_chat": "ollama"}


async def call_litellm(server: LLMTestServer, model: str, v1: bool, **kw: Any) -> Any:
    messages = kw.pop("messages", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    base = server.openai_base if v1 else server.url
    return await litellm.acompletion(model=model, api_base=base, api_key="sk-test", messages=messages, **kw)


def wire_request(protocol: str, base: str, prompt: str, schema: dict[str, Any] | None) -> tuple[str, dict, dict]:
    """URL, headers and body of a raw request in ``protocol``'s wire format."""
    msgs = [{"role": "user", "content": prompt}]
    if protocol == "openai":
        body: dict[str, Any] = {"model": "x", "messages": msgs}
        if schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "R", "schema": schema}}
        return f"{base}/v1/chat/completions", {"Authorization": "Bearer sk-raw"}, body
    if protocol == "anthropic":
        blocks = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
        body = {"model": "claude-x", "messages": blocks, "max_tokens": 4096}
        if schema is not None:
            body["output_format"] = {"type": "json_schema", "schema": schema}
        return f"{base}/v1/messages", {"x-api-key": "sk-raw"}, body
    if protocol == "gemini":
        config = {} if schema is None else {"response_mime_type": "application/json", "response_json_schema": schema}
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}], "generationConfig": config}
        return f"{base}/models/gemini-x:generateContent", {"x-goog-api-key": "sk-raw"}, body
    body = {"model": "llama3", "messages": msgs, "stream": False, "options": {}}
    if schema is not None:
        body["format"] = schema
    return f"{base}/api/chat", {"Authorization": "Bearer sk-raw"}, body


def extract(protocol: str, payload: dict[str, Any]) -> tuple[str, str]:
    """(content text, finish reason) of a successful raw answer."""
    if protocol == "openai":
        choice = payload["choices"][0]
        return choice["message"]["content"], choice["finish_reason"]
    if protocol == "anthropic":
        return payload["content"][0]["text"], payload["stop_reason"]
    if protocol == "gemini":
        cand = payload["candidates"][0]
        return cand["content"]["parts"][0]["text"], cand["finishReason"]
    return payload["message"]["content"], payload["done_reason"]


async def raw_post(
    protocol: str, server: LLMTestServer, prompt: str = "Say hi", schema: dict[str, Any] | None = None
) -> tuple[int, dict[str, str], Any]:
    url, headers, body = wire_request(protocol, server.url, prompt, schema)
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.json(content_type=None)


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


PROTOCOLS = ["openai", "anthropic", "gemini", "ollama"]
REVIEW_SCHEMA = ReviewBatch.model_json_schema()


# -- the four wire formats through LiteLLM -------------------------------------------------------------------


@pytest.mark.parametrize(("model", "v1"), PROVIDERS)
def test_litellm_structured_output_validates(server: LLMTestServer, run: Runner[Any], model: str, v1: bool) -> None:
    resp = run(call_litellm(server, model, v1, response_format=ReviewBatch))
    content = resp.choices[0].message.content
    batch = ReviewBatch.model_validate_json(content)
    assert 2 <= len(batch.reviews) <= 5
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.prompt_tokens >= 1 and resp.usage.completion_tokens >= 1
    [record] = server.requests()
    assert record.protocol == PROTOCOL_OF[model.split("/")[0]]
    assert record.schema_requested and record.outcome == "ok" and record.status == 200
    assert record.prompt_text == "Be brief.\nHi"
    assert json.loads(record.content) == json.loads(content)
    assert record.has_auth and record.api_key_sha256 == key_hash("sk-test")


@pytest.mark.parametrize(("model", "v1"), PROVIDERS)
def test_litellm_recursive_and_mixed_models(server: LLMTestServer, run: Runner[Any], model: str, v1: bool) -> None:
    resp = run(call_litellm(server, model, v1, response_format=Mixed))
    Mixed.model_validate_json(resp.choices[0].message.content)
    if model == "anthropic/claude-haiku-4-5-20251001":
        # LiteLLM 1.110 inlines the root of a recursive model for output_format but keeps "#/$defs/Tree"
        # while dropping $defs; the server, like a strict API, rejects the dangling $ref.
        with pytest.raises(litellm.BadRequestError, match="unresolvable"):
            run(call_litellm(server, model, v1, response_format=Tree))
        return
    resp = run(call_litellm(server, model, v1, response_format=Tree))
    tree = Tree.model_validate_json(resp.choices[0].message.content)
    assert tree.children and tree.children[0].children


@pytest.mark.parametrize(("model", "v1"), PROVIDERS)
def test_litellm_plain_text(server: LLMTestServer, run: Runner[Any], model: str, v1: bool) -> None:
    resp = run(call_litellm(server, model, v1))
    text = resp.choices[0].message.content
    assert text and text.endswith(".") and not is_json(text)
    assert resp.choices[0].finish_reason == "stop"
    assert server.requests()[0].schema_requested is False


def test_anthropic_modes_are_told_apart(server: LLMTestServer, run: Runner[Any]) -> None:
    url, headers, body = wire_request("anthropic", server.url, "hi", None)
    body["tools"] = [{"name": "json_tool_call", "input_schema": Review.model_json_schema()}]
    body["tool_choice"] = {"name": "json_tool_call", "type": "tool"}

    async def go() -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as resp:
            return await resp.json()

    payload = run(go())
    [block] = payload["content"]
    assert block["type"] == "tool_use" and block["name"] == "json_tool_call" and block["id"].startswith("toolu_")
    assert payload["stop_reason"] == "tool_use"
    Review.model_validate(block["input"])


def test_litellm_max_tokens_truncates(server: LLMTestServer, run: Runner[Any]) -> None:
    resp = run(call_litellm(server, "openai/x", True, response_format=ReviewBatch, max_tokens=10))
    assert resp.choices[0].finish_reason == "length"
    assert not is_json(resp.choices[0].message.content)
    assert server.requests()[0].outcome == "truncated"
    server.set_behavior(honor_max_tokens=False)
    resp = run(call_litellm(server, "openai/x", True, response_format=ReviewBatch, max_tokens=10))
    assert resp.choices[0].finish_reason == "stop"


def test_litellm_sees_injected_errors(server: LLMTestServer, run: Runner[Any]) -> None:
    server.set_behavior(script=["429", "500", "drop"], retry_after_s=0)
    for expected in (litellm.RateLimitError, litellm.InternalServerError, litellm.APIConnectionError):
        with pytest.raises(expected):
            run(call_litellm(server, "gemini/gemini-2.5-flash", False, max_retries=0))
    assert [r.outcome for r in server.requests()] == ["429", "500", "drop"]


# -- faults, observed with a raw client ----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_429_has_retry_after_and_protocol_error_shape(
    server: LLMTestServer, run: Runner[Any], protocol: str
) -> None:
    server.set_behavior(script=["429"], retry_after_s=2)
    status, headers, payload = run(raw_post(protocol, server))
    assert status == 429 and headers["Retry-After"] == "2" and headers["retry-after-ms"] == "2000"
    if protocol == "openai":
        assert payload["error"]["code"] == "rate_limit_exceeded" and payload["error"]["message"]
    elif protocol == "anthropic":
        assert payload["type"] == "error" and payload["error"]["type"] == "rate_limit_error"
    elif protocol == "gemini":
        assert payload["error"]["code"] == 429 and payload["error"]["status"] == "RESOURCE_EXHAUSTED"
    else:
        assert isinstance(payload["error"], str)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_500_error_shape(server: LLMTestServer, run: Runner[Any], protocol: str) -> None:
    server.set_behavior(script=["500"])
    status, _, payload = run(raw_post(protocol, server))
    assert status == 500 and "error" in payload


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_drop_gives_connection_error(server: LLMTestServer, run: Runner[Any], protocol: str) -> None:
    server.set_behavior(script=["drop"])
    with pytest.raises(aiohttp.ClientConnectionError):
        run(raw_post(protocol, server))
    status, _, _ = run(raw_post(protocol, server))  # the server itself is fine
    assert status == 200
    assert [r.outcome for r in server.requests()] == ["drop", "ok"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_malformed_and_truncated(server: LLMTestServer, run: Runner[Any], protocol: str) -> None:
    server.set_behavior(script=["malformed", "truncated", "ok"])
    results = [run(raw_post(protocol, server, schema=REVIEW_SCHEMA)) for _ in range(3)]
    assert [status for status, _, _ in results] == [200, 200, 200]
    (bad, bad_finish), (cut, cut_finish), (good, good_finish) = (extract(protocol, p) for _, _, p in results)
    normal, length = {"openai": ("stop", "length"), "anthropic": ("end_turn", "max_tokens"),
                      "gemini": ("STOP", "MAX_TOKENS"), "ollama": ("stop", "length")}[protocol]  # fmt: skip
    assert not is_json(bad) and bad_finish == normal
    assert not is_json(cut) and cut_finish == length and len(cut) > 0
    ReviewBatch.model_validate_json(good)
    assert good_finish == normal


def test_timeout_holds_then_answers_or_closes(server: LLMTestServer, run: Runner[Any]) -> None:
    server.set_behavior(script=["timeout", "timeout"], hang_s=0.3)
    start = time.monotonic()
    status, _, _ = run(raw_post("openai", server))
    assert status == 200 and time.monotonic() - start >= 0.3

    async def impatient() -> None:
        url, headers, body = wire_request("openai", server.url, "hi", None)
        timeout = aiohttp.ClientTimeout(total=0.1)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.post(url, json=body, headers=headers):
            pass

    with pytest.raises(asyncio.TimeoutError):
        run(impatient())
    server.set_behavior(script=["timeout"], hang_s=0.05, timeout_then="close")
    with pytest.raises(aiohttp.ClientConnectionError):
        run(raw_post("openai", server))
    assert [r.outcome for r in server.requests()] == ["timeout"] * 3


def test_script_order_then_rates(server: LLMTestServer, run: Runner[Any]) -> None:
    server.set_behavior(script=["malformed", "malformed", "500", "ok"], rate_429=1.0)
    statuses = [run(raw_post("ollama", server))[0] for _ in range(5)]
    assert statuses == [200, 200, 500, 200, 429]
    assert [r.outcome for r in server.requests()] == ["malformed", "malformed", "500", "ok", "429"]
    assert server.behavior().script == []


def test_script_match_only_consumed_by_matching_prompts(server: LLMTestServer, run: Runner[Any]) -> None:
    server.set_behavior(script=["500"], script_match="NEEDLE")
    assert run(raw_post("openai", server, prompt="plain"))[0] == 200
    assert server.behavior().script == ["500"]
    assert run(raw_post("openai", server, prompt="with NEEDLE inside"))[0] == 500
    assert run(raw_post("openai", server, prompt="with NEEDLE inside"))[0] == 200


def test_random_rates_are_seeded(server: LLMTestServer, run: Runner[Any]) -> None:
    def outcomes() -> list[str]:
        server.set_behavior(seed=7, rate_500=0.3, rate_malformed=0.3)
        server.reset()
        for _ in range(30):
            run(raw_post("openai", server))
        return [r.outcome for r in server.requests()]

    first = outcomes()
    assert first == outcomes()
    assert {"ok", "500", "malformed"} <= set(first)


def test_invalid_behaviour_is_rejected(server: LLMTestServer) -> None:
    with pytest.raises(ValueError):
        server.set_behavior(rate_500=0.8, rate_429=0.5)
    with pytest.raises(ValueError):
        server.set_behavior(script=["explode"])
    assert server.behavior() == ServerBehavior()


# -- latency, concurrency ------------------------------------------------------------------------------------


def test_latency_is_concurrent(server: LLMTestServer, run: Runner[Any]) -> None:
    server.set_behavior(latency_s=0.2)

    async def burst() -> list[int]:
        return [status for status, _, _ in await asyncio.gather(*(raw_post("anthropic", server) for _ in range(20)))]

    start = time.monotonic()
    assert run(burst()) == [200] * 20
    elapsed = time.monotonic() - start
    assert 0.2 <= elapsed < 2.0  # sequential would take 4 s
    assert server.stats().max_in_flight >= 10
    assert all(r.duration is not None and r.duration >= 0.2 for r in server.requests())


# -- request log, answers, control routes --------------------------------------------------------------------


def test_request_log_records_everything(server: LLMTestServer, run: Runner[Any]) -> None:
    status, _, payload = run(raw_post("gemini", server, prompt="Tell me a story", schema=Review.model_json_schema()))
    assert status == 200
    [record] = server.requests()
    content, _ = extract("gemini", payload)
    assert record.seq == 1 and record.protocol == "gemini" and record.path == "/models/gemini-x:generateContent"
    assert record.model == "gemini-x" and record.prompt_text == "Tell me a story"
    assert record.prompt_hash == prompt_hash("gemini-x", "Tell me a story")
    assert record.schema_requested and record.outcome == "ok" and record.content == content
    usage = payload["usageMetadata"]
    assert record.prompt_tokens == usage["promptTokenCount"]
    assert record.completion_tokens == usage["candidatesTokenCount"]
    assert record.completion_tokens == max(1, len(content) // 4)
    assert record.api_key_sha256 == key_hash("sk-raw") and "sk-raw" not in json.dumps(record.to_dict())
    assert record.end is not None and record.end >= record.start
    stats = server.stats()
    assert (stats.total, stats.by_outcome, stats.by_protocol) == (1, {"ok": 1}, {"gemini": 1})


def test_log_bodies_off_keeps_counters(server: LLMTestServer, run: Runner[Any]) -> None:
    server.set_behavior(log_bodies=False)
    run(raw_post("openai", server, prompt="secret prompt"))
    [record] = server.requests()
    assert record.prompt_text == "" and record.content == "" and record.prompt_hash
    server.set_behavior(log_records=False)
    run(raw_post("openai", server))
    assert len(server.requests()) == 1 and server.stats().total == 2


def test_answers_differ_per_retry_but_runs_reproduce(run: Runner[Any]) -> None:
    def session() -> list[str]:
        with LLMTestServer(seed=3) as server:
            return [extract("openai", run(raw_post("openai", server, schema=REVIEW_SCHEMA))[2])[0] for _ in range(3)]

    first = session()
    assert len(set(first)) == 3
    assert session() == first


def test_bad_requests_and_streaming_are_rejected(server: LLMTestServer, run: Runner[Any]) -> None:
    async def go() -> list[tuple[int, Any]]:
        out = []
        async with aiohttp.ClientSession() as http:
            async with http.post(server.url + "/v1/messages", data=b"{not json") as resp:
                out.append((resp.status, await resp.json()))
            body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "stream": True}
            async with http.post(server.openai_base + "/chat/completions", json=body) as resp:
                out.append((resp.status, await resp.json()))
        return out

    (s1, anthropic_err), (s2, openai_err) = run(go())
    assert s1 == 400 and anthropic_err["error"]["type"] == "invalid_request_error"
    assert s2 == 400 and "stream" in openai_err["error"]["message"]
    assert server.stats().by_outcome == {"bad_request": 2}


def test_control_routes_over_http(server: LLMTestServer, run: Runner[Any]) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession(base_url=server.url) as http:
            async with http.post("/_control/behavior", json={"script": ["500"], "latency_s": 0.01}) as resp:
                assert resp.status == 200 and (await resp.json())["script"] == ["500"]
            async with http.post("/_control/behavior", json={"rate_500": 2}) as resp:
                assert resp.status == 400
            async with http.post("/api/chat", json={"model": "m", "messages": []}) as resp:
                assert resp.status == 500
            async with http.get("/_control/log") as resp:
                assert [row["outcome"] for row in await resp.json()] == ["500"]
            async with http.get("/_control/stats") as resp:
                assert (await resp.json())["by_outcome"] == {"500": 1}
            async with http.post("/_control/behavior?replace=1", json={}) as resp:
                assert (await resp.json())["latency_s"] == 0
            async with http.post("/_control/reset") as resp:
                assert resp.status == 200
            async with http.get("/_control/log") as resp:
                assert await resp.json() == []
            async with http.get("/api/tags") as resp:
                assert (await resp.json())["models"]
            async with http.post("/api/show", json={"name": "llama3"}) as resp:
                assert "model_info" in await resp.json()

    run(go())


def test_gemini_openapi_schema_and_openai_tool_call(server: LLMTestServer, run: Runner[Any]) -> None:
    schema = {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}, "s": {"type": "STRING", "nullable": True}}}
    url, headers, body = wire_request("gemini", server.url, "hi", None)
    body["generationConfig"] = {"responseMimeType": "application/json", "responseSchema": schema}
    tool = {"type": "function", "function": {"name": "emit", "parameters": Review.model_json_schema()}}
    openai_body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "tools": [tool],
                   "tool_choice": {"type": "function", "function": {"name": "emit"}}}  # fmt: skip

    async def go() -> tuple[Any, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=body, headers=headers) as resp:
                gemini = await resp.json()
            async with http.post(server.openai_base + "/chat/completions", json=openai_body) as resp:
                openai = await resp.json()
        return gemini, openai

    gemini, openai = run(go())
    value = json.loads(extract("gemini", gemini)[0])
    assert isinstance(value["n"], int) and isinstance(value["s"], str)
    choice = openai["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    Review.model_validate_json(choice["message"]["tool_calls"][0]["function"]["arguments"])


# -- the schema faker, property-tested against jsonschema ----------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), items=st.integers(0, 6), model=st.sampled_from([ReviewBatch, Tree, Mixed, Review]))
def test_faker_output_validates(seed: int, items: int, model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    value = SchemaFaker(default_array_items=items).generate(schema, random.Random(seed))
    jsonschema.Draft202012Validator(schema).validate(value)
    model.model_validate(value)
    text = json.dumps(value)
    assert json.loads(text) == value and "\\" not in text


@st.composite
def constrained_models(draw: st.DrawFn) -> type[BaseModel]:
    """A Pydantic model whose fields carry randomly drawn (but satisfiable) constraints."""
    lo = draw(st.integers(-1000, 1000))
    hi = lo + draw(st.integers(2, 1000))
    min_len = draw(st.integers(0, 300))
    max_len = draw(st.none() | st.integers(min_len, min_len + 300))
    min_items = draw(st.integers(0, 5))
    max_items = draw(st.none() | st.integers(min_items, min_items + 5))
    choices = tuple(draw(st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=1, max_size=4, unique=True)))
    flo = draw(st.floats(-1e6, 1e6, allow_nan=False))
    fhi = flo + draw(st.floats(0.5, 1e6))
    inner = create_model("Inner", word=(str, Field(max_length=max_len)), n=(int, Field(gt=lo, lt=hi)))
    fields: dict[str, Any] = {
        "text": (str, Field(min_length=min_len, max_length=max_len)),
        "count": (int, Field(ge=lo, le=hi)),
        "step": (int, Field(ge=0, le=1000, multiple_of=draw(st.integers(1, 50)))),
        "ratio": (float, Field(gt=flo, lt=fhi)),
        "kind": (Literal[choices], ...),  # type: ignore[valid-type]
        "words": (list[str], Field(min_length=min_items, max_length=max_items)),
        "inner": (list[inner], Field(min_length=min_items)),  # type: ignore[valid-type]
        "maybe": (inner | None, None),  # type: ignore[operator]
    }
    return create_model("Constrained", **fields)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=constrained_models(), seed=st.integers(0, 2**32))
def test_faker_honours_random_constraints(model: type[BaseModel], seed: int) -> None:
    schema = model.model_json_schema()
    value = SchemaFaker().generate(schema, random.Random(seed))
    jsonschema.Draft202012Validator(schema).validate(value)
    model.model_validate(value)
    words = schema["properties"]["words"]
    if "maxItems" in words:
        assert len(value["words"]) == words["maxItems"]


# -- subprocess mode, CLI, throughput ------------------------------------------------------------------------


def test_subprocess_mode_and_throughput(run: Runner[Any]) -> None:
    with LLMTestServer(subprocess=True, log_bodies=False) as server:
        resp = run(call_litellm(server, "anthropic/claude-haiku-4-5-20251001", False, response_format=Review))
        Review.model_validate_json(resp.choices[0].message.content)
        server.set_behavior(script=["500"])
        assert run(raw_post("openai", server))[0] == 500
        assert [r.outcome for r in server.requests()] == ["ok", "500"]
        server.reset()

        async def push(n: int, concurrency: int) -> float:
            url, headers, body = wire_request("openai", server.url, "bench", REVIEW_SCHEMA)
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as http:
                sem = asyncio.Semaphore(concurrency)

                async def one() -> None:
                    async with sem, http.post(url, json=body, headers=headers) as r:
                        await r.read()
                        assert r.status == 200

                start = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(n)))
                return n / (time.perf_counter() - start)

        rate = run(push(2000, 64))
        print(f"\nllm test server (subprocess, zero latency, 64 concurrent): {rate:.0f} req/s")
        assert rate > 150
        assert server.stats().by_outcome == {"ok": 2000}
        proc = server._proc
    assert proc is not None and proc.poll() is not None


def test_cli_prints_url_and_stops_on_ctrl_c() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    args = [sys.executable, "-m", "datafast.testing.llm_server", "--port", "0", "--latency", "0.01"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
