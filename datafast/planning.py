"""What a run will ask for and what it may cost, computed before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice

from datafast.datasets.base import DatasetBase
from datafast.llms.base import LLMProvider

# Rough answer sizes per generated sample, for the cost estimate only.
_OUTPUT_TOKENS_PER_SAMPLE = {"text_classification": 80, "raw_text": 450}
_PROMPT_SAMPLE = 200


@dataclass
class ProviderPlan:
    """Requests, rows, estimated tokens and cost for one provider. `cost_usd` is None for a model
    that is not in LiteLLM's price map (local and self-hosted models, new releases)."""

    name: str
    requests: int
    rows: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None


@dataclass
class RunPlan:
    """The plan of a whole run: per provider, totals, and a few rendered prompts to read before paying."""

    dataset_type: str
    requests_per_provider: int
    providers: list[ProviderPlan]
    sample_prompts: list[str]

    @property
    def total_requests(self) -> int:
        return sum(p.requests for p in self.providers)

    @property
    def total_rows(self) -> int:
        return sum(p.rows for p in self.providers)


def plan_run(dataset: DatasetBase, llms: Sequence[LLMProvider], n_samples: int = 3) -> RunPlan:
    from datafast._env import apply_offline_defaults

    apply_offline_defaults()
    import litellm

    requests = dataset.num_requests_per_provider()
    sampled = list(islice(dataset.prompt_requests(), _PROMPT_SAMPLE))
    # ~4 characters a token is close enough for a budget; the real count is recorded when the run goes.
    mean_prompt_tokens = sum(len(r.prompt) for r in sampled) / max(len(sampled), 1) / 4 + 8
    samples = dataset.config.num_samples_per_prompt
    per_sample = _OUTPUT_TOKENS_PER_SAMPLE.get(dataset.config.dataset_type, 200)  # type: ignore[attr-defined]
    plans = []
    for llm in llms:
        prompt_tokens = int(mean_prompt_tokens * requests)
        completion_tokens = requests * samples * per_sample
        if llm.provider_name == "local":
            plans.append(ProviderPlan(llm.name, requests, requests * samples, 0, 0, 0.0))
            continue
        try:
            prompt_cost, completion_cost = litellm.cost_per_token(
                model=f"{llm.litellm_prefix}/{llm.model_id}",
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
            cost: float | None = float(prompt_cost + completion_cost)
        except Exception:  # not in the price map
            cost = None
        plans.append(ProviderPlan(llm.name, requests, requests * samples, prompt_tokens, completion_tokens, cost))
    return RunPlan(
        dataset_type=dataset.config.dataset_type,  # type: ignore[attr-defined]
        requests_per_provider=requests,
        providers=plans,
        sample_prompts=[r.prompt for r in sampled[:n_samples]],
    )
