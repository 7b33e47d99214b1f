"""Shared fixtures: a clean provider environment and the local LLM server on 127.0.0.1."""

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")

from datafast.engine import RetryPolicy
from datafast.testing import LLMTestServer, ServerBehavior

PROVIDER_VARIABLES = [
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_API_BASE",
    "OLLAMA_HOST",
    "OLLAMA_API_BASE",
    "OLLAMA_API_KEY",
    "OPENROUTER_API_KEY",
    "OPENROUTER_API_BASE",
    "OPENROUTER_BASE_URL",
    "MISTRAL_API_KEY",
    "MISTRAL_API_BASE",
    "MISTRAL_BASE_URL",
    "OPENAI_COMPATIBLE_BASE_URL",
    "OPENAI_COMPATIBLE_API_KEY",
]

# Fast retries for tests; the real policy waits seconds.
FAST_RETRY = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.2)


@pytest.fixture(autouse=True)
def clean_provider_env(monkeypatch):
    """No test sees the developer's real keys or base URLs."""
    for name in PROVIDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def _server():
    with LLMTestServer() as server:
        yield server


@pytest.fixture
def llm_server(_server):
    """The session's LLM test server, with a fresh log and default behaviour for each test."""
    _server.reset()
    _server.set_behavior(ServerBehavior())
    return _server


@pytest.fixture
def openai_env(llm_server, monkeypatch):
    """The LLM test server, with `OPENAI_BASE_URL` and `OPENAI_API_KEY` set so that `OpenAIProvider()` uses it."""
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000")
    return llm_server
