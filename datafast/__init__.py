"""datafast: diverse, clean synthetic text datasets from LLMs, generated concurrently and resumably."""

from datafast._env import apply_offline_defaults

apply_offline_defaults()

from datafast.datasets import (  # noqa: E402
    ClassificationDataset,
    GenericPipelineDataset,
    MCQDataset,
    PreferenceDataset,
    RawDataset,
    UltrachatDataset,
)
from datafast.engine import RetryPolicy  # noqa: E402
from datafast.errors import ConfigError, DatafastError, MissingAPIKeyError, ProviderError  # noqa: E402
from datafast.llms import (  # noqa: E402
    AnthropicProvider,
    GeminiProvider,
    LocalProvider,
    OllamaProvider,
    OpenAICompatibleProvider,
    OpenAIProvider,
)
from datafast.schema.config import (  # noqa: E402
    ClassificationDatasetConfig,
    GenericPipelineDatasetConfig,
    MCQDatasetConfig,
    PreferenceDatasetConfig,
    PromptExpansionConfig,
    RawDatasetConfig,
    UltrachatDatasetConfig,
)

__version__ = "0.1.0"

__all__ = [
    "AnthropicProvider",
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
    "OllamaProvider",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
    "PreferenceDataset",
    "PreferenceDatasetConfig",
    "PromptExpansionConfig",
    "ProviderError",
    "RawDataset",
    "RawDatasetConfig",
    "RetryPolicy",
    "UltrachatDataset",
    "UltrachatDatasetConfig",
]
