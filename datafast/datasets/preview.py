"""`DatasetBase.preview`: a few chains of a run, spread over the config's dimensions, run for real into the
run's store (see `datafast.engine.preview`), and what they show."""

from __future__ import annotations

from typing import TYPE_CHECKING

from datafast.engine import RetryPolicy
from datafast.engine.folder import run_folder
from datafast.engine.preview import PreviewPicks, PreviewResult, spread
from datafast.engine.run import DatasetRun
from datafast.errors import ConfigError
from datafast.llms.base import LLMProvider
from datafast.outputs import DroppedRecords, JsonlFile

if TYPE_CHECKING:
    from datafast.datasets.base import DatasetBase


async def run_preview(
    dataset: DatasetBase,
    bindings: list[dict[str, LLMProvider]],
    n: int,
    *,
    retry: RetryPolicy | None = None,
    show_progress: bool = False,
) -> PreviewResult:
    """Run `n` chains of `dataset` (spread over its dimensions and its bindings) and gather what they gave."""
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"preview: n must be a whole number >= 1, got {n!r}")
    folder = run_folder(dataset.config.output_file)
    picks = PreviewPicks(spread(dataset.first_asks(), n, len(bindings)), folder / "preview.jsonl")
    run = DatasetRun(dataset, bindings, show_progress=show_progress, retry=retry, preview=picks)
    stats = await run.execute()
    total_chains = sum(1 for _ in dataset.first_asks()) * len(bindings)
    return PreviewResult(
        records=list(JsonlFile(picks.records_file).read()),
        dropped=list(DroppedRecords(picks.records_file).read()),
        chains=picks.chains,
        total_chains=total_chains,
        requests=run.chain_requests,
        prompt_tokens=run.chain_prompt_tokens,
        completion_tokens=run.chain_completion_tokens,
        cost_usd=run.chain_cost_usd,
        failures=[f"{f.model_id}: {f.reason}" for f in dataset.failures],
        resumed=stats.resumed,
    )
