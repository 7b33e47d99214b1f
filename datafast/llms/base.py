"""The provider base class: one LLM endpoint reached through LiteLLM, with structured output and repair."""

from __future__ import annotations

import asyncio
import copy
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from pydantic import BaseModel

from datafast._sync import run_sync
from datafast.errors import ConfigError, MissingAPIKeyError, ProviderError
from datafast.llms.completion import Completion
from datafast.llms.failures import CallFailure, redact
from datafast.llms.http import HttpPool
from datafast.llms.structured import parse_structured, repair_messages, response_format_for
from datafast.llms.wire import Route, prefetch_litellm

Messages = list[dict[str, Any]]

# Sends one encoded request and returns its answer: `(route, messages, body) -> Completion`. The engine passes
# one to `acomplete` to carry a request in a provider batch instead of an online HTTP request.
Sender = Callable[[Route, Messages, dict[str, Any]], Awaitable[Completion]]


# The values OpenAI's `reasoning_effort` takes (reasoning models; LiteLLM maps it for others that reason).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")

# Stands in for a key that is not set when a run is only planned (`datafast plan`); such a provider
# refuses to send anything.
PLAN_ONLY_KEY = "(no key: planning only)"


class LLMProvider:
    """Base of every provider. Subclasses only set the class variables below.

    Arguments: `model_id` (else the provider's default), `api_key` (else the provider's environment
    variable), `api_base` (else its environment variable), sampling parameters (`temperature`, `top_p`,
    `max_completion_tokens`, `frequency_penalty`, and `reasoning_effort` for reasoning models; LiteLLM
    drops the ones a model does not take), a per-request `timeout` in seconds (None: the provider's
    default), and the limits the engine respects: `max_concurrency`, `rpm_limit`, `tpm_limit`. The
    arguments after `model_id` may also be given by position, in Datafast 0.0.36's order for the provider
    (`positional_args`).
    `string_max_length` adds a `maxLength` to every string of the response schema: small self-hosted
    models otherwise often write until the token limit and never close their JSON.
    `batch=True` sends a run's requests through the provider's batch API (half price, answers within 24
    hours) where it has one (`batch_api`): OpenAI, Anthropic, and OpenAI-compatible servers that serve
    `/v1/batches`. The answers, their work keys and records are the same as online.

    `max_concurrency` is a hard ceiling when given. Left out, a run starts at 32 requests in flight for
    hosted APIs (4 for Ollama, which queues what it cannot run at once and would time requests out) and
    grows while answers come back without 429s and without slowing down; the requests and tokens per
    minute the provider advertises in its rate-limit headers pace it when `rpm_limit`/`tpm_limit` are not
    given. A 429 takes a quarter off the concurrency and honours the server's Retry-After.

    `api_base` may be a list (or a comma-separated environment variable): several servers of one model
    (a fleet of vLLM or llama.cpp servers, several regions), each its own lane with its own limits, the
    load spread by how fast each answers. Answers do not depend on which endpoint gave them.
    """

    provider_name: ClassVar[str] = ""
    litellm_prefix: ClassVar[str] = ""
    default_model_id: ClassVar[str | None] = None
    api_key_env: ClassVar[tuple[str, ...]] = ()
    api_base_env: ClassVar[tuple[str, ...]] = ()
    needs_api_key: ClassVar[bool] = True
    needs_api_base: ClassVar[bool] = False
    default_api_base: ClassVar[str | None] = None
    default_api_key: ClassVar[str | None] = None
    default_max_concurrency: ClassVar[int] = 32
    # Whether the API sends rate-limit headers: a run with no limits given then sends one request first and
    # paces the rest by what its answer's headers say, rather than a blind first wave of 429s.
    advertises_rate_limits: ClassVar[bool] = False
    # Start importing LiteLLM (seconds) in the background as soon as the provider is built.
    prefetch_litellm: ClassVar[bool] = True
    # Seconds a request may take when `timeout` is not given (or given as None, as 0.0.36's default was).
    default_timeout: ClassVar[float] = 120.0
    # The provider's batch API (a key of `datafast.llms.batch_api.BATCH_APIS`), or None if it has none.
    batch_api: ClassVar[str | None] = None
    # Datafast 0.0.36's order of the arguments after `model_id`, so its positional calls keep working
    # (`OpenAIProvider("gpt-5-mini", None, 2000, "low")`); each provider names its own.
    positional_args: ClassVar[tuple[str, ...]] = (
        "api_key",
        "temperature",
        "max_completion_tokens",
        "top_p",
        "frequency_penalty",
        "rpm_limit",
        "timeout",
    )

    def __init__(
        self,
        model_id: str | None = None,
        *args: Any,
        api_key: str | None = None,
        api_base: str | list[str] | None = None,
        temperature: float | None = None,
        max_completion_tokens: int | None = None,
        top_p: float | None = None,
        frequency_penalty: float | None = None,
        reasoning_effort: str | None = None,
        timeout: float | None = None,
        max_concurrency: int | None = None,
        rpm_limit: int | None = None,
        tpm_limit: int | None = None,
        string_max_length: int | None = None,
        batch: bool = False,
    ) -> None:
        settings: dict[str, Any] = {
            "api_key": api_key,
            "api_base": api_base,
            "temperature": temperature,
            "max_completion_tokens": max_completion_tokens,
            "top_p": top_p,
            "frequency_penalty": frequency_penalty,
            "reasoning_effort": reasoning_effort,
            "timeout": timeout,
            "max_concurrency": max_concurrency,
            "rpm_limit": rpm_limit,
            "tpm_limit": tpm_limit,
            "string_max_length": string_max_length,
            "batch": batch,
        }
        if args:
            settings |= self._positional_settings(args, settings)
        self._configure(model_id, **settings)

    @classmethod
    def _positional_settings(cls, args: tuple[Any, ...], settings: dict[str, Any]) -> dict[str, Any]:
        """The arguments given by position after `model_id`, named by the class's `positional_args` (0.0.36's
        order); a TypeError, as Python gives, for too many or for one also given by keyword."""
        name = cls.__name__
        if len(args) > len(cls.positional_args):
            raise TypeError(
                f"{name}() takes at most {len(cls.positional_args) + 1} positional arguments "
                f"(model_id, {', '.join(cls.positional_args)}), got {len(args) + 1}"
            )
        named = dict(zip(cls.positional_args, args, strict=False))
        for arg in named:
            if settings.get(arg) is not None:
                raise TypeError(f"{name}() got multiple values for argument {arg!r}")
        return named

    def _configure(
        self,
        model_id: str | None,
        *,
        api_key: str | None,
        api_base: str | list[str] | None,
        temperature: float | None,
        max_completion_tokens: int | None,
        top_p: float | None,
        frequency_penalty: float | None,
        reasoning_effort: str | None,
        timeout: float | None,
        max_concurrency: int | None,
        rpm_limit: int | None,
        tpm_limit: int | None,
        string_max_length: int | None,
        batch: bool = False,
    ) -> None:
        name = type(self).__name__
        model_id = model_id or self.default_model_id
        if not isinstance(model_id, str) or not model_id.strip():
            raise ConfigError(f"{name}: model_id is required (the model name your server serves)")
        _check_range(name, "temperature", temperature, 0.0, 2.0)
        _check_range(name, "top_p", top_p, 0.0, 1.0)
        _check_range(name, "frequency_penalty", frequency_penalty, -2.0, 2.0)
        if reasoning_effort is not None and reasoning_effort not in REASONING_EFFORTS:
            raise ConfigError(
                f"{name}: reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}, got {reasoning_effort!r}"
            )
        for arg, value in (
            ("max_completion_tokens", max_completion_tokens),
            ("max_concurrency", max_concurrency),
            ("rpm_limit", rpm_limit),
            ("tpm_limit", tpm_limit),
            ("string_max_length", string_max_length),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name}: {arg} must be a whole number >= 1, got {value!r}")
        if timeout is None:  # 0.0.36's default: the provider's own
            timeout = self.default_timeout
        if not isinstance(timeout, int | float) or not timeout > 0:
            raise ConfigError(f"{name}: timeout must be > 0 seconds, got {timeout!r}")

        self.model_id: str = model_id
        self.temperature = temperature
        self.max_completion_tokens = max_completion_tokens
        self.top_p = top_p
        self.frequency_penalty = frequency_penalty
        self.reasoning_effort = reasoning_effort
        self.timeout = float(timeout)
        self.max_concurrency: int = max_concurrency or self.default_max_concurrency
        self.max_concurrency_given = max_concurrency is not None
        self.rpm_limit = rpm_limit
        self.tpm_limit = tpm_limit
        self.string_max_length = string_max_length
        if batch and self.batch_api is None:
            raise ConfigError(f"{name}: {self.batch_refusal()}")
        self.batch = bool(batch)
        bases = api_base or _first_env(self.api_base_env) or self.default_api_base
        if isinstance(bases, list) and not all(isinstance(base, str) for base in bases):
            raise ConfigError(f"{name}: api_base must be a URL or a list of URLs, got {api_base!r}")
        if isinstance(bases, str):
            bases = bases.split(",")
        self.api_bases: list[str] = [b for b in (_normalise_base(base) for base in bases or []) if b]
        if isinstance(api_base, list) and not self.api_bases:
            raise ConfigError(f"{name}: api_base is an empty list; give at least one URL")
        self.api_base = self.api_bases[0] if self.api_bases else None
        self.__api_key = api_key or _first_env(self.api_key_env) or self.default_api_key
        if self.needs_api_key and not self.__api_key:
            variable = " or ".join(self.api_key_env)
            raise MissingAPIKeyError(f"{name} needs an API key: pass api_key=... or set {variable}")
        self._new_connections()
        if self.needs_api_base and not self.api_base:
            variable = " or ".join(self.api_base_env)
            raise ConfigError(
                f"{name} needs api_base, the server's URL (e.g. http://127.0.0.1:8000/v1): pass api_base=... "
                f"or set {variable}"
            )
        if self.prefetch_litellm and not self.plan_only:
            prefetch_litellm()

    def endpoints(self) -> list[LLMProvider]:
        """One provider per endpoint: itself when it has one, else a copy per `api_base` (same model, same
        parameters and so the same work keys; each with its own connections)."""
        if len(self.api_bases) <= 1:
            return [self]
        copies = []
        for base in self.api_bases:
            endpoint = copy.copy(self)
            endpoint.api_base, endpoint.api_bases = base, [base]
            endpoint._new_connections()
            copies.append(endpoint)
        return copies

    def _new_connections(self) -> None:
        """Its own connection pool and routes (a route holds the URL: one set per endpoint)."""
        self.http = HttpPool()
        self._routes: dict[tuple[Any, ...], Route] = {}
        self._route_lock = threading.Lock()
        self._building: dict[tuple[Any, ...], asyncio.Future[Route]] = {}

    # Pickled (for another process: a Ray worker) and copied without its connections; it gets new ones.
    _CONNECTIONS = ("http", "_routes", "_route_lock", "_building")

    def __getstate__(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if name not in self._CONNECTIONS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._new_connections()

    def __repr__(self) -> str:
        shown = self.api_bases if len(self.api_bases) > 1 else self.api_base
        base = f", api_base={shown!r}" if shown else ""
        return f"{type(self).__name__}(model_id={self.model_id!r}{base})"

    @property
    def name(self) -> str:
        """A short unique-enough label for logs and progress: `provider/model_id`."""
        return f"{self.provider_name}/{self.model_id}"

    @property
    def plan_only(self) -> bool:
        """True for a provider built without its key, to plan a run: it can price requests, not send them."""
        return self.__api_key == PLAN_ONLY_KEY

    @property
    def env_key_name(self) -> str:
        """The environment variable the provider is configured by (0.0.36's attribute): its API key's, or
        for a provider without a key (Ollama, an OpenAI-compatible server), its base URL's."""
        if self.needs_api_key or not self.api_base_env:
            return self.api_key_env[0] if self.api_key_env else ""
        return self.api_base_env[0]

    def generation_params(self) -> dict[str, Any]:
        """Everything that shapes an answer, for work keys and records. Never includes the API key. The
        parameters added after the first release are in only when set, so earlier runs keep their keys."""
        params: dict[str, Any] = {
            "provider": self.provider_name,
            "model_id": self.model_id,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_completion_tokens": self.max_completion_tokens,
            "string_max_length": self.string_max_length,
        }
        if self.frequency_penalty is not None:
            params["frequency_penalty"] = self.frequency_penalty
        if self.reasoning_effort is not None:
            params["reasoning_effort"] = self.reasoning_effort
        return params

    def batch_refusal(self) -> str:
        """Why this provider cannot run in batch mode, and what to do instead."""
        return (
            f"{self.provider_name} has no batch API datafast can use (batch mode works with openai, anthropic and "
            "OpenAI-compatible servers that serve /v1/batches); run it online: leave batch out"
        )

    async def batch_route(self, response_model: type[BaseModel] | None) -> Route:
        """The route whose requests a batch carries (its URL and headers locate the batch API)."""
        return await self._route(response_model, None)

    def language_warning(self, language_codes: list[str]) -> str | None:
        """A warning when this model is known to write some of these languages poorly, else None."""
        return None

    def _secrets(self) -> tuple[str, ...]:
        return (self.__api_key,) if self.__api_key and self.__api_key != self.default_api_key else ()

    def _request_kwargs(
        self, messages: Messages, response_model: type[BaseModel] | None, max_tokens: int | None = None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": f"{self.litellm_prefix}/{self.model_id}",
            "messages": messages,
            "timeout": self.timeout,
            # The engine owns retries; a hidden SDK retry would pay twice for one counted request.
            "num_retries": 0,
            "max_retries": 0,
            "drop_params": True,
        }
        if self.__api_key:
            kwargs["api_key"] = self.__api_key
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.top_p is not None:
            kwargs["top_p"] = self.top_p
        if self.frequency_penalty is not None:
            kwargs["frequency_penalty"] = self.frequency_penalty
        if self.reasoning_effort is not None:
            kwargs["reasoning_effort"] = self.reasoning_effort
        if max_tokens or self.max_completion_tokens:
            kwargs["max_tokens"] = max_tokens or self.max_completion_tokens
        if response_model is not None:
            kwargs["response_format"] = response_format_for(response_model, self.string_max_length)
        return kwargs

    def _route_key(self, response_model: type[BaseModel] | None, max_tokens: int | None) -> tuple[Any, ...]:
        return (response_model, self.string_max_length, max_tokens)

    def _prepare_route(self, response_model: type[BaseModel] | None, max_tokens: int | None) -> Route:
        """The route for requests of this kind, built once (LiteLLM's parameter mapping, URL and headers)."""
        key = self._route_key(response_model, max_tokens)
        with self._route_lock:
            route = self._routes.get(key)
            if route is None:
                kwargs = self._request_kwargs([], response_model, max_tokens)
                route = self._routes[key] = Route(kwargs, self.name, self._secrets())
            return route

    async def _route(self, response_model: type[BaseModel] | None, max_tokens: int | None) -> Route:
        key = self._route_key(response_model, max_tokens)
        route = self._routes.get(key)
        if route is None:  # the first requests: LiteLLM may still be importing, so not on the event loop
            loop = asyncio.get_running_loop()
            building = self._building.get(key)
            if building is None or building.get_loop() is not loop:
                building = self._building[key] = asyncio.ensure_future(
                    loop.run_in_executor(None, self._prepare_route, response_model, max_tokens)
                )
            route = await asyncio.shield(building)
        return route

    async def _call(
        self,
        messages: Messages,
        response_model: type[BaseModel] | None,
        max_tokens: int | None = None,
        send: Sender | None = None,
    ) -> Completion:
        if self.plan_only:
            variable = " or ".join(self.api_key_env)
            raise CallFailure("fatal", f"{self.name} has no API key (built to plan a run): set {variable}", None, 401)
        route = await self._route(response_model, max_tokens)
        data, body = route.encode(messages)
        if send is not None:
            return await send(route, messages, data)
        return await self.post(route, messages, data, body)

    async def post(
        self, route: Route, messages: Messages, data: dict[str, Any], body: bytes | None = None
    ) -> Completion:
        """One encoded request sent online: its answer, or the CallFailure it came to."""
        if body is None:
            body = route.body(data)
        import aiohttp

        try:
            async with self.http.session().post(
                route.url,
                data=body,
                headers=route.headers,
                proxy=route.proxy,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                status, headers, payload = response.status, response.headers, await response.read()
        except TimeoutError:
            raise CallFailure("transient", f"{self.name}: no answer within {self.timeout:.0f}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            message = redact(f"{self.name}: {type(exc).__name__}: {exc}", self._secrets())
            raise CallFailure("transient", message) from None
        return route.decode(status, headers, payload, messages, data)

    async def prepare(self, response_model: type[BaseModel] | None = None) -> None:
        """Make ready what requests of this kind need (LiteLLM's import, the route), so that one sent after
        this leaves at once. The engine calls it before it looks at a lane's pause."""
        if not self.plan_only:
            await self._route(response_model, None)

    async def context_window(self) -> int | None:
        """The most prompt tokens the model takes (LiteLLM's model information), or None where that is not
        known (a self-hosted model)."""
        if self.plan_only:
            return None
        return (await self._route(None, None)).context_window

    async def acomplete(
        self, messages: Messages, response_model: type[BaseModel] | None = None, send: Sender | None = None
    ) -> Completion:
        """One logical request. With a response model, an answer that does not validate gets exactly one
        repair retry; if that fails too, CallFailure(kind="invalid_response") is raised. An answer cut off at
        `max_completion_tokens` is asked again as it was, with twice the token budget: a fresh start with
        room to finish works better than asking a model to shorten what it wrote. `send` carries the requests
        (the answer and its repair) instead of an online HTTP request: the engine's batches."""
        first = await self._call(messages, response_model, send=send)
        if response_model is None:
            return first
        try:
            first.parsed = parse_structured(first.text, response_model)
            return first
        except ValueError as exc:
            reason = str(exc)
        if first.finish_reason == "length":
            reason += " (the answer was cut off at the token limit)"
        if first.finish_reason == "length" and self.max_completion_tokens:
            second = await self._call(messages, response_model, 2 * self.max_completion_tokens, send)
        else:
            repair = repair_messages(messages, first.text, reason, response_model)
            second = await self._call(repair, response_model, send=send)
        second.prompt_tokens += first.prompt_tokens
        second.completion_tokens += first.completion_tokens
        second.cached_tokens += first.cached_tokens
        second.cache_write_tokens += first.cache_write_tokens
        second.reasoning_tokens += first.reasoning_tokens
        if first.cost_usd is not None or second.cost_usd is not None:
            second.cost_usd = (first.cost_usd or 0.0) + (second.cost_usd or 0.0)
        second.repaired = True
        try:
            second.parsed = parse_structured(second.text, response_model)
        except ValueError as exc:
            raise CallFailure(
                "invalid_response",
                f"{self.name}: answer did not validate twice: {reason}; then {exc}",
                prompt_tokens=second.prompt_tokens,
                completion_tokens=second.completion_tokens,
                cost_usd=second.cost_usd,
                cached_tokens=second.cached_tokens,
                cache_write_tokens=second.cache_write_tokens,
            ) from None
        return second

    def generate(
        self,
        prompt: str | list[str] | None = None,
        messages: Messages | list[Messages] | None = None,
        response_format: type[BaseModel] | None = None,
    ) -> Any:
        """Ask synchronously: the parsed `response_format` model, or the text without one.

        `prompt` is one prompt or a list of them, `messages` one conversation (a list of role/content
        messages) or a list of them (Datafast 0.0.36's batch form); a list gives a list of answers in the same
        order. The questions of a list are asked concurrently (at most `max_concurrency` at once, paced by
        `rpm_limit`), and a rate limit, a transient failure or an answer that does not validate is asked again
        (up to 4 attempts, honouring Retry-After). A question that still fails raises ProviderError."""
        conversations, batch = _conversations(prompt, messages)
        completions = run_sync(self._ask_all(conversations, response_format))
        answers = [c.parsed if response_format is not None else c.text for c in completions]
        return answers if batch else answers[0]

    async def _ask_all(self, conversations: list[Messages], response_model: type[BaseModel] | None) -> list[Completion]:
        """Every conversation asked, at most `max_concurrency` at once and `rpm_limit` a minute; a ProviderError
        naming the first that failed for good once all are done."""
        slots = asyncio.Semaphore(self.max_concurrency)
        spacing = 60.0 / self.rpm_limit if self.rpm_limit else 0.0
        loop = asyncio.get_running_loop()
        next_start = loop.time()

        async def paced() -> None:
            nonlocal next_start
            now = loop.time()
            start, next_start = max(now, next_start), max(now, next_start) + spacing
            if start > now:
                await asyncio.sleep(start - now)

        async def ask(messages: Messages) -> Completion:
            for attempt in range(1, _GENERATE_ATTEMPTS + 1):
                async with slots:
                    await paced()
                    try:
                        return await self.acomplete(messages, response_model)
                    except CallFailure as failure:
                        if failure.kind == "fatal" or attempt == _GENERATE_ATTEMPTS:
                            raise
                        delay = failure.retry_after if failure.retry_after is not None else 0.5 * 2**attempt
                await asyncio.sleep(min(delay, _GENERATE_MAX_DELAY))
            raise AssertionError("unreachable")

        async with self.http.held():
            outcomes = await asyncio.gather(*(ask(m) for m in conversations), return_exceptions=True)
        failed = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
        for _, outcome in failed:
            if not isinstance(outcome, Exception):  # a cancellation or Ctrl-C goes on as it is
                raise outcome
        if failed:
            index, first = failed[0]
            where = f"question {index + 1} of {len(conversations)}" if len(conversations) > 1 else "the question"
            also = f" ({len(failed) - 1} more failed)" if len(failed) > 1 else ""
            raise ProviderError(f"{where} failed: {first}{also}") from first
        return [o for o in outcomes if isinstance(o, Completion)]


# `generate()`: attempts per question, and the longest wait between two (a longer Retry-After is cut to it).
_GENERATE_ATTEMPTS = 4
_GENERATE_MAX_DELAY = 60.0


def _conversations(prompt: Any, messages: Any) -> tuple[list[Messages], bool]:
    """`generate()`'s input as a list of conversations, and whether it was a list (a batch)."""
    if (prompt is None) == (messages is None):
        raise ConfigError("generate() takes either prompt=... or messages=..., not both or neither")
    if prompt is not None:
        prompts = prompt if isinstance(prompt, list) else [prompt]
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise ConfigError("generate(prompt=...) takes a prompt (a string) or a non-empty list of prompts")
        return [[{"role": "user", "content": p}] for p in prompts], isinstance(prompt, list)
    if not isinstance(messages, list) or not messages:
        raise ConfigError("generate(messages=...) takes a non-empty list of messages, or a list of such lists")
    batch = isinstance(messages[0], list)
    conversations = messages if batch else [messages]
    for conversation in conversations:
        if (
            not isinstance(conversation, list)
            or not conversation
            or not all(isinstance(m, dict) and "role" in m and "content" in m for m in conversation)
        ):
            raise ConfigError(
                "generate(messages=...) takes messages such as [{'role': 'user', 'content': '...'}], or a list of "
                "such lists (one per question)"
            )
    return conversations, batch


def _first_env(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _normalise_base(url: str | None) -> str | None:
    if not url:
        return None
    url = url.strip().rstrip("/")
    if "://" not in url:  # OLLAMA_HOST is often given as host:port
        url = "http://" + url
    return url


def _check_range(provider: str, arg: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not (low <= value <= high):
        raise ConfigError(f"{provider}: {arg} must be between {low} and {high}, got {value!r}")
