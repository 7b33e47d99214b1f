"""datafast: diverse, clean synthetic text datasets from LLMs, generated concurrently and resumably.

The names below are imported on first use, so that `import datafast.cli` (the `datafast` command) starts in
a fraction of a second: it reports a missing config file, or acts on Ctrl-C, before the heavy imports."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from datafast._env import apply_offline_defaults

apply_offline_defaults()

if TYPE_CHECKING:
    from datafast.datasets import (
        ClassificationDataset,
        GenericPipelineDataset,
        MCQDataset,
        PreferenceDataset,
        RawDataset,
        UltrachatDataset,
    )
    from datafast.engine import BatchOptions, RetryPolicy
    from datafast.errors import ConfigError, DatafastError, MissingAPIKeyError, ProviderError
    from datafast.llms import (
        AnthropicProvider,
        GeminiProvider,
        LocalProvider,
        MistralProvider,
        OllamaProvider,
        OpenAICompatibleProvider,
        OpenAIProvider,
        OpenRouterProvider,
    )
    from datafast.logger_config import configure_logger
    from datafast.schema.config import (
        ClassificationDatasetConfig,
        GenericPipelineDatasetConfig,
        MCQDatasetConfig,
        PreferenceDatasetConfig,
        PromptExpansionConfig,
        RawDatasetConfig,
        UltrachatDatasetConfig,
    )

__version__ = "0.1.0"


def get_version() -> str:
    """The version of the datafast package (Datafast 0.0.36's `datafast.get_version`)."""
    return __version__


_EXPORTS = {
    "datafast.datasets": (
        "ClassificationDataset", "GenericPipelineDataset", "MCQDataset", "PreferenceDataset", "RawDataset",
        "UltrachatDataset",
    ),
    "datafast.engine": ("BatchOptions", "RetryPolicy"),
    "datafast.errors": ("ConfigError", "DatafastError", "MissingAPIKeyError", "ProviderError"),
    "datafast.llms": (
        "AnthropicProvider", "GeminiProvider", "LocalProvider", "MistralProvider", "OllamaProvider",
        "OpenAICompatibleProvider", "OpenAIProvider", "OpenRouterProvider",
    ),
    "datafast.logger_config": ("configure_logger",),
    "datafast.schema.config": (
        "ClassificationDatasetConfig", "GenericPipelineDatasetConfig", "MCQDatasetConfig",
        "PreferenceDatasetConfig", "PromptExpansionConfig", "RawDatasetConfig", "UltrachatDatasetConfig",
    ),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "AnthropicProvider",
    "BatchOptions",
    "ClassificationDataset",
    "ClassificationDatasetConfig",
    "ConfigError",
    "DatafastError",
    "GeminiProvider",
    "GenericPipelineDataset",
    "GenericPipelineDatasetConfig",
    "LocalProvider",
    "MCQDataset",
    "MCQDatasetConfig",
    "MissingAPIKeyError",
    "MistralProvider",
    "OllamaProvider",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
    "OpenRouterProvider",
    "PreferenceDataset",
    "PreferenceDatasetConfig",
    "PromptExpansionConfig",
    "ProviderError",
    "RawDataset",
    "RawDatasetConfig",
    "RetryPolicy",
    "UltrachatDataset",
    "UltrachatDatasetConfig",
    "configure_logger",
    "get_version",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'datafast' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
