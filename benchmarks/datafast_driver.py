"""Runs the reviews job once with a datafast checkout, in a process of its own; started by `vs_curator.py`.

    PYTHONPATH=SRC PYTHON benchmarks/datafast_driver.py SPEC.json

`SRC` is the checkout to measure (its `datafast` package comes before the editable install of the venv) and
`PYTHON` the interpreter whose packages it uses. SPEC.json holds `classes`, `prompt`, `topics`,
`num_samples`, `model`, `concurrency` (null: the provider's default) and `output_file`. The caller sets
`OPENAI_BASE_URL` and `OPENAI_API_KEY` to the test server.

The job is a `ClassificationDataset` of classes × topics requests, `num_samples` texts per request (a JSON
schema answer), generated with `OpenAIProvider` as a user calls it: `generate([provider],
show_progress=False)`. datafast's public API and LiteLLM are imported before the clock starts; what datafast
imports lazily during the run (its engine, the quality report's plotting) counts in the call.
The clock covers building the config, dataset and provider, and the `generate()` call; `cpu_seconds` is the
process's user + system CPU (all threads) over the same span, from `resource.getrusage`.

The last stdout line is a JSON object: `call_seconds`, `cpu_seconds`, `import_seconds`, `t0_monotonic` (the
clock's start, `time.monotonic()`, to place the server's log on it), `answers` (requests that succeeded),
`rows` (lines in the output file), `concurrency`, `datafast_file` (which package was imported).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _count_lines(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.endswith(b"\n"))


def main(spec_path: str) -> int:
    with open(spec_path) as handle:
        spec = json.load(handle)

    started_imports = time.perf_counter()
    import litellm  # noqa: F401 - imported before the clock, as on the Curator side

    import datafast
    from datafast.datasets import ClassificationDataset
    from datafast.llms import OpenAIProvider
    from datafast.schema.config import ClassificationDatasetConfig, PromptExpansionConfig

    import_seconds = time.perf_counter() - started_imports

    topics: list[str] = spec["topics"]
    cpu0, t0_monotonic, started = _cpu_seconds(), time.monotonic(), time.perf_counter()
    config = ClassificationDatasetConfig(
        classes=spec["classes"],
        prompts=[spec["prompt"]],
        languages={"en": "English"},
        num_samples_per_prompt=spec["num_samples"],
        output_file=spec["output_file"],
        expansion=PromptExpansionConfig(placeholders={"topic": topics}, max_samples=max(1000, len(topics))),
    )
    options = {} if spec.get("concurrency") is None else {"max_concurrency": spec["concurrency"]}
    provider = OpenAIProvider(model_id=spec["model"], **options)
    dataset = ClassificationDataset(config)
    dataset.generate([provider], show_progress=False)
    call_seconds = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu0

    stats = getattr(dataset, "stats", None)
    failures = getattr(dataset, "failures", None) or []
    print(
        json.dumps(
            {
                "call_seconds": call_seconds,
                "cpu_seconds": cpu_seconds,
                "import_seconds": import_seconds,
                "t0_monotonic": t0_monotonic,
                "done_monotonic": time.monotonic(),  # the caller reads how long the exit took from it
                "answers": getattr(stats, "succeeded", None),
                "failed": len(failures),
                "failures_by_reason": dict(getattr(stats, "failures_by_reason", None) or {}),
                "rows": _count_lines(spec["output_file"]),
                "concurrency": getattr(provider, "max_concurrency", None),
                "datafast_file": datafast.__file__,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
