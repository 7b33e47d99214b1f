"""What a run will ask for and what it may cost, computed before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from datafast.datasets.base import DatasetBase
from datafast.llms.base import LLMProvider
from datafast.llms.pricing import Prices, prices_for

# Multi-step types' later steps also resend the document or the conversation so far. Answer sizes are the
# dataset type's own (`output_tokens_per_sample` / `output_tokens_per_request`).
_LATER_STEP_PROMPT_FACTOR = 2
_PROMPT_SAMPLE = 200


@dataclass
class ProviderPlan:
    """Requests, rows, estimated tokens and cost for one provider. `cost_usd` is None for a model
    that is not in LiteLLM's price map (self-hosted models, new releases), 0 for the built-in local model.
    `batch_cost_usd` is the same at the provider's batch price (planned with `batch=True`; None otherwise or
    where unknown), `batch_price_source` where that price comes from (LiteLLM's map, or half the online
    price). `rows` counts the records of the chains the provider takes part in; `roles` are its roles in a
    multi-role run."""

    name: str
    requests: int
    rows: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    roles: list[str] = field(default_factory=list)
    batch_cost_usd: float | None = None
    batch_price_source: str | None = None


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

    @property
    def total_cost_usd(self) -> float | None:
        """The run's estimated cost, or None when a provider's is unknown."""
        costs = [p.cost_usd for p in self.providers]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    @property
    def total_batch_cost_usd(self) -> float | None:
        """The run's estimated cost at batch prices, or None when a provider's is unknown (or not planned)."""
        costs = [p.batch_cost_usd for p in self.providers]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)


def requests_by_role(
    dataset: DatasetBase, binding: dict[str, LLMProvider] | None = None, judged: int = 0
) -> dict[str, int]:
    """Requests each role makes per binding in a complete run (for `binding`, when given), with `judged`
    requests of the record judge (`judge:`) under the role "judge"."""
    counts = dict(dataset.num_requests_by_role(binding))
    if judged:
        counts["judge"] = counts.get("judge", 0) + judged
    return counts


def _litellm() -> Any:
    """LiteLLM, for its price map: imported only when a hosted model is priced (the import takes seconds)."""
    from datafast._env import apply_offline_defaults

    apply_offline_defaults()
    import litellm

    return litellm


def model_prices(llm: LLMProvider) -> Prices | None:
    """The prices of a provider's model in LiteLLM's price map (None where it has none), without building a
    route: nothing is sent, no key is needed."""
    litellm = _litellm()
    try:
        model, provider, _, _ = litellm.get_llm_provider(f"{llm.litellm_prefix}/{llm.model_id}")
    except Exception:  # a prefix LiteLLM does not know
        return None
    return prices_for(litellm, model, provider)


def plan_run(dataset: DatasetBase, llms: Any, n_samples: int = 3, batch: bool = False) -> RunPlan:
    """The plan for running `dataset` with `llms` (what its `bindings` takes: providers, or a role →
    provider mapping for a multi-role type). With `batch`, each provider's cost at its batch price too.
    Nothing is sent."""
    bindings = dataset.run_bindings(llms, require_keys=False)
    judge = dataset.record_judge(bindings)
    judged = judge.requests_per_binding if judge is not None else 0
    by_role = requests_by_role(dataset, bindings[0] if len(bindings) == 1 else None, judged)
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
    with_roles = len(dataset.roles) > 1 or judge is not None

    # Every provider once, with the requests of each role it holds in every binding (and how many of them
    # are the record judge's, which are sized otherwise).
    providers: dict[int, tuple[LLMProvider, int, int, list[str], int]] = {}
    for binding in bindings:
        in_binding: set[int] = set()
        binding_by_role = requests_by_role(dataset, binding, judged)
        for role, provider in binding.items():
            if role not in binding_by_role:  # an optional role done by another role's LLM (its requests count there)
                continue
            llm, requests, rows, roles, judging = providers.get(id(provider), (provider, 0, 0, [], 0))
            rows += 0 if id(provider) in in_binding else rows_per_binding
            in_binding.add(id(provider))
            judging += judged if role == "judge" else 0
            providers[id(provider)] = (llm, requests + binding_by_role[role], rows, [*roles, role], judging)

    plans = []
    for llm, requests, rows, roles, judging in providers.values():
        shown_roles = roles if with_roles else []
        own = requests - judging
        prompt_tokens = int(mean_prompt_tokens * own)
        per_request = dataset.output_tokens_per_request
        if multi_step and per_request is not None:
            completion_tokens = own * per_request
        else:
            completion_tokens = own * samples * dataset.output_tokens_per_sample
        if judge is not None and judging:
            # The judge reads its instructions and one record: a sample's answer, or for a chain, about what
            # its later steps read (the document or the conversation).
            record_tokens = mean_prompt_tokens if multi_step else dataset.output_tokens_per_sample
            prompt_tokens += int(judging * (judge.prompt_chars(0) / 4 + record_tokens))
            completion_tokens += judging * judge.answer_tokens
        plan = ProviderPlan(llm.name, requests, rows, prompt_tokens, completion_tokens, None, shown_roles)
        if llm.provider_name == "local":  # runs on this machine: the tokens take time, not money
            plan.cost_usd = 0.0
            plan.batch_cost_usd = 0.0 if batch else None
        elif (prices := model_prices(llm)) is not None:
            plan.cost_usd = prices.cost(prompt_tokens, completion_tokens)
            if batch:
                plan.batch_cost_usd = prices.cost(prompt_tokens, completion_tokens, batch=True)
                plan.batch_price_source = prices.batch_source
        plans.append(plan)
    return RunPlan(
        dataset_type=kind,
        requests_per_provider=per_binding + judged,
        providers=plans,
        sample_prompts=prompts[:n_samples],
        total_rows=rows_per_binding * len(bindings),
        requests_by_role=by_role if with_roles else {},
    )
