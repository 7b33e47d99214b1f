"""LLM providers, all reached through LiteLLM with one interface (`acomplete`, `generate`)."""

from datafast.llms.base import Completion, LLMProvider
from datafast.llms.failures import CallFailure
from datafast.llms.providers import (
    PROVIDERS,
    AnthropicProvider,
    GeminiProvider,
    OllamaProvider,
    OpenAICompatibleProvider,
    OpenAIProvider,
)

__all__ = [
    "PROVIDERS",
    "AnthropicProvider",
    "CallFailure",
    "Completion",
    "GeminiProvider",
    "LLMProvider",
    "OllamaProvider",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
]
