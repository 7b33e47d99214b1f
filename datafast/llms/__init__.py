"""LLM providers, all reached through LiteLLM with one interface (`acomplete`, `generate`)."""

from datafast.llms.base import Completion, LLMProvider
from datafast.llms.failures import CallFailure
from datafast.llms.local import LocalProvider
from datafast.llms.providers import (
    PROVIDERS,
    AnthropicProvider,
    GeminiProvider,
    MistralProvider,
    OllamaProvider,
    OpenAICompatibleProvider,
    OpenAIProvider,
    OpenRouterProvider,
    default_providers,
)

__all__ = [
    "PROVIDERS",
    "AnthropicProvider",
    "CallFailure",
    "Completion",
    "GeminiProvider",
    "LLMProvider",
    "LocalProvider",
    "MistralProvider",
    "OllamaProvider",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
    "OpenRouterProvider",
    "default_providers",
]
