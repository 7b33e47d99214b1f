"""Runs one classification config with datafast 0.0.36; executed by /tmp/venv-df036/bin/python.

    /tmp/venv-df036/bin/python benchmarks/df036_driver.py SPEC.json

SPEC.json holds the config fields (`classes`, `prompts`, `languages`, `num_samples_per_prompt`,
`placeholders`, `output_file`) and `model_id`. The caller sets `OPENAI_BASE_URL` (0.0.36's OpenAIProvider has
no `api_base` argument; LiteLLM's Responses-API route reads that variable) and `OPENAI_API_KEY`. The last
stdout line is a JSON object with the wall time of `generate()` (imports excluded) and the rows produced.

Only the standard library and the 0.0.36 package are used here: this file runs in the old environment.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(spec_path: str) -> int:
    with open(spec_path) as handle:
        spec = json.load(handle)
    t_import = time.perf_counter()
    from datafast.datasets import ClassificationDataset  # type: ignore[import-not-found]
    from datafast.llms import OpenAIProvider  # type: ignore[import-not-found]
    from datafast.schema.config import (  # type: ignore[import-not-found]
        ClassificationDatasetConfig,
        PromptExpansionConfig,
    )

    import_s = time.perf_counter() - t_import
    n_placeholder_combos = 1
    for values in spec["placeholders"].values():
        n_placeholder_combos *= len(values)
    config = ClassificationDatasetConfig(
        classes=spec["classes"],
        prompts=spec["prompts"],
        languages=spec["languages"],
        num_samples_per_prompt=spec["num_samples_per_prompt"],
        output_file=spec["output_file"],
        expansion=PromptExpansionConfig(
            placeholders=spec["placeholders"], max_samples=max(1000, n_placeholder_combos * len(spec["prompts"]))
        ),
    )
    provider = OpenAIProvider(model_id=spec["model_id"])
    dataset = ClassificationDataset(config)
    expected = dataset.get_num_expected_rows([provider])
    t0_monotonic, started = time.monotonic(), time.perf_counter()
    dataset.generate([provider])
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "version": _version(),
                "wall_s": wall,
                "t0_monotonic": t0_monotonic,
                "import_s": import_s,
                "rows": len(dataset.data_rows),
                "expected_rows": expected,
            }
        ),
        flush=True,
    )
    return 0


def _version() -> str:
    from importlib.metadata import version

    return version("datafast")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
