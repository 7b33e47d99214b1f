"""What one logical request to a provider produced."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from datafast.llms.rate_limits import RateLimitHeaders


@dataclass
class Completion:
    """What one logical request produced: the text, the parsed model when one was asked for, usage and cost
    summed over the request and its repair retry (if one was needed), and the reasoning trace of the answer
    whose text this is, where the provider returned one."""

    text: str
    parsed: BaseModel | None
    finish_reason: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    repaired: bool = False
    cached_tokens: int = 0  # prompt tokens read from the provider's prompt cache (counted in prompt_tokens)
    cache_write_tokens: int = 0  # prompt tokens written to it (Anthropic; counted in prompt_tokens)
    limits: RateLimitHeaders | None = None  # the provider's rate limits, as this answer's headers told
    reasoning: str | None = None  # what the model wrote while thinking, apart from `text` (None: nothing)
    reasoning_tokens: int = 0  # completion tokens spent thinking (counted in completion_tokens)
