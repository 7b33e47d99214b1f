"""Preference pairs (DPO): questions from source documents, optionally made harder (evol-instruct), a
chosen and a rejected response from the LLMs the user names, and optional LLM-as-judge scores."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, Field

from datafast.datasets.base import Ask, DatasetBase, LLMs, MandatoryCombination, Outcome, PromptRequest
from datafast.datasets.chains import branch, clean, entries_model, numbered, render, text_model
from datafast.datasets.registry import register
from datafast.errors import ConfigError
from datafast.llms.base import LLMProvider
from datafast.outputs.card import HubCard
from datafast.schema.base_config import DatasetConfig
from datafast.schema.config import PreferenceDatasetConfig
from datafast.schema.data_rows import PreferenceRow
from datafast.schema.judging import JudgeCriterion

# Each step's instructions first, then the document, the language, and the question (and response) last: every
# request of a step shares the instructions, and those of one document share it too, as a prefix that a
# provider's prompt cache can reuse. (A small model answers best with the question in the last line.)
EVOLUTION_PROMPT = (
    "Rewrite the question at the end into a harder version that still can be answered from the source "
    "document below: require reasoning over several of its facts, add a realistic constraint or a concrete "
    "scenario, or ask for a comparison or a justification. Keep it one clear, self-contained question that "
    "never mentions 'the document'. Give only the new question.\n\n"
    "Source document:\n<document>\n{document}\n</document>\n\n"
    "Write the harder question in {language_name}.\n\n"
    "Question: {question}"
)
CHOSEN_PROMPT = (
    "Answer the user's question at the end as an expert assistant would: correct, complete and well "
    "organised, explaining the why as well as the what, precise where the reference material below is precise "
    "and honest where it is silent. Use that material to answer, but do not mention that you were given it.\n\n"
    "Reference material:\n<document>\n{document}\n</document>\n\n"
    "Answer in {language_name}.\n\n"
    "Question: {question}"
)
REJECTED_PROMPT = (
    "Write a plausible but clearly weaker answer to the question at the end, of the kind a hurried or poorly "
    "informed assistant gives: vague or generic, missing key points, with a small factual slip or an "
    "unsupported claim, or not quite answering what was asked. It must read naturally: no caricature, and no "
    "hint that it is deliberately worse.\n\n"
    "Reference material:\n<document>\n{document}\n</document>\n\n"
    "Write the weaker answer in {language_name}.\n\n"
    "Question: {question}"
)
JUDGE_PROMPT = (
    "Score the response at the end from 1 (useless or wrong) to 10 (excellent) for correctness against the "
    "reference material below, completeness, clarity and helpfulness to the person asking the question. Put "
    "the score in 'score' and a short reason (one or two sentences) in 'assessment'.\n\n"
    "Reference material:\n<document>\n{document}\n</document>\n\n"
    "Question: {question}\n\n"
    "Response to evaluate:\n<response>\n{response}\n</response>\n\n"
    "Write the reason in {language_name}."
)

# Keyword of `generate` for each role, as in the original Datafast.
ROLE_KEYWORDS: dict[str, str] = {
    "question": "question_gen_llm",
    "chosen": "chosen_response_gen_llm",
    "rejected": "rejected_response_gen_llm",
    "evolution": "evolution_llm",
    "judge": "judge_llm",
}


class JudgeVerdict(BaseModel):
    """The judge's score of one response and why."""

    score: int = Field(ge=1, le=10, description="1 (useless or wrong) to 10 (excellent)")
    assessment: str = Field(description="a short reason for the score")


@dataclass(frozen=True)
class Pair:
    """A preference pair in progress, rebuilt from its answers alone."""

    question: str
    question_model_id: str
    original_question: str | None = None
    chosen: str | None = None
    chosen_model_id: str | None = None
    rejected: str | None = None
    rejected_model_id: str | None = None
    chosen_verdict: tuple[int, str] | None = None
    judge_model_id: str | None = None


@register
class PreferenceDataset(DatasetBase):
    """Generates `PreferenceRow`s: `num_samples_per_prompt` questions per document × language × prompt ×
    optional-placeholder combination, each with a chosen and a rejected response (and judge scores with
    `llm_as_judge`). `generate(question_gen_llm=..., chosen_response_gen_llm=...,
    rejected_response_gen_llm=..., judge_llm=..., evolution_llm=...)` names the LLM of each role; with
    `evol_instruct`, the questions are made harder by `evolution_llm`, else by the question LLM."""

    config_class: ClassVar[type[PreferenceDatasetConfig]] = PreferenceDatasetConfig
    record_class: ClassVar[type[PreferenceRow]] = PreferenceRow
    step_name: ClassVar[str] = "questions"
    roles: ClassVar[tuple[str, ...]] = ("question", "chosen", "rejected", "evolution", "judge")
    role_keywords: ClassVar[dict[str, str]] = ROLE_KEYWORDS
    output_tokens_per_request: ClassVar[int | None] = 250
    hub_card: ClassVar[HubCard] = HubCard("preference (DPO)")
    # The record judge scores the pair as a whole; `llm_as_judge` scores each response (and may swap them).
    judge_rubric: ClassVar[tuple[JudgeCriterion, ...]] = (
        JudgeCriterion(
            name="clear_question", description="The question is clear, stands on its own and is answerable."
        ),
        JudgeCriterion(
            name="chosen_better",
            description="The chosen response is correct and helpful, and clearly better than the rejected one.",
        ),
    )
    judge_fields: ClassVar[tuple[str, ...] | None] = ("question", "chosen_response", "rejected_response")
    config: PreferenceDatasetConfig

    def documents(self) -> list[tuple[str, str]]:
        """(document id, text) of every source document: its `id` column when the source has one, else
        its index in the source."""
        return self._documents

    @cached_property
    def _documents(self) -> list[tuple[str, str]]:
        # Read once, when first needed (counting or generating), so a bad source is reported before anything
        # is sent; building the dataset reads nothing, as in 0.0.36.
        from datafast.sources import load_source_rows

        c = self.config
        rows = load_source_rows(
            hf_dataset_name=c.hf_dataset_name,
            hf_dataset_subset=c.hf_dataset_subset,
            hf_dataset_split=c.hf_dataset_split,
            local_file_path=c.local_file_path,
            input_rows=c.input_documents,
            text_column=c.text_column,
            sample_count=c.sample_count,
            min_document_length=c.min_document_length,
            max_document_length=c.max_document_length,
        )
        return [(row.document_id, row.text(c.text_column).strip()) for row in rows]

    def mandatory_combinations(self) -> list[MandatoryCombination]:
        return [
            MandatoryCombination(
                placeholders={
                    "num_samples": str(self.config.num_samples_per_prompt),
                    "document": text,
                    **self.language_placeholders(code),
                },
                language=code,
                fields={"document_id": document_id, "document": text},
            )
            for document_id, text in self.documents()
            for code in self.config.languages
        ]

    def prompt_requests(self) -> Iterator[PromptRequest]:
        return numbered(super().prompt_requests())

    # -- roles -----------------------------------------------------------------------------------------

    def required_roles(self) -> tuple[str, ...]:
        return ("question", "chosen", "rejected", "judge") if self.config.llm_as_judge else self.roles[:3]

    def num_requests_by_role(self, binding: Mapping[str, LLMProvider] | None = None) -> dict[str, int]:
        """Requests each role makes in a complete run. The evolution of questions (`evol_instruct`) counts as
        the question LLM's, unless `binding` gives it an LLM of its own."""
        prompts = self.num_requests_per_provider()
        questions = prompts * self.config.num_samples_per_prompt
        evolved = questions if self.config.evol_instruct else 0
        own_evolution = binding is not None and binding.get("evolution") not in (None, binding.get("question"))
        counts = {
            "question": prompts + (0 if own_evolution else evolved),
            "chosen": questions,
            "rejected": questions,
        }
        if own_evolution:
            counts["evolution"] = evolved
        if self.config.llm_as_judge:
            counts["judge"] = 2 * questions
        return counts

    def bindings(self, llms: LLMs) -> list[dict[str, LLMProvider]]:
        """The one role → provider map of a run, from a mapping such as `{"question": OpenAIProvider(),
        "chosen": ..., "rejected": ..., "judge": ...}`. Raises ConfigError for a missing or unknown role."""
        if not isinstance(llms, Mapping):
            raise ConfigError(
                "PreferenceDataset needs one LLM per role: generate(question_gen_llm=..., "
                "chosen_response_gen_llm=..., rejected_response_gen_llm=..."
                + (", judge_llm=...)" if self.config.llm_as_judge else ")")
            )
        binding = {role: provider for role, provider in llms.items() if provider is not None}
        for role, provider in binding.items():
            if role not in self.roles:
                raise ConfigError(f"preference has no role {role!r}; its roles are: {', '.join(self.roles)}")
            if not isinstance(provider, LLMProvider):
                raise ConfigError(
                    f"{ROLE_KEYWORDS[role]} is a {type(provider).__name__}, not an LLM provider "
                    "such as OpenAIProvider()"
                )
        if "judge" in binding and not self.config.llm_as_judge and self.config.judge is None:
            raise ConfigError(
                "judge_llm is given but llm_as_judge is false and there is no judge:: set llm_as_judge: true to "
                "score the responses, or give a judge: to judge the pairs"
            )
        if "evolution" in binding and not self.config.evol_instruct:
            raise ConfigError(
                "evolution_llm is given but evol_instruct is false: set evol_instruct: true to make the questions "
                "harder"
            )
        missing = [role for role in self.required_roles() if role not in binding]
        if missing:
            why = " (llm_as_judge is true)" if missing[0] == "judge" else ""
            raise ConfigError(f"no LLM for the role {missing[0]!r}{why}: give {ROLE_KEYWORDS[missing[0]]}=...")
        if self.config.evol_instruct:
            binding.setdefault("evolution", binding["question"])
        return [binding]

    def generate(  # type: ignore[override]
        self,
        question_gen_llm: LLMProvider | Mapping[str, LLMProvider] | None = None,
        chosen_response_gen_llm: LLMProvider | None = None,
        rejected_response_gen_llm: LLMProvider | None = None,
        judge_llm: LLMProvider | None = None,
        *,
        evolution_llm: LLMProvider | None = None,
        **options: Any,
    ) -> Self:
        """Generate the pairs: questions by `question_gen_llm`, made harder with `evol_instruct` by
        `evolution_llm` (else by `question_gen_llm`), chosen responses by `chosen_response_gen_llm`, rejected
        ones by `rejected_response_gen_llm`, scores by `judge_llm` (required with `llm_as_judge`): the original
        Datafast's keywords for `DatasetBase.generate` with a role → provider mapping, which may also be
        given as the first argument (`{"question": ..., "chosen": ..., "rejected": ..., "judge": ...}`).
        The options are every dataset's (`show_progress`, `retry`, `max_cost`, `overwrite`)."""
        roles = self._roles(
            question_gen_llm, chosen_response_gen_llm, rejected_response_gen_llm, judge_llm, evolution_llm
        )
        return super().generate(roles, **options)

    async def agenerate(  # type: ignore[override]
        self,
        question_gen_llm: LLMProvider | Mapping[str, LLMProvider] | None = None,
        chosen_response_gen_llm: LLMProvider | None = None,
        rejected_response_gen_llm: LLMProvider | None = None,
        judge_llm: LLMProvider | None = None,
        *,
        evolution_llm: LLMProvider | None = None,
        **options: Any,
    ) -> Self:
        """`generate` for callers already inside an event loop."""
        roles = self._roles(
            question_gen_llm, chosen_response_gen_llm, rejected_response_gen_llm, judge_llm, evolution_llm
        )
        return await super().agenerate(roles, **options)

    @staticmethod
    def _roles(
        question: LLMProvider | Mapping[str, LLMProvider] | None, *others: LLMProvider | None
    ) -> Mapping[str, LLMProvider | None]:
        if isinstance(question, Mapping):
            if any(other is not None for other in others):
                raise ConfigError("give the LLMs either as a role → provider mapping or as keywords, not both")
            return question
        return dict(zip(("question", "chosen", "rejected", "judge", "evolution"), (question, *others), strict=True))

    # -- the chain -------------------------------------------------------------------------------------

    def first_asks(self) -> Iterator[Ask]:
        n = self.config.num_samples_per_prompt
        model = entries_model("Questions", n, "questions")
        for request in self.prompt_requests():
            yield Ask("questions", [{"role": "user", "content": request.prompt}], model, request, role="question")

    def on_answer(self, ask: Ask, answer: Any, model_id: str) -> Outcome:
        origin, pair = ask.origin, ask.state
        if ask.step == "questions":
            questions = [clean(q, "question", self.cleaning()) for q in answer.entries]
            n = self.config.num_samples_per_prompt
            if len(questions) != n:
                raise ValueError(f"expected {n} questions, got {len(questions)}")
            asks = []
            for i, question in enumerate(questions):
                start = Pair(question, model_id)
                chain = branch(origin, i, n)
                asks.append(self._evolve(chain, start) if self.config.evol_instruct else self._respond(chain, start))
            return Outcome(then=asks)
        assert isinstance(pair, Pair)
        if ask.step == "evolve":
            harder = clean(answer.question, "evolved question", self.cleaning())
            return Outcome(then=[self._respond(origin, replace(pair, question=harder, question_model_id=model_id))])
        if ask.step == "chosen":
            chosen = clean(answer.response, "chosen response", self.cleaning())
            pair = replace(pair, chosen=chosen, chosen_model_id=model_id)
            return Outcome(then=[self._respond(origin, pair)])
        if ask.step == "rejected":
            rejected = clean(answer.response, "rejected response", self.cleaning())
            pair = replace(pair, rejected=rejected, rejected_model_id=model_id)
            if self.config.llm_as_judge:
                return Outcome(then=[self._judge(origin, pair, "chosen")])
            return Outcome(records=[self._record(origin, pair)])
        verdict = (answer.score, answer.assessment.strip())
        if ask.step == "judge_chosen":
            return Outcome(
                then=[self._judge(origin, replace(pair, chosen_verdict=verdict, judge_model_id=model_id), "rejected")]
            )
        return Outcome(records=[self._record(origin, pair, verdict)])

    def _values(self, origin: PromptRequest, pair: Pair) -> dict[str, str]:
        return {
            "document": origin.fields["document"],
            "question": pair.question,
            **self.language_placeholders(origin.language),
        }

    def _evolve(self, origin: PromptRequest, pair: Pair) -> Ask:
        prompt = render(self.config.evolution_prompt or EVOLUTION_PROMPT, self._values(origin, pair))
        model = text_model("EvolvedQuestion", "question", "the harder question")
        state = replace(pair, original_question=pair.question)
        return Ask("evolve", [{"role": "user", "content": prompt}], model, origin, role="evolution", state=state)

    def _respond(self, origin: PromptRequest, pair: Pair) -> Ask:
        """The chosen response's ask, or the rejected one's once the chosen response is in."""
        side = "chosen" if pair.chosen is None else "rejected"
        if side == "chosen":
            template = self.config.chosen_response_generation_prompt or CHOSEN_PROMPT
        else:
            template = self.config.rejected_response_generation_prompt or REJECTED_PROMPT
        prompt = render(template, self._values(origin, pair))
        model = text_model("Response", "response", "the response to the question")
        return Ask(side, [{"role": "user", "content": prompt}], model, origin, role=side, state=pair)

    def _judge(self, origin: PromptRequest, pair: Pair, side: str) -> Ask:
        response = pair.chosen if side == "chosen" else pair.rejected
        assert response is not None
        prompt = render(self.config.judge_prompt or JUDGE_PROMPT, {**self._values(origin, pair), "response": response})
        return Ask(
            f"judge_{side}", [{"role": "user", "content": prompt}], JudgeVerdict, origin, role="judge", state=pair
        )

    def _record(
        self, origin: PromptRequest, pair: Pair, rejected_verdict: tuple[int, str] | None = None
    ) -> dict[str, Any]:
        chosen = (pair.chosen, pair.chosen_model_id, pair.chosen_verdict)
        rejected = (pair.rejected, pair.rejected_model_id, rejected_verdict)
        swapped = bool(pair.chosen_verdict and rejected_verdict and rejected_verdict[0] > pair.chosen_verdict[0])
        if swapped:  # the judge prefers the "rejected" response: the pair must say so
            chosen, rejected = rejected, chosen
        record: dict[str, Any] = {
            "input_document": origin.fields["document"],
            "document_id": origin.fields["document_id"],
            "question": pair.question,
            "original_question": pair.original_question,
            "chosen_response": chosen[0],
            "rejected_response": rejected[0],
            "question_model_id": pair.question_model_id,
            "chosen_model_id": chosen[1],
            "rejected_model_id": rejected[1],
            "model_id": chosen[1],
            "swapped_by_judge": swapped,
        }
        if chosen[2] and rejected[2]:
            record |= {
                "judge_model_id": pair.judge_model_id,
                "chosen_response_score": chosen[2][0],
                "chosen_response_assessment": chosen[2][1],
                "rejected_response_score": rejected[2][0],
                "rejected_response_assessment": rejected[2][1],
            }
        return record

    def reasoning_step(self, record: Mapping[str, Any]) -> str | None:
        """The step that wrote the chosen response: the rejected side's when the judge swapped them."""
        return "rejected" if record.get("swapped_by_judge") else "chosen"

    @classmethod
    def quality_fields_of(cls, config: DatasetConfig | None) -> tuple[str, ...]:
        """A duplicate question is a duplicate pair, whatever its responses."""
        return ("question",)

    # -- counts ----------------------------------------------------------------------------------------

    def num_requests(self) -> int:
        return sum(self.num_requests_by_role().values())

    def get_num_expected_rows(self, llms: LLMs = None) -> int:
        """One pair per question: documents × languages × prompts × num_samples_per_prompt."""
        return self.num_requests_per_provider() * self.config.num_samples_per_prompt

    # -- export ----------------------------------------------------------------------------------------

    def to_dpo_records(self, conversational: bool = True) -> list[dict[str, Any]]:
        """The pairs in the `prompt`/`chosen`/`rejected` shape TRL's DPOTrainer reads: conversational
        (lists of role/content messages) or standard (plain strings)."""
        return [row.to_dpo_record(conversational) for row in self.data_rows]  # type: ignore[attr-defined]

    def to_dpo_jsonl(self, filepath: str | Path, conversational: bool = True) -> int:
        """Write `to_dpo_records()` as JSONL (load it with `datasets.load_dataset("json", ...)` for
        `DPOTrainer`); returns the number of pairs written."""
        records = self.to_dpo_records(conversational)
        path = Path(filepath)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        tmp.replace(path)
        return len(records)
