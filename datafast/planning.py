"""What a run will ask for and what it may cost, computed before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from datafast.datasets.base import DatasetBase
from datafast.llms.base import LLMProvider

# Multi-step types' later steps also resend the document or the conversation so far. Answer sizes are the
# dataset type's own (`output_tokens_per_sample` / `output_tokens_per_request`).
_LATER_STEP_PROMPT_FACTOR = 2
_PROMPT_SAMPLE = 200


@dataclass
class ProviderPlan:
    """Requests, rows, estimated tokens and cost for one provider. `cost_usd` is None for a model
    that is not in LiteLLM's price map (self-hosted models, new releases), 0 for the built-in local model.
    `rows` counts the records of the chains the provider takes part in; `roles` are its roles in a
    multi-role run."""

    name: str
    requests: int
    rows: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    roles: list[str] = field(default_factory=list)


@dataclass
class RunPlan:
    """The plan of a whole run: per provider, totals, and a few rendered prompts to read before paying.
    `requests_per_provider` is what one binding of LLMs asks (one provider, for single-role types);
    `requests_by_role` splits it by role for multi-role types (preference)."""

    dataset_type: str
    requests_per_provider: int
    providers: list[ProviderPlan]
    sample_prompts: list[str]
    total_rows: int = 0
    requests_by_role: dict[str, int] = field(default_factory=dict)

    @property
    def total_requests(self) -> int:
        return sum(p.requests for p in self.providers)


def requests_by_role(dataset: DatasetBase, binding: dict[str, LLMProvider] | None = None) -> dict[str, int]:
    """Requests each role makes per binding in a complete run (for `binding`, when given)."""
    return dataset.num_requests_by_role(binding)


def _litellm() -> Any:
    """LiteLLM, for its price map: imported only when a hosted model is priced (the import takes seconds)."""
    from datafast._env import apply_offline_defaults

    apply_offline_defaults()
    import litellm

    return litellm


def plan_run(dataset: DatasetBase, llms: Any, n_samples: int = 3) -> RunPlan:
    """The plan for running `dataset` with `llms` (what its `bindings` takes: providers, or a role →
    provider mapping for a multi-role type). Nothing is sent."""
    bindings = dataset.bindings(llms)
    by_role = requests_by_role(dataset, bindings[0] if len(bindings) == 1 else None)
    per_binding = dataset.num_requests()
    multi_step = per_binding != dataset.num_requests_per_provider()
    first = list(islice(dataset.first_asks(), _PROMPT_SAMPLE))
    prompts = [str(ask.messages[-1].get("content", "")) for ask in first]
    # ~4 characters a token is close enough for a budget; the real count is recorded when the run goes.
    mean_prompt_tokens = sum(len(m["content"]) for a in first for m in a.messages) / max(len(first), 1) / 4 + 8
    if multi_step:
        mean_prompt_tokens *= _LATER_STEP_PROMPT_FACTOR
    kind = dataset.config.dataset_type
    samples = dataset.config.num_samples_per_prompt
    rows_per_binding = dataset.get_num_expected_rows(llms) // max(len(bindings), 1)

    # Every provider once, with the requests of each role it holds in every binding.
    providers: dict[int, tuple[LLMProvider, int, int, list[str]]] = {}
    for binding in bindings:
        in_binding: set[int] = set()
        binding_by_role = requests_by_role(dataset, binding)
        for role, provider in binding.items():
            if role not in binding_by_role:  # an optional role done by another role's LLM (its requests count there)
                continue
            llm, requests, rows, roles = providers.get(id(provider), (provider, 0, 0, []))
            rows += 0 if id(provider) in in_binding else rows_per_binding
            in_binding.add(id(provider))
            providers[id(provider)] = (llm, requests + binding_by_role[role], rows, [*roles, role])

    plans = []
    for llm, requests, rows, roles in providers.values():
        shown_roles = roles if len(dataset.roles) > 1 else []
        prompt_tokens = int(mean_prompt_tokens * requests)
        per_request = dataset.output_tokens_per_request
        if multi_step and per_request is not None:
            completion_tokens = requests * per_request
        else:
            completion_tokens = requests * samples * dataset.output_tokens_per_sample
        if llm.provider_name == "local":  # runs on this machine: the tokens take time, not money
            plans.append(ProviderPlan(llm.name, requests, rows, prompt_tokens, completion_tokens, 0.0, shown_roles))
            continue
        try:
            prompt_cost, completion_cost = _litellm().cost_per_token(
                model=f"{llm.litellm_prefix}/{llm.model_id}",
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
            cost: float | None = float(prompt_cost + completion_cost)
        except Exception:  # not in the price map
            cost = None
        plans.append(ProviderPlan(llm.name, requests, rows, prompt_tokens, completion_tokens, cost, shown_roles))
    return RunPlan(
        dataset_type=kind,
        requests_per_provider=per_binding,
        providers=plans,
        sample_prompts=prompts[:n_samples],
        total_rows=rows_per_binding * len(bindings),
        requests_by_role=by_role if len(dataset.roles) > 1 else {},
    )
