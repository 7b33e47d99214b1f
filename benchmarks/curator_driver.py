"""Runs the reviews job once with Curator (`bespokelabs-curator`), in a process of its own; started by
`vs_curator.py` with `/tmp/venv-curator/bin/python`.

    /tmp/venv-curator/bin/python benchmarks/curator_driver.py SPEC.json

SPEC.json holds `prompts` (the request texts, one per request), `model`, `base_url` and `api_key` (the test
server), `num_samples` (reviews per answer), `max_concurrent_requests`, `max_requests_per_minute` and
`max_tokens_per_minute` (each null: left to Curator) and `cache_dir` (a fresh folder per run).

The job is `curator.LLM(model_name=..., response_format=Reviews, backend="openai", backend_params={...})`
called on the list of prompts, where `Reviews` is a Pydantic model with a list of exactly `num_samples`
review strings. `Reviews` is built here, so its JSON schema asks for the same list length as datafast's.

Curator is kept offline and uncached with environment variables, set here unless the caller set them:
* `CURATOR_DISABLE_CACHE=true`, and `CURATOR_CACHE_DIR` = the spec's fresh `cache_dir`;
* `HF_DATASETS_CACHE` in that folder too (Curator turns the prompt list into a Hugging Face `Dataset`),
  `HF_HUB_OFFLINE=1`, `HF_DATASETS_OFFLINE=1`;
* `TIKTOKEN_CACHE_DIR` = the tiktoken files LiteLLM ships (`litellm/litellm_core_utils/tokenizers`): Curator's
  OpenAI backend calls `tiktoken.get_encoding("cl100k_base")`, which otherwise downloads it;
* `TELEMETRY_ENABLED=false` (Curator's PostHog events), `LITELLM_LOCAL_MODEL_COST_MAP=True`;
* `CURATOR_DISABLE_RICH_DISPLAY=1`: a tqdm bar on stderr instead of a rich live panel, as datafast runs
  with `show_progress=False` (the caller can set it to 0).

Curator's public API and LiteLLM (which Curator imports lazily, inside `LLM()`) are imported before the clock
starts, as on the datafast side; what else it imports on the way counts in the call. The clock covers
`curator.LLM(...)` (`setup_seconds`: it loads the tokenizer and sends the server one request to read its
rate-limit headers) and the call (which, with a `base_url`, first sends one more request to check that the
server supports structured output). `cpu_seconds` is the process's user + system CPU (all threads) over the
same span. The last stdout line is a JSON object like `datafast_driver.py`'s.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def _litellm_tokenizers_dir() -> str | None:
    """The folder of tiktoken files bundled with LiteLLM, found without importing LiteLLM."""
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
    return str(folder) if folder.is_dir() else None


def offline_curator_env(cache_dir: str) -> None:
    """Environment that keeps Curator off the network and out of shared caches (see the module docstring)."""
    defaults = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
        "TELEMETRY_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "CURATOR_DISABLE_CACHE": "true",
        "CURATOR_DISABLE_RICH_DISPLAY": "1",
        "CURATOR_CACHE_DIR": cache_dir,
        "HF_DATASETS_CACHE": os.path.join(cache_dir, "hf-datasets"),
    }
    tokenizers = _litellm_tokenizers_dir()
    if tokenizers is not None:
        defaults["TIKTOKEN_CACHE_DIR"] = tokenizers
    for name, value in defaults.items():
        os.environ.setdefault(name, value)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(spec_path: str) -> int:
    with open(spec_path) as handle:
        spec = json.load(handle)
    offline_curator_env(spec["cache_dir"])

    started_imports = time.perf_counter()
    import litellm  # noqa: F401 - Curator imports it lazily inside LLM(); imported here, before the clock
    from bespokelabs import curator
    from pydantic import BaseModel, Field, create_model

    import_seconds = time.perf_counter() - started_imports

    n = int(spec["num_samples"])
    reviews_model: type[BaseModel] = create_model(
        "Reviews",
        reviews=(list[str], Field(min_length=n, max_length=n, description=f"exactly {n} short reviews")),
    )
    backend_params: dict[str, object] = {"base_url": spec["base_url"], "api_key": spec["api_key"]}
    for name in ("max_concurrent_requests", "max_requests_per_minute", "max_tokens_per_minute"):
        if spec.get(name) is not None:
            backend_params[name] = spec[name]
    prompts: list[str] = spec["prompts"]

    cpu0, t0_monotonic, started = _cpu_seconds(), time.monotonic(), time.perf_counter()
    llm = curator.LLM(
        model_name=spec["model"], response_format=reviews_model, backend="openai", backend_params=backend_params
    )
    setup_seconds = time.perf_counter() - started
    response = llm(prompts)
    call_seconds = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu0

    rows = response.dataset
    texts = sum(len(row.get("reviews") or []) for row in rows) if "reviews" in rows.column_names else 0
    processor = llm._request_processor  # what Curator settled on (from the spec, the server's headers or defaults)
    stats = response.request_stats
    print(
        json.dumps(
            {
                "call_seconds": call_seconds,
                "setup_seconds": setup_seconds,
                "cpu_seconds": cpu_seconds,
                "import_seconds": import_seconds,
                "t0_monotonic": t0_monotonic,
                "done_monotonic": time.monotonic(),  # the caller reads how long the exit took from it
                "answers": len(rows),
                "failed": getattr(stats, "failed", None),
                "rows": texts,
                "concurrency": processor.max_concurrent_requests,
                "rpm": getattr(processor.tracker, "max_requests_per_minute", None),
                "tpm": getattr(processor.tracker, "max_tokens_per_minute", None),
                "version": curator.__version__,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
