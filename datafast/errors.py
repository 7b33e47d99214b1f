"""Exceptions raised by datafast. Every user mistake surfaces as one of these, with a message that names
the field or placeholder at fault and what is allowed."""


class DatafastError(Exception):
    """Base class of every error datafast raises on purpose."""


class ConfigError(DatafastError, ValueError):
    """A configuration, config file or argument is invalid. Raised before any request is sent."""


class MissingAPIKeyError(ConfigError):
    """A provider was built without an API key and its environment variable is not set."""


class ProviderError(DatafastError):
    """An LLM provider failed to give a usable answer."""


class InvalidResponseError(ProviderError):
    """The LLM's answer did not validate against the response model, even after the repair retry."""
