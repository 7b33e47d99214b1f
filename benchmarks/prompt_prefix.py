"""How much of a run's prompts a provider's prefix cache can reuse, per example config and per step.

For each config in `examples/`, and again with the dataset type's default prompts where the example writes its
own, this prints, per step of the chain: the number of requests, the longest prefix that all of them share,
their mean length, and the share of all their prompt characters that shared prefix is (prefix × requests /
characters). A prefix cache (OpenAI's automatic one, Anthropic's with `cache_control`) can only reuse an
identical leading part, so this share is the most it can save on the step's input. The last column is the
fixed prefix `AnthropicProvider(cache_prompt_prefix=True)` marks for caching (the template's text before its
first placeholder), in characters of the first message.

The first step's prompts are the run's own (`first_asks`); later steps' are made by answering each ask with
schema-valid fake answers (`datafast.testing.SchemaFaker`, seeded), so their shape is a run's but their
contents (questions, answers) are filler. Nothing is sent anywhere.

    .venv/bin/python benchmarks/prompt_prefix.py            # from the repository root; a second or two
"""

from __future__ import annotations

import os
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import datafast_revision  # noqa: E402

from datafast.datasets.registry import dataset_for  # noqa: E402
from datafast.llms.structured import strict_json_schema  # noqa: E402
from datafast.schema.loading import load_dataset_config  # noqa: E402
from datafast.testing import SchemaFaker  # noqa: E402

# The fields that hold an example's own first-step prompts (and what the type's defaults replace).
PROMPT_FIELDS = ("prompts", "question_generation_prompts")
MAX_ASKS_PER_STEP = 2000


def request_text(messages: list[dict[str, Any]]) -> str:
    """What a prefix cache sees of a request's messages, in order."""
    return "".join(str(m.get("content", "")) for m in messages)


def common_prefix(texts: list[str]) -> int:
    """The length of the longest prefix all of `texts` share (character by character)."""
    if not texts:
        return 0
    first, last = min(texts), max(texts)  # the most different pair in sorted order bounds every other pair
    length = 0
    while length < min(len(first), len(last)) and first[length] == last[length]:
        length += 1
    return length


def walk(dataset: Any) -> dict[str, list[Any]]:
    """Every ask of the run, by step: the first ones as the run makes them, the later ones from fake answers."""
    faker = SchemaFaker(default_array_items=3)
    rng = random.Random(0)
    by_step: dict[str, list[Any]] = defaultdict(list)
    pending = list(dataset.first_asks())
    while pending:
        ask = pending.pop(0)
        if len(by_step[ask.step]) >= MAX_ASKS_PER_STEP:
            continue
        by_step[ask.step].append(ask)
        if ask.response_model is None:
            continue
        answer = None
        for _ in range(5):  # a fake answer the type rejects (a repeated distractor, ...) is drawn again
            candidate = ask.response_model.model_validate(faker.generate(strict_json_schema(ask.response_model), rng))
            try:
                outcome = dataset.on_answer(ask, candidate, "model")
            except ValueError:
                continue
            answer = outcome
            break
        if answer is not None:
            pending.extend(answer.then)
    return by_step


def rows_for(label: str, config: Any) -> list[tuple[str, ...]]:
    dataset = dataset_for(config)
    rows = []
    for step, asks in walk(dataset).items():
        texts = [request_text(a.messages) for a in asks]
        shared = common_prefix(texts)
        total = sum(len(t) for t in texts)
        fixed = getattr(asks[0].messages[0]["content"], "fixed", None)
        rows.append(
            (
                label,
                step,
                str(len(texts)),
                str(shared),
                f"{total / len(texts):.0f}",
                f"{100 * shared * len(texts) / total:.1f}%" if total else "-",
                "-" if fixed is None else str(fixed),
            )
        )
    return rows


def with_default_prompts(config: Any) -> Any | None:
    """The config with the type's default first-step prompts instead of its own (None: it has none)."""
    data = config.model_dump()
    given = [name for name in PROMPT_FIELDS if data.get(name)]
    if not given or not getattr(type(config), "default_prompts", ()):
        return None
    for name in given:
        data[name] = None
    data.pop("expansion", None)  # its {{placeholders}} were the example's prompts'
    return type(config).model_validate(data)


def main() -> None:
    os.chdir(ROOT)  # the examples' local_file_path is relative to the repository root
    header = ("example", "step", "requests", "shared prefix", "mean chars", "shared share", "marked prefix")
    print(f"datafast {datafast_revision()}")
    rows: list[tuple[str, ...]] = [header]
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        config, _ = load_dataset_config(path)
        rows += rows_for(path.stem, config)
        defaults = with_default_prompts(config)
        if defaults is not None:
            rows += rows_for(f"{path.stem} (default prompts)", defaults)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
