"""The provider base class: one LLM endpoint reached through LiteLLM, with structured output and repair."""

from __future__ import annotations

import asyncio
import copy
import os
import threading
from typing import Any, ClassVar

from pydantic import BaseModel

from datafast._sync import run_sync
from datafast.errors import ConfigError, MissingAPIKeyError
from datafast.llms.completion import Completion
from datafast.llms.failures import CallFailure, redact
from datafast.llms.http import HttpPool
from datafast.llms.structured import parse_structured, repair_messages, response_format_for
from datafast.llms.wire import Route, prefetch_litellm

Messages = list[dict[str, Any]]


# Stands in for a key that is not set when a run is only planned (`datafast plan`); such a provider
# refuses to send anything.
PLAN_ONLY_KEY = "(no key: planning only)"


class LLMProvider:
    """Base of every provider. Subclasses only set the class variables below.

    Arguments: `model_id` (else the provider's default), `api_key` (else the provider's environment
    variable), `api_base` (else its environment variable), sampling parameters, a per-request `timeout`
    in seconds, and the limits the engine respects: `max_concurrency`, `rpm_limit`, `tpm_limit`.
    `string_max_length` adds a `maxLength` to every string of the response schema: small self-hosted
    models otherwise often write until the token limit and never close their JSON.

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

    def __init__(
        self,
        model_id: str | None = None,
        *,
        api_key: str | None = None,
        api_base: str | list[str] | None = None,
        temperature: float | None = None,
        max_completion_tokens: int | None = None,
        top_p: float | None = None,
        timeout: float = 120.0,
        max_concurrency: int | None = None,
        rpm_limit: int | None = None,
        tpm_limit: int | None = None,
        string_max_length: int | None = None,
    ) -> None:
        name = type(self).__name__
        model_id = model_id or self.default_model_id
        if not model_id or not model_id.strip():
            raise ConfigError(f"{name}: model_id is required (the model name your server serves)")
        _check_range(name, "temperature", temperature, 0.0, 2.0)
        _check_range(name, "top_p", top_p, 0.0, 1.0)
        for arg, value in (
            ("max_completion_tokens", max_completion_tokens),
            ("max_concurrency", max_concurrency),
            ("rpm_limit", rpm_limit),
            ("tpm_limit", tpm_limit),
            ("string_max_length", string_max_length),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name}: {arg} must be a whole number >= 1, got {value!r}")
        if not timeout > 0:
            raise ConfigError(f"{name}: timeout must be > 0 seconds, got {timeout!r}")

        self.model_id: str = model_id
        self.temperature = temperature
        self.max_completion_tokens = max_completion_tokens
        self.top_p = top_p
        self.timeout = float(timeout)
        self.max_concurrency: int = max_concurrency or self.default_max_concurrency
        self.max_concurrency_given = max_concurrency is not None
        self.rpm_limit = rpm_limit
        self.tpm_limit = tpm_limit
        self.string_max_length = string_max_length
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

    def generation_params(self) -> dict[str, Any]:
        """Everything that shapes an answer, for work keys and records. Never includes the API key."""
        return {
            "provider": self.provider_name,
            "model_id": self.model_id,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_completion_tokens": self.max_completion_tokens,
            "string_max_length": self.string_max_length,
        }

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
        self, messages: Messages, response_model: type[BaseModel] | None, max_tokens: int | None = None
    ) -> Completion:
        if self.plan_only:
            variable = " or ".join(self.api_key_env)
            raise CallFailure("fatal", f"{self.name} has no API key (built to plan a run): set {variable}", None, 401)
        route = await self._route(response_model, max_tokens)
        data, body = route.encode(messages)
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

    async def acomplete(self, messages: Messages, response_model: type[BaseModel] | None = None) -> Completion:
        """One logical request. With a response model, an answer that does not validate gets exactly one
        repair retry; if that fails too, CallFailure(kind="invalid_response") is raised. An answer cut off at
        `max_completion_tokens` is asked again as it was, with twice the token budget: a fresh start with
        room to finish works better than asking a model to shorten what it wrote."""
        first = await self._call(messages, response_model)
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
            second = await self._call(messages, response_model, max_tokens=2 * self.max_completion_tokens)
        else:
            second = await self._call(repair_messages(messages, first.text, reason, response_model), response_model)
        second.prompt_tokens += first.prompt_tokens
        second.completion_tokens += first.completion_tokens
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
            ) from None
        return second

    def generate(
        self,
        prompt: str | None = None,
        *,
        messages: Messages | None = None,
        response_format: type[BaseModel] | None = None,
    ) -> Any:
        """Ask one question synchronously: the parsed `response_format` model, or the text without one."""
        if (prompt is None) == (messages is None):
            raise ConfigError("generate() takes either prompt=... or messages=..., not both or neither")
        msgs = messages if messages is not None else [{"role": "user", "content": prompt}]

        async def ask() -> Completion:
            async with self.http.held():
                return await self.acomplete(msgs, response_format)

        completion = run_sync(ask())
        return completion.parsed if response_format is not None else completion.text


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
