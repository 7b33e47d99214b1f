"""A local LLM server for tests and benchmarks.

It speaks the OpenAI chat-completions (as OpenAI, Mistral and OpenRouter serve it), Anthropic messages, Gemini
generateContent and Ollama chat wire formats on 127.0.0.1, answers structured-output requests with JSON valid
against the requested schema, can add latency and inject faults (429, 500, hangs, dropped connections, malformed
or truncated JSON, prose replaced by dates and codes or emptied), can enforce and advertise per-minute request
and token limits the way OpenAI and Anthropic do (``rpm_limit``, ``tpm_limit``), can send a reasoning trace with
each answer in each format's own way (``reasoning``, ``reasoning_style``), and logs every request with the sampling
parameters it carried. It also runs OpenAI's and Anthropic's batch APIs (see
:mod:`datafast.testing.batches`).

    from datafast.testing import LLMTestServer

    with LLMTestServer(latency_s=0.05, script=["malformed"]) as server:
        litellm.completion(model="openai/x", api_base=server.openai_base, api_key="sk-test", ...)
        assert server.requests()[0].outcome == "malformed"
"""

from datafast.testing.app import ServerState, create_app
from datafast.testing.batches import BatchEvent
from datafast.testing.behavior import FAULTS, Fault, Outcome, ServerBehavior
from datafast.testing.rate_limits import RateLimiter
from datafast.testing.records import RequestRecord, ServerStats, key_hash, prompt_hash
from datafast.testing.schema_faker import SchemaError, SchemaFaker
from datafast.testing.server import LLMTestServer

__all__ = [
    "FAULTS",
    "BatchEvent",
    "Fault",
    "LLMTestServer",
    "Outcome",
    "RateLimiter",
    "RequestRecord",
    "SchemaError",
    "SchemaFaker",
    "ServerBehavior",
    "ServerState",
    "ServerStats",
    "create_app",
    "key_hash",
    "prompt_hash",
]
