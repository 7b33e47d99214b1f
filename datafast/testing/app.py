"""The aiohttp application: generation routes for each protocol, fault injection and control routes."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

from aiohttp import web

from datafast.testing.answers import build_answer, cached_tokens, estimate_tokens
from datafast.testing.batch_routes import add_batch_routes
from datafast.testing.batches import BATCH_KEY, BatchStore
from datafast.testing.behavior import FaultPlanner, ServerBehavior
from datafast.testing.protocols import PROTOCOLS, Protocol
from datafast.testing.rate_limits import LIMIT_HEADERS, RateLimiter, Rejection, retry_headers
from datafast.testing.records import RequestRecord, ServerStats, key_hash, prompt_hash
from datafast.testing.schema_faker import SchemaError, SchemaFaker

STATE_KEY: web.AppKey[ServerState] = web.AppKey("llm_test_server_state")

_LIMIT_FIELDS = ("rpm_limit", "tpm_limit", "rate_burst_s")


class ServerState:
    """Everything one server instance remembers: behaviour, request log, counters, rate-limit buckets.

    Loop-thread only.
    """

    def __init__(self, behavior: ServerBehavior | None = None) -> None:
        self.planner = FaultPlanner(behavior)
        self.faker = SchemaFaker(default_array_items=self.planner.behavior.default_array_items)
        self.log: list[RequestRecord] = []
        self.stats = ServerStats()
        self.seq = 0
        self._prompt_counts: dict[str, int] = {}
        self.limiter = _limiter_for(self.planner.behavior)
        self.batches = BatchStore(lambda: self.planner.behavior, self.batch_answer)

    def reset(self) -> None:
        """Forget the log, the counters and the per-prompt answer counters, and refill the rate-limit buckets.

        The behaviour is kept.
        """
        self.log = []
        self.stats = ServerStats(in_flight=self.stats.in_flight, max_in_flight=self.stats.in_flight)
        self.seq = 0
        self._prompt_counts = {}
        self.limiter = _limiter_for(self.planner.behavior)
        self.batches.events = []

    def update_behavior(self, changes: dict[str, Any], replace: bool = False) -> ServerBehavior:
        """Change the behaviour (see :meth:`FaultPlanner.update`).

        The rate-limit buckets start again full when ``rpm_limit``, ``tpm_limit`` or ``rate_burst_s`` change.
        """
        before = self.planner.behavior
        current = self.planner.update(changes, replace=replace)
        self.faker.default_array_items = current.default_array_items
        if any(getattr(before, name) != getattr(current, name) for name in _LIMIT_FIELDS):
            self.limiter = _limiter_for(current)
        return current

    def answer_rng(self, phash: str) -> random.Random:
        """Generator for one answer: seeded by the behaviour seed, the prompt and how often it was seen."""
        count = self._prompt_counts.get(phash, 0) + 1
        self._prompt_counts[phash] = count
        return random.Random(f"{self.planner.behavior.seed}:{phash}:{count}")

    def batch_answer(self, protocol: Protocol, body: dict[str, Any], number: int, fault: str = "ok") -> dict[str, Any]:
        """The body the online endpoint would send for the request ``body`` (the same prompt gets the same
        answer), with no fault or the answer-level ``fault`` given (``malformed``); ``number`` makes its ids.
        Raises ValueError for an unusable body."""
        req = protocol.parse(body, None)
        if req.schema is not None:
            try:
                self.faker.check(req.schema)
            except SchemaError as exc:
                raise ValueError(f"invalid response schema: {exc}") from exc
        behavior = self.planner.behavior
        rng = self.answer_rng(prompt_hash(req.model, req.prompt_text))
        answer = build_answer(req, fault, rng, self.faker, behavior.honor_max_tokens, behavior.reasoning)
        answer.cached_tokens = cached_tokens(answer.prompt_tokens, behavior.cached_prompt_share)
        answer.think_tags = behavior.reasoning_style == "think_tags"
        return protocol.success(req, answer, number)

    def records(self, since: int = 0) -> list[dict[str, Any]]:
        """Log records with ``seq > since`` as dicts."""
        return [r.to_dict() for r in self.log if r.seq > since]


def _limiter_for(behavior: ServerBehavior) -> RateLimiter | None:
    if behavior.rpm_limit is None and behavior.tpm_limit is None:
        return None
    return RateLimiter(behavior.rpm_limit, behavior.tpm_limit, behavior.rate_burst_s)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(body), status=status, headers=headers, content_type="application/json")


def _drop(request: web.Request) -> web.Response:
    """Close the connection without answering; aiohttp then gives up writing the returned response quietly."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=500)


def _too_many(protocol: Protocol, state: ServerState, record: RequestRecord, why: Rejection) -> web.Response:
    """The 429 for a request over a per-minute limit (recorded with the ``429`` outcome, as an injected one)."""
    record.outcome, record.status, record.rate_limited = "429", 429, True
    state.stats.rate_limited += 1
    message = (
        f"Rate limit reached for {why.kind} per minute: limit {why.limit}. "
        f"Please try again in {why.wait_s:.3g}s. (test server)"
    )
    return _json(protocol.rate_limited(message, why.wait_s, why.kind), 429, retry_headers(why.wait_s))


def _reject(protocol: Protocol, record: RequestRecord, message: str) -> web.Response:
    record.outcome, record.status = "bad_request", 400
    return _json(protocol.error(400, message), status=400)


async def _serve(
    request: web.Request, protocol: Protocol, state: ServerState, record: RequestRecord
) -> web.Response:
    behavior = state.planner.behavior
    try:
        body = json.loads(await request.read())
        if not isinstance(body, dict):
            raise ValueError("request body must be a JSON object")
        req = protocol.parse(body, request.match_info.get("model"))
    except (ValueError, AttributeError, TypeError) as exc:
        return _reject(protocol, record, f"invalid request body: {exc}")
    key = protocol.api_key(request.headers, request.query)
    phash = prompt_hash(req.model, req.prompt_text)
    record.model, record.prompt_hash, record.schema_requested = req.model, phash, req.schema is not None
    record.max_tokens = req.max_tokens
    record.params = req.params
    record.has_auth, record.api_key_sha256 = key is not None, key_hash(key) if key else None
    if behavior.log_bodies:
        record.prompt_text, record.cache_marked = req.prompt_text, req.cache_marked
    if req.stream:
        return _reject(protocol, record, "streaming is not supported by the test server")
    try:
        if req.schema is not None:
            state.faker.check(req.schema)
    except SchemaError as exc:
        return _reject(protocol, record, f"invalid response schema: {exc}")

    limiter = state.limiter
    if limiter is not None:
        rejection = limiter.admit(estimate_tokens(req.prompt_text))
        if rejection is not None:
            return _too_many(protocol, state, record, rejection)

    most = behavior.max_concurrent_requests
    if most is not None and state.stats.in_flight > most:
        record.outcome, record.status, record.rate_limited = "429", 429, True
        state.stats.rate_limited += 1
        wait = behavior.retry_after_s
        headers = {"Retry-After": f"{wait:g}", "retry-after-ms": str(round(wait * 1000))}
        message = f"Server at capacity: {most} requests at once (test server)."
        return _json(protocol.error(429, message), 429, headers)

    fault = state.planner.pick(req.prompt_text)
    record.outcome = fault
    if behavior.latency_s > 0:
        await asyncio.sleep(behavior.latency_s)
    if fault == "429":
        record.status = 429
        wait = behavior.retry_after_s
        headers = {"Retry-After": f"{wait:g}", "retry-after-ms": str(round(wait * 1000))}
        return _json(protocol.error(429, "Rate limit exceeded (injected by the test server)."), 429, headers)
    if fault == "500":
        record.status = 500
        return _json(protocol.error(500, "Internal server error (injected by the test server)."), status=500)
    if fault == "timeout":
        await asyncio.sleep(behavior.hang_s)
    if fault == "drop" or (fault == "timeout" and behavior.timeout_then == "close"):
        return _drop(request)
    if fault == "html":  # a proxy's or gateway's page where the API's JSON should be
        record.status = 200
        page = "<html><body><h1>Service temporarily unavailable</h1></body></html>"
        return web.Response(text=page, content_type="text/html")

    rng = state.answer_rng(phash)
    answer = build_answer(req, fault, rng, state.faker, behavior.honor_max_tokens, behavior.reasoning)
    answer.think_tags = behavior.reasoning_style == "think_tags"
    if answer.truncated and fault != "truncated" and fault != "timeout":
        record.outcome = "truncated"
    record.status = 200
    record.prompt_tokens, record.completion_tokens = answer.prompt_tokens, answer.completion_tokens
    answer.cached_tokens = cached_tokens(answer.prompt_tokens, behavior.cached_prompt_share)
    if limiter is not None:
        limiter.charge_tokens(answer.completion_tokens)  # the prompt's tokens were taken on admission
    if behavior.log_bodies:
        record.content, record.reasoning = answer.text, answer.reasoning
    body = protocol.success(req, answer, record.seq)
    if fault == "no_choices":
        body[protocol.answers_key] = type(body[protocol.answers_key])()
    return _json(body)


def _generation_handler(protocol: Protocol) -> Any:
    async def handle(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        stats = state.stats
        state.seq += 1
        record = RequestRecord(seq=state.seq, start=time.monotonic(), protocol=protocol.name, path=request.path)
        if state.planner.behavior.log_records:
            state.log.append(record)
        stats.total += 1
        stats.by_protocol[protocol.name] = stats.by_protocol.get(protocol.name, 0) + 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            response = await _serve(request, protocol, state, record)
            limiter, write_headers = state.limiter, LIMIT_HEADERS.get(protocol.name)
            if limiter is not None and write_headers is not None:
                response.headers.update(write_headers(limiter.state()))
            return response
        finally:
            record.end = time.monotonic()
            stats = state.stats  # a reset may have replaced the counters meanwhile
            stats.in_flight = max(0, stats.in_flight - 1)
            stats.by_outcome[record.outcome] = stats.by_outcome.get(record.outcome, 0) + 1

    return handle


# -- Ollama model discovery -------------------------------------------------------------------------------


async def _ollama_tags(request: web.Request) -> web.Response:
    model = {"name": "llama3:latest", "model": "llama3:latest", "size": 1, "digest": "0" * 64, "details": {}}
    return _json({"models": [model]})


async def _ollama_show(request: web.Request) -> web.Response:
    return _json(
        {
            "modelfile": "",
            "parameters": "",
            "template": "{{ .Prompt }}",
            "details": {"format": "gguf", "family": "llama"},
            "model_info": {"llama.context_length": 8192},
            "capabilities": ["completion"],
        }
    )


# -- control ----------------------------------------------------------------------------------------------


async def _control_log(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.stats.control_requests += 1
    return _json(state.records(int(request.query.get("since", "0"))))


async def _control_stats(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.stats.control_requests += 1
    return _json(state.stats.to_dict())


async def _control_behavior(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.stats.control_requests += 1
    if request.method == "POST":
        try:
            changes = json.loads(await request.read() or b"{}")
            replace = request.query.get("replace", "").lower() in ("1", "true", "yes")
            state.update_behavior(changes, replace=replace)
        except ValueError as exc:  # includes pydantic's ValidationError
            return _json({"error": str(exc)}, status=400)
    return _json(state.planner.current().model_dump())


async def _control_batches(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.stats.control_requests += 1
    since = int(request.query.get("since", "0"))
    return _json([e.to_dict() for e in state.batches.events if e.seq > since])


async def _control_reset(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.reset()
    return _json({"ok": True})


async def _health(request: web.Request) -> web.Response:
    return _json({"ok": True})


def create_app(state: ServerState | None = None) -> web.Application:
    """Build the application; ``state`` (created if omitted) is reachable as ``app[STATE_KEY]``."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = state = state or ServerState()
    app[BATCH_KEY] = state.batches
    openai = _generation_handler(PROTOCOLS["openai"])
    openrouter = _generation_handler(PROTOCOLS["openrouter"])
    anthropic = _generation_handler(PROTOCOLS["anthropic"])
    gemini = _generation_handler(PROTOCOLS["gemini"])
    ollama = _generation_handler(PROTOCOLS["ollama"])
    for prefix in ("", "/v1"):
        app.router.add_post(f"{prefix}/chat/completions", openai)  # also Mistral's
    app.router.add_post("/api/v1/chat/completions", openrouter)
    app.router.add_post("/v1/messages", anthropic)
    app.router.add_post("/messages", anthropic)
    for prefix in ("", "/v1beta", "/v1"):
        app.router.add_post(prefix + "/models/{model:[^/:]+}:generateContent", gemini)
    app.router.add_post("/api/chat", ollama)
    app.router.add_get("/api/tags", _ollama_tags)
    app.router.add_post("/api/show", _ollama_show)
    add_batch_routes(app)
    app.router.add_get("/_control/log", _control_log)
    app.router.add_get("/_control/batches", _control_batches)
    app.router.add_get("/_control/stats", _control_stats)
    app.router.add_get("/_control/behavior", _control_behavior)
    app.router.add_post("/_control/behavior", _control_behavior)
    app.router.add_post("/_control/reset", _control_reset)
    app.router.add_get("/_control/health", _health)
    return app
