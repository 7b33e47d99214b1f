"""A Responses-API front for the test LLM server, used only to benchmark datafast 0.0.36.

datafast 0.0.36's `OpenAIProvider` calls `litellm.responses(...)`, i.e. OpenAI's Responses API
(`POST {OPENAI_BASE_URL}/responses`), which the project's test server does not speak (it serves chat
completions). This shim accepts `POST /v1/responses`, forwards each one as exactly one
`POST /v1/chat/completions` to the test server (same model, prompt, JSON schema and max tokens, so the server
logs and answers it like any other request, latency included), and wraps the answer as a Responses-API
`response`. When the request asks for `reasoning`, the output starts with an empty reasoning item before the
message, as a reasoning model's does: 0.0.36 reads the text at `response.output[1].content[0].text`.

It runs on its own event loop in a daemon thread of the benchmark process (not in the measured driver).
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from typing import Any

import aiohttp
from aiohttp import web


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(part) for part in content if _text_of(part))
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else _text_of(content.get("content"))
    return ""


def chat_body_from_responses(body: dict[str, Any]) -> dict[str, Any]:
    """The chat-completions request equivalent to a Responses-API request body."""
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        messages = [{"role": "user", "content": raw_input}]
    else:
        messages = [
            {"role": item.get("role", "user"), "content": _text_of(item.get("content"))}
            for item in raw_input or []
            if isinstance(item, dict)
        ]
    if body.get("instructions"):
        messages.insert(0, {"role": "system", "content": str(body["instructions"])})
    chat: dict[str, Any] = {"model": body.get("model", ""), "messages": messages}
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": fmt.get("name", "response"), "schema": fmt.get("schema") or {}, "strict": True},
        }
    elif fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    if body.get("max_output_tokens"):
        chat["max_tokens"] = body["max_output_tokens"]
    return chat


def responses_body_from_chat(request: dict[str, Any], chat: dict[str, Any], seq: int) -> dict[str, Any]:
    """A Responses-API `response` object carrying a chat-completions answer."""
    choice = (chat.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content") or ""
    usage = chat.get("usage") or {}
    output: list[dict[str, Any]] = []
    if request.get("reasoning"):
        output.append({"type": "reasoning", "id": f"rs_{seq:012x}", "summary": []})
    output.append(
        {
            "type": "message",
            "id": f"msg_{seq:012x}",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
    )
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or 0)
    return {
        "id": f"resp_{seq:012x}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed" if choice.get("finish_reason") != "length" else "incomplete",
        "model": request.get("model", ""),
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "text": request.get("text") or {"format": {"type": "text"}},
        "reasoning": request.get("reasoning"),
        "usage": {
            "input_tokens": prompt_tokens,
            "output_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


class ResponsesShim:
    """`POST /v1/responses` on 127.0.0.1, forwarded 1:1 to `upstream_openai_base + "/chat/completions"`."""

    def __init__(self, upstream_openai_base: str) -> None:
        self.upstream = upstream_openai_base.rstrip("/")
        self.forwarded = 0
        self.errors = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._url: str | None = None

    @property
    def openai_base(self) -> str:
        assert self._url is not None, "start() first"
        return self._url + "/v1"

    def start(self) -> ResponsesShim:
        ready: Future[str] = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="responses-shim", daemon=True)
        self._thread.start()
        self._url = ready.result(timeout=30)
        return self

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> ResponsesShim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, ready: Future[str]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
        finally:
            loop.close()

    async def _serve(self, ready: Future[str]) -> None:
        self._stop = asyncio.Event()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            app = web.Application(client_max_size=64 * 1024 * 1024)

            async def responses(request: web.Request) -> web.Response:
                body = await request.json()
                headers = {"Content-Type": "application/json"}
                if "Authorization" in request.headers:
                    headers["Authorization"] = request.headers["Authorization"]
                self.forwarded += 1
                seq = self.forwarded
                async with session.post(
                    self.upstream + "/chat/completions", json=chat_body_from_responses(body), headers=headers
                ) as upstream:
                    payload = await upstream.json(content_type=None)
                    if upstream.status != 200:
                        self.errors += 1
                        return web.json_response(payload, status=upstream.status)
                return web.json_response(responses_body_from_chat(body, payload, seq))

            for prefix in ("", "/v1"):
                app.router.add_post(prefix + "/responses", responses)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            ready.set_result(f"http://127.0.0.1:{port}")
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()
