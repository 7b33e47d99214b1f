"""The supported hosted and self-hosted providers. Each is a LiteLLM route plus its environment variables."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from datafast.errors import ConfigError
from datafast.llms.base import LLMProvider, Messages
from datafast.llms.completion import Completion
from datafast.llms.prompt_cache import estimated_tokens, mark_fixed_prefix, min_cacheable_tokens

log = logging.getLogger("datafast")


class OpenAIProvider(LLMProvider):
    """OpenAI's chat completions API. Key: `OPENAI_API_KEY`; base URL: `OPENAI_BASE_URL`."""

    provider_name: ClassVar[str] = "openai"
    litellm_prefix: ClassVar[str] = "openai"
    batch_api: ClassVar[str | None] = "openai"
    default_model_id: ClassVar[str | None] = "gpt-4.1-mini"
    api_key_env: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    api_base_env: ClassVar[tuple[str, ...]] = ("OPENAI_BASE_URL", "OPENAI_API_BASE")
    advertises_rate_limits: ClassVar[bool] = True
    positional_args: ClassVar[tuple[str, ...]] = (
        "api_key",
        "max_completion_tokens",
        "reasoning_effort",
        "temperature",
        "top_p",
        "frequency_penalty",
        "timeout",
    )


class AnthropicProvider(LLMProvider):
    """Anthropic's messages API. Key: `ANTHROPIC_API_KEY`; base URL: `ANTHROPIC_BASE_URL`."""

    provider_name: ClassVar[str] = "anthropic"
    litellm_prefix: ClassVar[str] = "anthropic"
    batch_api: ClassVar[str | None] = "anthropic"
    default_model_id: ClassVar[str | None] = "claude-haiku-4-5-20251001"
    api_key_env: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)
    api_base_env: ClassVar[tuple[str, ...]] = ("ANTHROPIC_BASE_URL",)
    advertises_rate_limits: ClassVar[bool] = True
    positional_args: ClassVar[tuple[str, ...]] = ("api_key", "temperature", "max_completion_tokens", "timeout")

    def __init__(
        self, model_id: str | None = None, *args: Any, cache_prompt_prefix: bool = False, **settings: Any
    ) -> None:
        """`cache_prompt_prefix=True` marks the fixed part each prompt starts with (its template's text before
        the first placeholder: the instructions every request of a step shares) with Anthropic's `cache_control`,
        so that Anthropic caches it and later requests read it at a tenth of the input price (writing it into
        the cache costs a quarter more than the input price). Anthropic caches a prefix only from 1024 tokens
        (2048 or 4096 for some models); a shorter one is marked to no effect, and a warning says so. Work keys,
        records and the other providers' requests are the same with or without it. The other arguments are
        every provider's."""
        if not isinstance(cache_prompt_prefix, bool):
            raise ConfigError(
                f"AnthropicProvider: cache_prompt_prefix must be true or false, got {cache_prompt_prefix!r}"
            )
        self.cache_prompt_prefix = cache_prompt_prefix
        self._short_prefixes: set[str] = set()  # the marked prefixes already warned about
        super().__init__(model_id, *args, **settings)

    async def _call(self, messages: Messages, *args: Any, **kwargs: Any) -> Completion:
        if self.cache_prompt_prefix:
            messages, prefix = mark_fixed_prefix(messages)
            if prefix:
                self._warn_if_too_short(prefix)
        return await super()._call(messages, *args, **kwargs)

    def _warn_if_too_short(self, prefix: str) -> None:
        minimum = min_cacheable_tokens(self.model_id)
        if estimated_tokens(prefix) >= minimum or prefix in self._short_prefixes:
            return
        self._short_prefixes.add(prefix)
        log.warning(
            "%s: cache_prompt_prefix marks a fixed prompt prefix of about %d tokens (%r...), below the %d tokens "
            "Anthropic caches for this model: it is sent marked but will not be cached. A prompt whose fixed "
            "instructions come first and are longer would be.",
            self.name,
            estimated_tokens(prefix),
            prefix[:40],
            minimum,
        )


class GeminiProvider(LLMProvider):
    """Google's Gemini API (AI Studio keys). Key: `GEMINI_API_KEY`; base URL: `GEMINI_API_BASE`."""

    provider_name: ClassVar[str] = "gemini"
    litellm_prefix: ClassVar[str] = "gemini"
    default_model_id: ClassVar[str | None] = "gemini-2.5-flash"
    api_key_env: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    api_base_env: ClassVar[tuple[str, ...]] = ("GEMINI_API_BASE",)


class OllamaProvider(LLMProvider):
    """A local or remote Ollama server's chat API; no key. Base URL: `OLLAMA_API_BASE` or `OLLAMA_HOST`
    (default localhost:11434)."""

    provider_name: ClassVar[str] = "ollama"
    litellm_prefix: ClassVar[str] = "ollama_chat"
    default_model_id: ClassVar[str | None] = "gemma3:4b"
    api_key_env: ClassVar[tuple[str, ...]] = ("OLLAMA_API_KEY",)
    api_base_env: ClassVar[tuple[str, ...]] = ("OLLAMA_API_BASE", "OLLAMA_HOST")
    needs_api_key: ClassVar[bool] = False
    default_api_base: ClassVar[str | None] = "http://localhost:11434"
    default_max_concurrency: ClassVar[int] = 4
    positional_args: ClassVar[tuple[str, ...]] = (
        "temperature",
        "max_completion_tokens",
        "top_p",
        "frequency_penalty",
        "api_base",
        "rpm_limit",
        "timeout",
    )


class OpenRouterProvider(LLMProvider):
    """OpenRouter's OpenAI-style API to many vendors' models (`model_id` such as `openai/gpt-5-mini`).
    Key: `OPENROUTER_API_KEY`; base URL: `OPENROUTER_API_BASE` (default https://openrouter.ai/api/v1)."""

    provider_name: ClassVar[str] = "openrouter"
    litellm_prefix: ClassVar[str] = "openrouter"
    default_model_id: ClassVar[str | None] = "openai/gpt-5-mini"
    api_key_env: ClassVar[tuple[str, ...]] = ("OPENROUTER_API_KEY",)
    api_base_env: ClassVar[tuple[str, ...]] = ("OPENROUTER_API_BASE", "OPENROUTER_BASE_URL")
    default_api_base: ClassVar[str | None] = "https://openrouter.ai/api/v1"
    positional_args: ClassVar[tuple[str, ...]] = (
        "api_key",
        "temperature",
        "max_completion_tokens",
        "top_p",
        "frequency_penalty",
        "timeout",
    )


class MistralProvider(LLMProvider):
    """Mistral AI's chat API. Key: `MISTRAL_API_KEY`; base URL: `MISTRAL_API_BASE` (default
    https://api.mistral.ai/v1)."""

    provider_name: ClassVar[str] = "mistral"
    litellm_prefix: ClassVar[str] = "mistral"
    default_model_id: ClassVar[str | None] = "mistral-small-latest"
    api_key_env: ClassVar[tuple[str, ...]] = ("MISTRAL_API_KEY",)
    api_base_env: ClassVar[tuple[str, ...]] = ("MISTRAL_API_BASE", "MISTRAL_BASE_URL")
    default_api_base: ClassVar[str | None] = "https://api.mistral.ai/v1"


class OpenAICompatibleProvider(LLMProvider):
    """Any server that speaks the OpenAI chat completions API: vLLM, llama.cpp, LM Studio, TGI, ...

    `model_id` is the name the server serves and `api_base` its URL (e.g. `http://127.0.0.1:8000/v1`),
    else `OPENAI_COMPATIBLE_BASE_URL`. The key is optional (`OPENAI_COMPATIBLE_API_KEY`).
    """

    provider_name: ClassVar[str] = "openai_compatible"
    litellm_prefix: ClassVar[str] = "openai"
    default_model_id: ClassVar[str | None] = None
    api_key_env: ClassVar[tuple[str, ...]] = ("OPENAI_COMPATIBLE_API_KEY",)
    api_base_env: ClassVar[tuple[str, ...]] = ("OPENAI_COMPATIBLE_BASE_URL",)
    needs_api_key: ClassVar[bool] = False
    needs_api_base: ClassVar[bool] = True
    # The OpenAI client refuses to start without a key; local servers accept any.
    default_api_key: ClassVar[str | None] = "none"
    batch_api: ClassVar[str | None] = "openai"  # for servers that serve /v1/files and /v1/batches


def _all_providers() -> dict[str, type[LLMProvider]]:
    from datafast.llms.local import LocalProvider

    classes = (
        OpenAIProvider,
        AnthropicProvider,
        GeminiProvider,
        OllamaProvider,
        OpenRouterProvider,
        MistralProvider,
        OpenAICompatibleProvider,
    )
    return {cls.provider_name: cls for cls in (*classes, LocalProvider)}


PROVIDERS: dict[str, type[LLMProvider]] = _all_providers()


def default_providers() -> list[LLMProvider]:
    """What runs when the user names no provider: the first hosted one whose key is set, else the built-in
    local model (no key, no network)."""
    import os

    for cls in (OpenAIProvider, AnthropicProvider, GeminiProvider, OpenRouterProvider, MistralProvider):
        if any(os.environ.get(name) for name in cls.api_key_env):
            return [cls()]
    return [PROVIDERS["local"]()]
