"""The record judge (`judge:` in a config): one more step after any answer that makes records, whatever the
dataset type. Each record that passes the cleaning rules it can be checked on alone and the validators is
not written yet: one ask to the LLM of the role "judge" scores it against the rubric, and the answer's
scores and reason go on the record, which is then written, or dropped with the reason `judge` when a
criterion scores under the threshold.

A judge ask is a work item like any other: stored, resumed, priced and counted. Its key depends on the
record's content, the rubric and the record's uuid, so a rerun replays it from the store instead of
asking the judge again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel, Field, create_model

from datafast.engine.source import Ask, PromptRequest
from datafast.expansion import Prompt
from datafast.quality.cleaner import JUDGE
from datafast.schema.data_rows import DatasetRow
from datafast.schema.judging import JudgeCriterion

STEP = "judge"
ROLE = "judge"

# The instructions and the rubric first, the record last: every judge request of a run starts with the same
# text, which a provider's prompt cache can reuse.
JUDGE_PROMPT = (
    "You review the records of a synthetic {kind} dataset, made to train and evaluate language models. Score "
    "the record at the end on each criterion below, on that criterion's scale from 1 (fails it entirely) to "
    "its maximum (meets it fully). Judge strictly and only by what the record says; do not reward length. Put "
    "each score under the criterion's name, and a short reason for the scores (one or two sentences) in "
    "'reason'.\n\n"
    "Criteria:\n{criteria}\n\n"
)
REQUEST_PART = "The request the record answers:\n<request>\n{request}\n</request>\n\n"
RECORD_PART = "Record:\n<record>\n{record}\n</record>"

# Answer tokens of one verdict per criterion and for the reason, for `plan`'s estimate.
TOKENS_PER_CRITERION = 8
REASON_TOKENS = 60


@dataclass(frozen=True)
class PendingRecord:
    """A judge ask's state: the record it judges, and whether its answer was cut off (for cleaning)."""

    record: DatasetRow
    truncated: bool


@dataclass(frozen=True)
class RecordJudge:
    """The judge of one run: the rubric, the threshold every criterion must reach, the record fields it
    reads (`fields`), whether it also reads the request the record answers (`sees_request`), the kind of
    dataset in words (for its prompt) and the judge requests one binding of LLMs makes in a complete run
    (one per record; records dropped before they are judged make fewer)."""

    rubric: tuple[JudgeCriterion, ...]
    threshold: int
    fields: tuple[str, ...]
    kind: str = "text"
    sees_request: bool = False
    requests_per_binding: int = 0

    @cached_property
    def response_model(self) -> type[BaseModel]:
        """A score per criterion (an integer from 1 to its scale), then `reason`. The criteria are fields
        with their name as alias, so that no name clashes with an attribute of Pydantic's models."""
        scores: dict[str, Any] = {
            f"score_{i}": (int, Field(ge=1, le=c.scale, alias=c.name, description=c.description))
            for i, c in enumerate(self.rubric)
        }
        reason = (str, Field(description="a short reason for the scores, one or two sentences"))
        return create_model("JudgeVerdict", **scores, reason=reason)

    @cached_property
    def instructions(self) -> str:
        criteria = "\n".join(f"- {c.name} (1-{c.scale}): {c.description}" for c in self.rubric)
        return JUDGE_PROMPT.replace("{kind}", self.kind).replace("{criteria}", criteria)

    def ask(self, record: DatasetRow, origin: PromptRequest, *, truncated: bool) -> Ask:
        """The judge's ask for one record of the chain that started at `origin`."""
        request = REQUEST_PART.replace("{request}", str(origin.prompt)) if self.sees_request else ""
        text = self.instructions + request + RECORD_PART.replace("{record}", self.view(record))
        prompt = Prompt(text, fixed=len(self.instructions))  # the part a provider's prompt cache can reuse
        state = PendingRecord(record, truncated)
        return Ask(STEP, [{"role": "user", "content": prompt}], self.response_model, origin, role=ROLE, state=state)

    @staticmethod
    def owns(ask: Ask) -> bool:
        """Whether `ask` is a judge's (its answer is a verdict, not the dataset type's)."""
        return isinstance(ask.state, PendingRecord)

    def judged(self, ask: Ask, verdict: Any) -> DatasetRow:
        """The record of a judge ask with the verdict on it."""
        assert isinstance(ask.state, PendingRecord)
        scores = {c.name: int(getattr(verdict, f"score_{i}")) for i, c in enumerate(self.rubric)}
        reason = str(verdict.reason).strip()
        return ask.state.record.model_copy(update={"judge_scores": scores, "judge_reason": reason})

    def flaw(self, record: DatasetRow) -> str | None:
        """`judge` when the record's scores are under the threshold (a record not judged yet has none)."""
        scores = record.judge_scores
        if scores is None:
            return None
        return JUDGE if any(scores.get(c.name, 0) < self.threshold for c in self.rubric) else None

    def view(self, record: DatasetRow) -> str:
        """What the judge reads of a record: its `fields`, one `name: value` each (a conversation one
        message a line)."""
        data = record.model_dump(mode="json", include=set(self.fields))
        return "\n".join(f"{name}: {_as_text(data[name])}" for name in self.fields if name in data)

    def prompt_chars(self, record_chars: int) -> int:
        """Characters of a judge request for a record of `record_chars` characters, for `plan`."""
        return len(self.instructions) + len(RECORD_PART) + record_chars

    @property
    def answer_tokens(self) -> int:
        return TOKENS_PER_CRITERION * len(self.rubric) + REASON_TOKENS


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return "".join(f"\n  {m.get('role', '?')}: {m['content']}" for m in value)
    return json.dumps(value, ensure_ascii=False)


def keep_rules(validators: Sequence[Any], judge: RecordJudge | None) -> dict[str, Any]:
    """What decides which records are kept besides the cleaning rules (the validators and the judge's
    threshold), for the run store's note of the rules the output was written with: empty without them, so
    that a run without them notes what it did before they existed."""
    rules: dict[str, Any] = {}
    if validators:
        rules["validators"] = [v.model_dump(mode="json") for v in validators]
    if judge is not None:
        rules["judge_threshold"] = judge.threshold
    return rules
