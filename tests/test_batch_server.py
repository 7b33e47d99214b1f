"""Tests of the test server's batch APIs (OpenAI files + batches, Anthropic message batches) over real HTTP.

The OpenAI flow goes through LiteLLM's own batch functions, which proves the wire format; the Anthropic flow
and the error cases use httpx.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx
import litellm
import pytest

from datafast.testing import LLMTestServer

KEY = "sk-test"


def openai_line(custom_id: str, prompt: str) -> dict[str, Any]:
    """One line of an OpenAI batch input file."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def anthropic_params(prompt: str) -> dict[str, Any]:
    """Anthropic messages params for one prompt."""
    return {"model": "claude-x", "max_tokens": 512, "messages": [{"role": "user", "content": prompt}]}


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    """Rows as JSON lines."""
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def parse_jsonl(data: bytes) -> list[dict[str, Any]]:
    """JSON lines back to rows."""
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def openai_kwargs(server: LLMTestServer) -> dict[str, Any]:
    """LiteLLM arguments pointing the OpenAI batch functions at ``server``."""
    return {"custom_llm_provider": "openai", "api_base": server.openai_base, "api_key": KEY}


def submit_openai(server: LLMTestServer, n: int, prefix: str = "prompt") -> str:
    """Upload an input file of ``n`` requests and create a batch from it with LiteLLM; the batch id."""
    rows = [openai_line(f"req-{i}", f"{prefix} number {i}, write a sentence") for i in range(n)]
    uploaded = litellm.create_file(file=("input.jsonl", jsonl(rows)), purpose="batch", **openai_kwargs(server))
    batch = litellm.create_batch(
        completion_window="24h", endpoint="/v1/chat/completions", input_file_id=uploaded.id, **openai_kwargs(server)
    )
    assert batch.status == "validating" or server.behavior().batch_delay_s == 0
    assert batch.request_counts is not None and batch.request_counts.total == n
    return str(batch.id)


def wait_openai(server: LLMTestServer, batch_id: str, timeout_s: float = 10.0) -> Any:
    """Poll with LiteLLM until the batch is no longer validating or in progress."""
    deadline = time.monotonic() + timeout_s
    while True:
        batch = litellm.retrieve_batch(batch_id=batch_id, **openai_kwargs(server))
        if batch.status not in ("validating", "in_progress", "finalizing") or time.monotonic() > deadline:
            return batch
        time.sleep(0.05)


def file_rows(server: LLMTestServer, file_id: str | None) -> list[dict[str, Any]]:
    """The lines of an OpenAI file read with LiteLLM (none for no file)."""
    if file_id is None:
        return []
    return parse_jsonl(litellm.file_content(file_id=file_id, **openai_kwargs(server)).content)


@pytest.fixture
def server() -> Iterator[LLMTestServer]:
    """A server whose batches are answered after 0.3 s."""
    with LLMTestServer(batch_delay_s=0.3) as srv:
        yield srv


# -- OpenAI ------------------------------------------------------------------------------------------------


def test_openai_batch_completes_after_the_delay_with_online_answers(server: LLMTestServer) -> None:
    batch_id = submit_openai(server, 5)
    first = litellm.retrieve_batch(batch_id=batch_id, **openai_kwargs(server))
    assert first.status == "in_progress" and first.output_file_id is None
    batch = wait_openai(server, batch_id)
    assert batch.status == "completed" and batch.error_file_id is None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (5, 5, 0)
    rows = file_rows(server, batch.output_file_id)
    assert [r["custom_id"] for r in rows] == [f"req-{i}" for i in range(5)]
    assert all(r["response"]["status_code"] == 200 and r["error"] is None for r in rows)
    answer = rows[2]["response"]["body"]
    assert answer["object"] == "chat.completion" and answer["choices"][0]["message"]["content"]
    assert "prompt_tokens_details" not in answer["usage"]  # no cache share configured
    # The online endpoint gives the same prompt the same answer (after a reset of the answer counters).
    server.reset()
    online = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "prompt number 2, write a sentence"}],
        api_base=server.openai_base,
        api_key=KEY,
    )
    assert online.choices[0].message.content == answer["choices"][0]["message"]["content"]
    # The input file and its metadata stay readable.
    described = httpx.get(f"{server.openai_base}/files/{batch.input_file_id}").json()
    assert described["purpose"] == "batch" and described["bytes"] > 0


def test_openai_batch_failures_and_expiries_at_the_configured_rates() -> None:
    with LLMTestServer(batch_delay_s=0.0, batch_rate_failed=0.2, batch_rate_expired=0.1, seed=3) as server:
        batch = wait_openai(server, submit_openai(server, 300))
        assert batch.status == "expired"  # some requests ran out of the completion window
        ok, bad = file_rows(server, batch.output_file_id), file_rows(server, batch.error_file_id)
        assert sorted(r["custom_id"] for r in ok + bad) == sorted(f"req-{i}" for i in range(300))
        failed = [r for r in bad if r["response"] is not None]
        expired = [r for r in bad if r["response"] is None]
        assert 30 <= len(failed) <= 90 and 10 <= len(expired) <= 50
        assert all(r["response"]["status_code"] == 500 and r["error"] is None for r in failed)
        assert all(r["error"]["code"] == "batch_expired" for r in expired)
        assert batch.request_counts.completed == len(ok) and batch.request_counts.failed == len(bad)


def test_openai_cancel_list_and_event_log(server: LLMTestServer) -> None:
    server.set_behavior(batch_delay_s=30.0)
    first, second = submit_openai(server, 3), submit_openai(server, 4, prefix="other")
    cancelled = litellm.cancel_batch(batch_id=first, **openai_kwargs(server))
    assert cancelled.status == "cancelled" and cancelled.output_file_id is None
    assert litellm.retrieve_batch(batch_id=second, **openai_kwargs(server)).status == "in_progress"
    listed = httpx.get(f"{server.openai_base}/batches", params={"limit": 1}).json()
    assert [b["id"] for b in listed["data"]] == [second] and listed["has_more"]
    events = server.batch_events()
    submits = [e for e in events if e.action == "submit"]
    assert [(e.batch_id, e.requests) for e in submits] == [(first, 3), (second, 4)]
    assert [e.action for e in events].count("upload") == 2
    assert [(e.batch_id, e.status) for e in events if e.action == "poll"] == [(second, "in_progress")]
    assert [(e.batch_id, e.status) for e in events if e.action == "cancel"] == [(first, "cancelled")]
    assert server.batch_events(since=events[-2].seq) == events[-1:]


def test_openai_rejects_bad_input_files(server: LLMTestServer) -> None:
    base = server.openai_base
    bad = jsonl([{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {}}])
    file_id = httpx.post(f"{base}/files", files={"file": ("x.jsonl", bad)}, data={"purpose": "batch"}).json()["id"]
    payload = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    resp = httpx.post(f"{base}/batches", json=payload)
    assert resp.status_code == 400 and "endpoint" in resp.json()["error"]["message"]
    resp = httpx.post(f"{base}/batches", json={**payload, "input_file_id": "file-nope"})
    assert resp.status_code == 400
    assert httpx.get(f"{base}/batches/batch_nope").status_code == 404
    assert httpx.get(f"{base}/files/file-nope/content").status_code == 404


# -- Anthropic ---------------------------------------------------------------------------------------------


def anthropic_submit(server: LLMTestServer, n: int) -> dict[str, Any]:
    """Submit ``n`` requests as an Anthropic message batch; the batch object."""
    requests = [{"custom_id": f"m-{i}", "params": anthropic_params(f"tell me about item {i}")} for i in range(n)]
    resp = httpx.post(f"{server.url}/v1/messages/batches", json={"requests": requests}, headers={"x-api-key": KEY})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def anthropic_wait(server: LLMTestServer, batch_id: str) -> dict[str, Any]:
    """Poll until the batch has ended."""
    deadline = time.monotonic() + 10
    while True:
        body = dict(httpx.get(f"{server.url}/v1/messages/batches/{batch_id}").json())
        if body["processing_status"] == "ended" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_anthropic_batch_flow_with_failures_and_expiries() -> None:
    with LLMTestServer(batch_delay_s=0.3, batch_rate_failed=0.25, batch_rate_expired=0.25, seed=1) as server:
        batch = anthropic_submit(server, 40)
        assert batch["type"] == "message_batch" and batch["id"].startswith("msgbatch_")
        assert batch["processing_status"] == "in_progress" and batch["request_counts"]["processing"] == 40
        early = httpx.get(f"{server.url}/v1/messages/batches/{batch['id']}/results")
        assert early.status_code == 400
        ended = anthropic_wait(server, batch["id"])
        counts = ended["request_counts"]
        assert counts["processing"] == 0 and counts["canceled"] == 0
        assert counts["succeeded"] + counts["errored"] + counts["expired"] == 40
        assert counts["errored"] > 0 and counts["expired"] > 0 and counts["succeeded"] > 0
        results = parse_jsonl(httpx.get(ended["results_url"]).content)
        assert [r["custom_id"] for r in results] == [f"m-{i}" for i in range(40)]
        kinds = [r["result"]["type"] for r in results]
        assert {k: kinds.count(k) for k in ("succeeded", "errored", "expired")} == {
            k: counts[k] for k in ("succeeded", "errored", "expired")
        }
        message = next(r["result"]["message"] for r in results if r["result"]["type"] == "succeeded")
        assert message["type"] == "message" and message["content"][0]["text"]
        errored = next(r["result"] for r in results if r["result"]["type"] == "errored")
        assert errored["error"]["error"]["type"] == "api_error"
        actions = [(e.provider, e.action) for e in server.batch_events()]
        assert actions.count(("anthropic", "submit")) == 1 and actions.count(("anthropic", "results")) == 1
        assert actions.count(("anthropic", "poll")) >= 1


def test_anthropic_cancel() -> None:
    with LLMTestServer(batch_delay_s=30.0) as server:
        batch = anthropic_submit(server, 3)
        resp = httpx.post(f"{server.url}/v1/messages/batches/{batch['id']}/cancel")
        body = resp.json()
        assert body["processing_status"] == "ended" and body["request_counts"]["canceled"] == 3
        assert body["cancel_initiated_at"] is not None
        results = parse_jsonl(httpx.get(body["results_url"]).content)
        assert [r["result"] for r in results] == [{"type": "canceled"}] * 3
        bad = httpx.post(f"{server.url}/v1/messages/batches", json={"requests": [{"custom_id": "x"}]})
        assert bad.status_code == 400 and bad.json()["type"] == "error"


# -- cached prompt tokens ----------------------------------------------------------------------------------


def test_cached_prompt_share_in_online_and_batch_usage() -> None:
    prompt = "a fairly long prompt " * 20
    with LLMTestServer(batch_delay_s=0.0, cached_prompt_share=0.5) as server:
        online = httpx.post(
            f"{server.openai_base}/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]},
        ).json()["usage"]
        assert online["prompt_tokens_details"]["cached_tokens"] == online["prompt_tokens"] // 2 > 0
        response = litellm.completion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": prompt}],
            api_base=server.openai_base,
            api_key=KEY,
        )
        assert response.usage.prompt_tokens_details.cached_tokens == online["prompt_tokens"] // 2
        claude = httpx.post(f"{server.url}/v1/messages", json=anthropic_params(prompt)).json()["usage"]
        total = claude["input_tokens"] + claude["cache_read_input_tokens"]
        assert claude["cache_read_input_tokens"] == total // 2 > 0 and claude["cache_creation_input_tokens"] == 0
        batch = wait_openai(server, submit_openai(server, 2))
        usage = file_rows(server, batch.output_file_id)[0]["response"]["body"]["usage"]
        assert usage["prompt_tokens_details"]["cached_tokens"] == usage["prompt_tokens"] // 2
        ended = anthropic_wait(server, anthropic_submit(server, 1)["id"])
        message = parse_jsonl(httpx.get(ended["results_url"]).content)[0]["result"]["message"]
        assert "cache_read_input_tokens" in message["usage"]


def test_batch_events_over_the_control_route_of_a_subprocess_server() -> None:
    with LLMTestServer(subprocess=True, batch_delay_s=0.0) as server:
        batch = anthropic_submit(server, 2)
        anthropic_wait(server, batch["id"])
        events = server.batch_events()
        assert [(e.action, e.requests) for e in events][:2] == [("submit", 2), ("poll", 0)]
        server.reset()
        assert server.batch_events() == []


def test_litellm_reads_an_anthropic_batch() -> None:
    with LLMTestServer(batch_delay_s=0.0) as server:
        batch_id = anthropic_submit(server, 2)["id"]
        batch = litellm.retrieve_batch(
            batch_id=batch_id, custom_llm_provider="anthropic", api_base=server.url, api_key=KEY
        )
        assert batch.status == "completed" and batch.request_counts is not None
        assert (batch.request_counts.total, batch.request_counts.completed) == (2, 2)
