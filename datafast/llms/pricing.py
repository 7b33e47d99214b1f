"""What a model's tokens cost: online and batch prices, prompt-cache reads and writes, from LiteLLM's price map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LITELLM_BATCH_PRICE = "LiteLLM's batch price"


@dataclass(frozen=True)
class Prices:
    """USD per token for one model, from LiteLLM's price map.

    `input` and `output` are the online prices; `cache_read` is what a prompt token read from the provider's
    prompt cache costs and `cache_write` one written to it (Anthropic), each the input price where LiteLLM has
    none. `batch_input` and `batch_output` are the batch API's prices (LiteLLM's, else half the online ones),
    `batch_source` says which of the two they are. The batch cache prices are LiteLLM's where it has them
    (`batch_cache_read`, `batch_cache_write`); left None, the online cache prices scaled as the input price is.
    """

    input: float
    output: float
    cache_read: float
    cache_write: float
    batch_input: float
    batch_output: float
    batch_source: str
    batch_cache_read: float | None = None
    batch_cache_write: float | None = None

    def cost(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        *,
        batch: bool = False,
    ) -> float:
        """USD for this usage, as LiteLLM reports it: `prompt_tokens` counts every prompt token, the cached
        ones (`cached_tokens`) and those written to the cache (`cache_write_tokens`) included."""
        uncached = max(prompt_tokens - cached_tokens - cache_write_tokens, 0)
        if not batch:
            return (
                uncached * self.input
                + cached_tokens * self.cache_read
                + cache_write_tokens * self.cache_write
                + completion_tokens * self.output
            )
        ratio = self.batch_input / self.input if self.input else 1.0
        cache_read = self.cache_read * ratio if self.batch_cache_read is None else self.batch_cache_read
        cache_write = self.cache_write * ratio if self.batch_cache_write is None else self.batch_cache_write
        return (
            uncached * self.batch_input
            + cached_tokens * cache_read
            + cache_write_tokens * cache_write
            + completion_tokens * self.batch_output
        )


def prices_for(litellm: Any, model: str, provider: str) -> Prices | None:
    """The prices of `model` as `provider` serves it (LiteLLM's names: `get_llm_provider` gives both), or
    None for a model LiteLLM does not price (a self-hosted one, a new release)."""
    try:
        info = litellm.get_model_info(model=model, custom_llm_provider=provider)
    except Exception:  # LiteLLM raises a bare Exception for a model it does not know
        return None
    online_input, online_output = _rate(info, "input_cost_per_token"), _rate(info, "output_cost_per_token")
    if online_input is None or online_output is None:
        return None
    batch_input = _rate(info, "input_cost_per_token_batches")
    batch_output = _rate(info, "output_cost_per_token_batches")
    if batch_input is not None and batch_output is not None:
        source = LITELLM_BATCH_PRICE
    else:
        batch_input, batch_output = online_input / 2, online_output / 2
        source = f"half the online price (LiteLLM has no batch price for {model})"
    cache_read = _rate(info, "cache_read_input_token_cost")
    cache_write = _rate(info, "cache_creation_input_token_cost")
    return Prices(
        input=online_input,
        output=online_output,
        cache_read=online_input if cache_read is None else cache_read,
        cache_write=online_input if cache_write is None else cache_write,
        batch_input=batch_input,
        batch_output=batch_output,
        batch_source=source,
        # LiteLLM's own batch cache prices only go with its batch prices: halved prices scale the cache's too.
        batch_cache_read=_rate(info, "cache_read_input_token_cost_batches") if source == LITELLM_BATCH_PRICE else None,
        batch_cache_write=(
            _rate(info, "cache_creation_input_token_cost_batches") if source == LITELLM_BATCH_PRICE else None
        ),
    )


def cache_usage(usage: Any) -> tuple[int, int]:
    """Prompt tokens read from the provider's cache and written to it, from a LiteLLM `Usage`: LiteLLM puts
    the reads (OpenAI's `cached_tokens`, Anthropic's `cache_read_input_tokens`, Gemini's cached content) in
    `prompt_tokens_details.cached_tokens` and Anthropic's writes in `cache_creation_input_tokens`; both
    are counted in its `prompt_tokens`."""
    details = getattr(usage, "prompt_tokens_details", None)
    cached = _count(getattr(details, "cached_tokens", 0))
    written = _count(getattr(usage, "cache_creation_input_tokens", 0)) or _count(
        getattr(details, "cache_creation_tokens", 0) or getattr(details, "cache_write_tokens", 0)
    )
    return cached, written


def _rate(info: Any, key: str) -> float | None:
    value = info.get(key)
    return float(value) if isinstance(value, int | float) else None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else 0
