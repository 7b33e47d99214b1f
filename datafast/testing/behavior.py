"""How the test server behaves: latency, fault injection and logging switches."""

from __future__ import annotations

import random
from collections import deque
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Fault = Literal[
    "ok", "429", "500", "timeout", "drop", "malformed", "truncated", "junk", "empty", "html", "no_choices"
]
"""What happens to one generation request. ``ok`` is a normal answer; ``junk`` and ``empty`` are schema-valid
answers whose free-text strings are dates and codes, or empty, as small models sometimes write; ``html`` is a
proxy's page instead of JSON; ``no_choices`` a well-formed body whose answer list is empty (OpenAI's
``choices: []``, Anthropic's ``content: []``, Gemini's ``candidates: []``, Ollama's ``message: {}``)."""

Outcome = Literal[
    "ok",
    "429",
    "500",
    "timeout",
    "drop",
    "malformed",
    "truncated",
    "junk",
    "empty",
    "html",
    "no_choices",
    "bad_request",
]
"""What was logged for a request: a :data:`Fault`, or ``bad_request`` when its body could not be parsed."""

FAULTS: tuple[str, ...] = get_args(Fault)

_RATE_FIELDS: tuple[tuple[str, Fault], ...] = (
    ("rate_429", "429"),
    ("rate_500", "500"),
    ("rate_timeout", "timeout"),
    ("rate_drop", "drop"),
    ("rate_malformed", "malformed"),
    ("rate_truncated", "truncated"),
    ("rate_junk", "junk"),
    ("rate_empty", "empty"),
    ("rate_html", "html"),
    ("rate_no_choices", "no_choices"),
)

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class ServerBehavior(BaseModel):
    """Runtime behaviour of :class:`~datafast.testing.LLMTestServer`; may be changed while it runs.

    Faults are chosen per generation request: first from ``script`` (one entry per request, in order; when
    ``script_match`` is set only requests whose prompt text contains it consume entries), otherwise at random
    with the ``rate_*`` probabilities drawn from a generator seeded with ``seed``.

    ``rpm_limit`` and ``tpm_limit`` are enforced like provider rate limits, before any fault is chosen (see
    :mod:`datafast.testing.rate_limits`): a token bucket per limit holding ``rate_burst_s`` seconds' worth of
    it, refilled continuously. A request over a limit gets a 429 with ``Retry-After`` and takes nothing from
    the buckets; OpenAI- and Anthropic-format responses advertise the limits in their providers' headers.
    """

    model_config = ConfigDict(extra="forbid")

    latency_s: float = Field(default=0.0, ge=0.0, description="Delay added to every generation request.")
    seed: int = Field(default=0, description="Seeds fault draws and generated answers.")
    rate_429: Probability = 0.0
    rate_500: Probability = 0.0
    rate_timeout: Probability = 0.0
    rate_drop: Probability = 0.0
    rate_malformed: Probability = 0.0
    rate_truncated: Probability = 0.0
    rate_junk: Probability = 0.0
    rate_empty: Probability = 0.0
    rate_html: Probability = 0.0
    rate_no_choices: Probability = 0.0
    retry_after_s: float = Field(default=1.0, ge=0.0, description="Sent as Retry-After with a 429.")
    hang_s: float = Field(default=30.0, ge=0.0, description="How long a 'timeout' request is held.")
    timeout_then: Literal["answer", "close"] = Field(
        default="answer", description="After holding a 'timeout' request: answer normally or drop it."
    )
    script: list[Fault] = Field(default_factory=list, description="Faults for the next requests, in order.")
    script_match: str | None = Field(default=None, description="Only prompts containing this use the script.")
    default_array_items: int = Field(default=3, ge=0, description="Items in arrays without size bounds.")
    honor_max_tokens: bool = Field(
        default=True, description="Cut answers longer than the request's max tokens (as 'truncated')."
    )
    rpm_limit: int | None = Field(
        default=None, ge=1, description="Requests per minute; over it a 429 (None: no limit, no limit headers)."
    )
    tpm_limit: int | None = Field(
        default=None, ge=1, description="Prompt plus completion tokens per minute (None: no limit)."
    )
    max_concurrent_requests: int | None = Field(
        default=None,
        ge=1,
        description="Generation requests served at once; one more is refused at once with a 429 and Retry-After "
        "(retry_after_s), as a server at its capacity does (None: no limit).",
    )
    rate_burst_s: float = Field(
        default=10.0,
        gt=0.0,
        le=60.0,
        description="Seconds' worth of rpm_limit/tpm_limit a full bucket holds: bursts beyond it get 429s.",
    )
    cached_prompt_share: Probability | None = Field(
        default=None,
        description="Share of prompt tokens reported as read from the prompt cache (OpenAI "
        "usage.prompt_tokens_details.cached_tokens, Anthropic usage.cache_read_input_tokens); None: no cache fields.",
    )
    reasoning: bool = Field(
        default=False,
        description="Answers carry a reasoning trace (deterministic per prompt), as each wire format does: OpenAI "
        "message.reasoning_content (OpenRouter's message.reasoning), Anthropic thinking blocks before the answer's "
        "block, Gemini parts with thought: true, Ollama message.thinking; or see reasoning_style.",
    )
    reasoning_style: Literal["field", "think_tags"] = Field(
        default="field",
        description="How OpenAI-format and Ollama answers carry reasoning: in the message's field, or as a "
        "<think>...</think> block opening the content (DeepSeek-R1 served without a reasoning parser).",
    )
    batch_delay_s: float = Field(
        default=1.0, ge=0.0, description="Seconds from a batch's submission until its results are ready."
    )
    batch_rate_failed: Probability = Field(default=0.0, description="Share of batch requests that fail.")
    batch_rate_expired: Probability = Field(default=0.0, description="Share of batch requests that expire.")
    batch_rate_malformed: Probability = Field(
        default=0.0, description="Share of batch requests answered with malformed JSON (a success, paid for)."
    )
    batch_rate_lost_create: Probability = Field(
        default=0.0,
        description="Share of batch creations whose answer is lost: the batch is made, the connection closed.",
    )
    log_records: bool = Field(default=True, description="Keep one record per request (counters always run).")
    log_bodies: bool = Field(default=True, description="Keep prompt and answer text in the records.")

    @model_validator(mode="after")
    def _rates_sum_to_at_most_one(self) -> ServerBehavior:
        total = sum(getattr(self, name) for name, _ in _RATE_FIELDS)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {total:.3f}, more than 1")
        if self.batch_rate_failed + self.batch_rate_expired + self.batch_rate_malformed > 1.0 + 1e-9:
            raise ValueError("batch_rate_failed, batch_rate_expired and batch_rate_malformed add up to more than 1")
        return self


class FaultPlanner:
    """Holds the current behaviour, the pending script and the fault random generator."""

    def __init__(self, behavior: ServerBehavior | None = None) -> None:
        self.behavior = behavior or ServerBehavior()
        self._script: deque[Fault] = deque(self.behavior.script)
        self._rng = random.Random(self.behavior.seed)
        self._rates = self._rate_table()

    def current(self) -> ServerBehavior:
        """The behaviour in force, with ``script`` showing only the entries not yet consumed."""
        return self.behavior.model_copy(update={"script": list(self._script)})

    def update(self, changes: dict[str, Any], replace: bool = False) -> ServerBehavior:
        """Apply ``changes`` (validated); with ``replace`` unspecified fields go back to their defaults.

        The pending script is replaced only when ``script`` is given (or on ``replace``); the fault generator
        is re-seeded only when ``seed`` is given (or on ``replace``).
        """
        base = {} if replace else self.current().model_dump()
        new = ServerBehavior.model_validate({**base, **changes})
        if replace or "script" in changes:
            self._script = deque(new.script)
        if replace or "seed" in changes:
            self._rng = random.Random(new.seed)
        self.behavior = new
        self._rates = self._rate_table()
        return self.current()

    def pick(self, prompt_text: str) -> Fault:
        """Choose the fault for one request."""
        if self._script:
            match = self.behavior.script_match
            if match is None or match in prompt_text:
                return self._script.popleft()
        if not self._rates:
            return "ok"
        roll = self._rng.random()
        acc = 0.0
        for rate, fault in self._rates:
            acc += rate
            if roll < acc:
                return fault
        return "ok"

    def _rate_table(self) -> list[tuple[float, Fault]]:
        return [(getattr(self.behavior, name), fault) for name, fault in _RATE_FIELDS if getattr(self.behavior, name)]
