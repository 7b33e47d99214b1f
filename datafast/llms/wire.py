"""A provider's requests on the wire: LiteLLM's own request and response transformations for the provider,
prepared once per (response model, token budget), sent over one pooled HTTP connection pool per provider.

`litellm.acompletion` redoes for every request what is the same for all of a run's requests (the provider's
parameter mapping, its headers and URL, a logging object, callbacks, pricing, a client) and costs about
4 ms of CPU a request; a run spends most of its client time there. A `Route` does that work once and per
request only transforms the messages, posts them, and reads the answer back through the provider's
`transform_response`. Cost comes from LiteLLM's price map, looked up once per model (`pricing.py`).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from datafast._background import load_in_background
from datafast._env import apply_offline_defaults
from datafast.llms.completion import Completion
from datafast.llms.failures import CallFailure, redact
from datafast.llms.http import proxy_for
from datafast.llms.pricing import Prices, cache_usage, prices_for
from datafast.llms.rate_limits import RateLimitHeaders
from datafast.llms.reasoning import split_reasoning, tidy_reasoning

Messages = list[dict[str, Any]]

# `_request_kwargs` entries that are sampling parameters, mapped by LiteLLM onto each provider's names.
_SAMPLING = ("temperature", "top_p", "max_tokens", "frequency_penalty", "reasoning_effort", "response_format")
_STATUS_WORDS = {
    400: "bad request",
    401: "authentication failed (check the API key)",
    403: "permission denied",
    404: "not found (check model_id and api_base)",
    408: "request timeout",
    409: "conflict",
    413: "request too large",
    422: "unprocessable request",
    429: "rate limited",
    500: "server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


def import_litellm() -> Any:
    """LiteLLM, imported with the offline defaults in place (the first import takes seconds)."""
    global _frozen
    apply_offline_defaults()
    import litellm

    litellm.suppress_debug_info = True
    if not _frozen:
        # Its ~370,000 objects live as long as the process: out of the collector's sight they cost nothing
        # at each full collection during a run, and the interpreter's exit gets 1.3 s faster.
        _frozen = True
        gc.freeze()
    return litellm


_frozen = False


def prefetch_litellm() -> None:
    """Start importing LiteLLM in the background (once per process), so that its seconds overlap with
    what a script does before its first request: building configs, expanding prompts, opening the run
    store. A request that needs it before it is done waits on Python's import lock."""
    if "litellm" not in sys.modules:
        load_in_background("litellm", import_litellm)


class Route:
    """One provider's requests of one kind (same model, parameters and response schema): the URL, headers
    and mapped parameters LiteLLM computes for it, built once; `encode` turns messages into a request body,
    `decode` an HTTP answer into a `Completion` or a `CallFailure`. Built off the event loop: it imports LiteLLM."""

    def __init__(self, kwargs: Mapping[str, Any], name: str, secrets: tuple[str, ...]) -> None:
        litellm = import_litellm()
        from litellm.litellm_core_utils.get_litellm_params import get_litellm_params
        from litellm.types.utils import LlmProviders
        from litellm.utils import ProviderConfigManager, get_optional_params

        self.name = name
        self.secrets = secrets
        api_key: str | None = kwargs.get("api_key")
        model, provider, _, _ = litellm.get_llm_provider(kwargs["model"])
        self.model, self.provider, self.api_key = model, provider, api_key
        config = ProviderConfigManager.get_provider_chat_config(model=model, provider=LlmProviders(provider))
        if config is None:
            raise CallFailure("fatal", f"{name}: LiteLLM has no chat transformation for {provider!r}")
        self.config = config
        sampling = {k: kwargs[k] for k in _SAMPLING if kwargs.get(k) is not None}
        optional: dict[str, Any] = get_optional_params(
            model=model, custom_llm_provider=provider, drop_params=True, **sampling
        )
        self.json_mode = bool(optional.pop("json_mode", False))
        extra_body = optional.pop("extra_body", None) or {}
        self.optional = optional
        self.extra_body: dict[str, Any] = dict(extra_body)
        self.litellm_params: dict[str, Any] = get_litellm_params(
            api_key=api_key, api_base=kwargs.get("api_base"), custom_llm_provider=provider
        )
        self.logging = _quiet_logging(model, self.optional, self.litellm_params)
        self.url, self.headers = self._endpoint(kwargs.get("api_base"))
        self.proxy = proxy_for(self.url)
        self.timeout = float(kwargs.get("timeout") or 120.0)
        self.prices: Prices | None = prices_for(litellm, model, provider)
        self.context_window = _context_window(litellm, model, provider)

    def _endpoint(self, api_base: str | None) -> tuple[str, dict[str, str]]:
        sample: Messages = [{"role": "user", "content": "-"}]
        if self.provider == "gemini":
            return self._gemini_endpoint(api_base, sample)
        if self.provider == "anthropic" and api_base:
            from litellm.litellm_core_utils.url_utils import ensure_api_route

            # ANTHROPIC_BASE_URL is documented without /v1, and often given with it (as OpenAI's is): both work.
            api_base = api_base.rstrip("/").removesuffix("/v1")
            api_base = ensure_api_route(api_base, "v1/messages")  # as LiteLLM's own anthropic route does
        headers = self.config.validate_environment(
            headers={},
            model=self.model,
            messages=_as_litellm(sample),
            optional_params=dict(self.optional),
            litellm_params=self.litellm_params,
            api_key=self.api_key,
            api_base=api_base,
        )
        url = self.config.get_complete_url(
            api_base=api_base,
            api_key=self.api_key,
            model=self.model,
            optional_params=dict(self.optional),
            litellm_params=self.litellm_params,
            stream=False,
        )
        return url, {str(k): str(v) for k, v in headers.items()}

    def _gemini_endpoint(self, api_base: str | None, sample: Messages) -> tuple[str, dict[str, str]]:
        # LiteLLM routes Gemini through its Vertex handler, not the generic HTTP one: take URL and body from it.
        from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import VertexLLM

        auth, url = VertexLLM()._get_token_and_url(
            model=self.model,
            auth_header=None,
            gemini_api_key=self.api_key,
            vertex_project=None,
            vertex_location=None,
            vertex_credentials=None,
            stream=False,
            custom_llm_provider="gemini",
            api_base=api_base,
        )
        no_headers: Any = None  # LiteLLM's type says dict; its Gemini code takes None, as LiteLLM passes it
        headers = self.config.validate_environment(
            api_key=auth,
            headers=no_headers,
            model=self.model,
            messages=_as_litellm(sample),
            optional_params=dict(self.optional),
            litellm_params=self.litellm_params,
        )
        self._api_base = api_base
        return url, {str(k): str(v) for k, v in headers.items()}

    def encode(self, messages: Messages) -> tuple[dict[str, Any], bytes]:
        """The request body for these messages (as sent, and as bytes)."""
        if self.provider == "gemini":
            from litellm.llms.vertex_ai.gemini.transformation import sync_transform_request_body

            data: dict[str, Any] = dict(
                sync_transform_request_body(
                    gemini_api_key=self.api_key,
                    messages=_as_litellm(messages),
                    api_base=self._api_base,
                    model=self.model,
                    client=None,
                    timeout=self.timeout,
                    extra_headers=None,
                    optional_params=dict(self.optional),
                    logging_obj=self.logging,
                    custom_llm_provider="gemini",
                    litellm_params=self.litellm_params,
                    vertex_project=None,
                    vertex_location=None,
                    vertex_auth_header=None,
                    context_caching=False,
                )
            )
        else:
            data = self.config.transform_request(
                model=self.model,
                messages=_as_litellm(messages),
                optional_params=dict(self.optional),
                litellm_params=self.litellm_params,
                headers=self.headers,
            )
        if self.extra_body:
            data = {**data, **self.extra_body}
        return data, self.body(data)

    @staticmethod
    def body(data: dict[str, Any]) -> bytes:
        """A request body as sent."""
        return json.dumps(data, ensure_ascii=False).encode("utf-8")

    def decode(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        messages: Messages,
        data: dict[str, Any],
        batch: bool = False,
    ) -> Completion:
        """The answer of a 2xx response, or the CallFailure an error status or an unreadable body means.
        `batch`: the answer came from the provider's batch API, and is priced at its batch price."""
        limits = RateLimitHeaders.parse(headers)
        if status >= 300:
            failure = self.failure(status, headers, body)
            failure.limits = limits
            raise failure
        from litellm.types.utils import ModelResponse

        raw = _RawAnswer(status, headers, body)
        try:
            response = self.config.transform_response(
                model=self.model,
                raw_response=_as_litellm(raw),
                model_response=ModelResponse(),
                logging_obj=self.logging,
                request_data=data,
                messages=_as_litellm(messages),
                optional_params=dict(self.optional),
                litellm_params=self.litellm_params,
                encoding=None,
                api_key=self.api_key,
                json_mode=self.json_mode,
            )
            choice = response.choices[0]
            text = choice.message.content or ""
            reasoning = tidy_reasoning(getattr(choice.message, "reasoning_content", None))
            finish_reason = choice.finish_reason
        except Exception as exc:  # an empty `choices`, an HTML page, a body cut short: ask again
            detail = redact(f"{type(exc).__name__}: {exc}", self.secrets)[:300]
            raise CallFailure("transient", f"{self.name}: unreadable answer ({detail})") from None
        if reasoning is None:
            reasoning, text = split_reasoning(text)
        else:
            text = text.lstrip()  # what followed a think block LiteLLM split off
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cached, written = cache_usage(usage)
        cost = None if batch else _reported_cost(response)
        if cost is None and self.prices is not None:
            cost = self.prices.cost(prompt_tokens, completion_tokens, cached, written, batch=batch)
        return Completion(
            text,
            None,
            finish_reason,
            prompt_tokens,
            completion_tokens,
            cost,
            limits=limits,
            cached_tokens=cached,
            cache_write_tokens=written,
            reasoning=reasoning,
            reasoning_tokens=_reasoning_tokens(usage),
        )

    def failure(self, status: int, headers: Mapping[str, str], body: bytes) -> CallFailure:
        """The CallFailure an HTTP error status (and the provider's error body) means."""
        detail = redact(_error_detail(body), self.secrets)
        message = f"{self.name}: HTTP {status} {_STATUS_WORDS.get(status, 'error')}" + (f": {detail}" if detail else "")
        if status == 429:
            return CallFailure("rate_limit", message, retry_after(headers), status)
        if status in (408, 409) or status >= 500:
            return CallFailure("transient", message, retry_after(headers), status)
        if 400 <= status < 500:
            return CallFailure("fatal", message, None, status)
        return CallFailure("transient", message, None, status)


class _RawAnswer:
    """What LiteLLM's `transform_response`s read of an HTTP answer (`status_code`, `headers`, `text`,
    `json()`): building an `httpx.Response` and its request for every answer cost 0.4 ms, a sixth of the
    client's time per request."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status
        self.headers = headers  # aiohttp's: case-insensitive, like httpx's
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _error_detail(body: bytes) -> str:
    """The provider's own error message from an error body (OpenAI, Anthropic, Gemini and Ollama put it
    under `error.message`, `error` or `message`), else the start of the body."""
    text = body[:2000].decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed)
        if isinstance(error, dict):
            error = error.get("message", error)
        if isinstance(error, str):
            return error[:300]
    return text[:300]


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a server asks to wait (`retry-after-ms`, else `retry-after` in seconds or as an HTTP date)."""
    for name in ("retry-after-ms", "retry-after"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
            return max(0.0, seconds)
        return seconds / 1000 if name == "retry-after-ms" else seconds
    return None


def _reasoning_tokens(usage: Any) -> int:
    """The completion tokens an answer spent thinking, as LiteLLM reads them from the provider's usage
    (OpenAI's `completion_tokens_details.reasoning_tokens`, Gemini's `thoughtsTokenCount`, ...); 0 unknown."""
    details = getattr(usage, "completion_tokens_details", None)
    try:
        return int(getattr(details, "reasoning_tokens", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _reported_cost(response: Any) -> float | None:
    """The cost the provider itself reported with the answer (OpenRouter's `usage.cost`, which LiteLLM's
    transformation keeps), else None: the price map prices it."""
    hidden = getattr(response, "_hidden_params", None) or {}
    headers = hidden.get("additional_headers") or {}
    value = headers.get("llm_provider-x-litellm-response-cost")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _as_litellm(value: Any) -> Any:
    """A value as LiteLLM's transformations take it: our plain message dicts are its typed ones, and our
    light answer view has the attributes of the `httpx.Response` its type names."""
    return value


def _context_window(litellm: Any, model: str, provider: str) -> int | None:
    """The most prompt tokens the model takes, from LiteLLM's model information (None where unknown)."""
    try:
        value = litellm.get_model_info(model=model, custom_llm_provider=provider).get("max_input_tokens")
    except Exception:
        return None
    return int(value) if value else None


def _quiet_logging(model: str, optional: dict[str, Any], litellm_params: dict[str, Any]) -> Any:
    """The logging object LiteLLM's transformations take, once per route: they read the call's parameters
    from it and report the raw request and answer to it, which we keep ourselves in the run store."""
    import datetime

    from litellm.litellm_core_utils.litellm_logging import Logging

    class QuietLogging(Logging):
        def pre_call(self, *args: Any, **kwargs: Any) -> None:
            return None

        def post_call(self, *args: Any, **kwargs: Any) -> None:
            return None

    logging = QuietLogging(
        model=model,
        messages=[],
        stream=False,
        call_type="acompletion",
        start_time=datetime.datetime.now(),
        litellm_call_id="datafast",
        function_id="datafast",
    )
    logging.update_environment_variables(litellm_params=litellm_params, optional_params=optional, model=model)
    return logging
