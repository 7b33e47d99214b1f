"""The dataset card (README.md) pushed with a dataset: a YAML header the Hub reads, and a body saying how
the dataset was made, with which config (secrets removed) and models, its counts and diversity figures."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from datafast.outputs.secrets import redact, secret_env_values


@dataclass(frozen=True)
class HubCard:
    """What a dataset type tells the Hub about itself: the kind of dataset in words ("A synthetic {kind}
    dataset"), and its task categories and task ids. Each dataset type declares its own (`hub_card`)."""

    kind: str = "text"
    categories: tuple[str, ...] = ("text-generation",)
    task_ids: tuple[str, ...] = ()


# Each dataset type's card by its `dataset_type`, filled by `datafast.datasets.registry.register`.
HUB_CARDS: dict[str, HubCard] = {}

SIZE_CATEGORIES = (
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"),
)  # fmt: skip


def size_category(n: int) -> str:
    """The Hub's size category for `n` records."""
    for bound, name in SIZE_CATEGORIES:
        if n < bound:
            return name
    return "100M<n<1B"


def card_metadata(
    *,
    card: HubCard,
    languages: Sequence[str],
    num_records: int,
    splits: Sequence[str],
    license: str,
    pretty_name: str,
) -> dict[str, Any]:
    """The YAML header of the card, in the keys `huggingface_hub.DatasetCardData` knows."""
    categories, task_ids = list(card.categories), list(card.task_ids)
    metadata: dict[str, Any] = {
        "language": sorted({code.split("-")[0].lower() for code in languages}),
        "license": license,
        "annotations_creators": ["machine-generated"],
        "language_creators": ["machine-generated"],
        "multilinguality": ["multilingual" if len(languages) > 1 else "monolingual"],
        "size_categories": [size_category(num_records)],
        "source_datasets": ["original"],
        "task_categories": categories,
        "pretty_name": pretty_name,
        "tags": ["synthetic", "datafast"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": f"data/{split}-*"} for split in splits],
            }
        ],
    }
    if task_ids:
        metadata["task_ids"] = task_ids
    return metadata


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def dataset_card(
    *,
    repo_id: str,
    metadata: Mapping[str, Any],
    card: HubCard,
    config: Mapping[str, Any] | None,
    splits: Mapping[str, Sequence[Mapping[str, Any]]],
    report: Mapping[str, Any],
    run_summary: Mapping[str, Any] | None = None,
) -> str:
    """The whole README.md: YAML header and Markdown body. Keys named like secrets are removed from the
    config at any depth, and values of secret environment variables are redacted from the text."""
    secrets = secret_env_values()
    name = repo_id.split("/")[-1]
    total = sum(len(rows) for rows in splits.values())
    parts = [
        f"# {name}",
        f"A synthetic {card.kind} dataset of {total:,} records generated with "
        "[datafast](https://pypi.org/project/datafast/): every record was written by an LLM from a prompt "
        "template filled with the values listed below, then cleaned (duplicates, near-duplicates, empty, "
        "truncated and wrong-language texts dropped).",
        "## Splits",
        _table(["split", "records"], [(split, f"{len(rows):,}") for split, rows in splits.items()]),
    ]
    for column in ("label", "language", "model_id"):
        values = sorted({str(r[column]) for rows in splits.values() for r in rows if column in r})
        if not values:
            continue
        per_split = {split: Counter(str(r.get(column)) for r in rows) for split, rows in splits.items()}
        title = {"label": "Labels", "language": "Languages", "model_id": "Models used"}[column]
        parts += [f"## {title}", _table([column, *splits], [(v, *(per_split[s][v] for s in splits)) for v in values])]
    diversity, length = report["diversity"], report["length"]
    parts += [
        "## Diversity and length",
        "distinct-n: distinct word n-grams / all word n-grams over all texts; near duplicates: records with an "
        f"earlier record of estimated Jaccard similarity ≥ {diversity['near_duplicate_threshold']} (MinHash over "
        "3-word shingles).",
        _table(
            ["figure", "value"],
            [
                ("distinct-1", f"{diversity['distinct_1']:.4f}"),
                ("distinct-2", f"{diversity['distinct_2']:.4f}"),
                ("distinct-3", f"{diversity['distinct_3']:.4f}"),
                ("near-duplicate rate", f"{diversity['near_duplicate_rate']:.2%}"),
                *(
                    (f"{unit} per text (min / median / mean / max)",
                     f"{s.get('min', 0)} / {s.get('median', 0)} / {s.get('mean', 0)} / {s.get('max', 0)}")
                    for unit, s in length.items()
                ),
            ],
        ),
    ]  # fmt: skip
    if run_summary:
        whole = run_summary.get("whole_run", {})
        if whole:
            parts += [
                "## Generation cost",
                _table(
                    ["requests", "prompt tokens", "completion tokens", "cost (USD)"],
                    [
                        (
                            whole.get("done", 0),
                            f"{whole.get('prompt_tokens', 0):,}",
                            f"{whole.get('completion_tokens', 0):,}",
                            f"{whole.get('cost_usd', 0):.4f}",
                        )
                    ],
                ),
            ]
    if config:
        clean = redact(json.loads(json.dumps(config, default=str)), secrets)
        parts += [
            "## Configuration",
            "The datafast config this dataset was generated from (secrets removed):",
            "```yaml\n" + yaml.safe_dump(clean, sort_keys=False, allow_unicode=True).rstrip() + "\n```",
        ]
    header = yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True)
    text = f"---\n{header}---\n\n" + "\n\n".join(parts) + "\n"
    return redact(text, secrets)
