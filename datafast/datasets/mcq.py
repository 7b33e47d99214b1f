"""Multiple-choice questions from source documents: questions with their correct answer from each document,
then three plausible incorrect answers for each question."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any, ClassVar

from pydantic import BaseModel, Field, create_model

from datafast.datasets.base import Ask, DatasetBase, LLMs, MandatoryCombination, Outcome, PromptRequest
from datafast.datasets.chains import branch, clean, numbered, render
from datafast.datasets.registry import register
from datafast.errors import ConfigError
from datafast.outputs.card import HubCard
from datafast.schema.base_config import DatasetConfig
from datafast.schema.config import MCQDatasetConfig
from datafast.schema.data_rows import MCQRow
from datafast.schema.judging import JudgeCriterion
from datafast.sources import SourceRow, load_config_rows

log = logging.getLogger("datafast")

# Instructions first, then the document (shared by its questions' requests), the question and the language last,
# so that requests share the longest prefix a provider's prompt cache can reuse.
DISTRACTOR_PROMPT = (
    "Write three incorrect answers for the multiple-choice question at the end, which is about the source "
    "document below. Each must be clearly wrong to someone who knows the document, yet plausible to someone "
    "who does not: the same kind of thing as the correct answer (a date for a date, a name for a name), of "
    "similar length and style, and ideally a common misconception or something the document mentions in "
    "another role. They must differ from the correct answer and from one another, and none may be 'all of the "
    "above' or 'none of the above'.\n\n"
    "Source document:\n<document>\n{document}\n</document>\n\n"
    "The question about this document and its correct answer:\n"
    "Question: {question}\nCorrect answer: {correct_answer}\n\n"
    "Write the three incorrect answers in {language_name}."
)


class QuestionAnswer(BaseModel):
    """A question and its correct answer."""

    question: str = Field(description="the question, understandable without the document")
    correct_answer: str = Field(description="its one correct answer, short")


class IncorrectAnswers(BaseModel):
    """Three plausible incorrect answers to one question."""

    incorrect_answer_1: str = Field(description="a plausible but incorrect answer")
    incorrect_answer_2: str = Field(description="another plausible but incorrect answer")
    incorrect_answer_3: str = Field(description="a third plausible but incorrect answer")


def questions_model(n: int) -> type[BaseModel]:
    """`{"questions": [{"question", "correct_answer"}, ...]}` with exactly `n` items."""
    return create_model(
        "Questions",
        questions=(
            list[QuestionAnswer],
            Field(min_length=n, max_length=n, description=f"exactly {n} questions with their correct answer"),
        ),
    )


def distinct_answers(correct: str, incorrect: list[str]) -> list[str]:
    """The incorrect answers, stripped; ValueError if one is empty, repeats the correct answer or another
    incorrect one (ignoring case)."""
    cleaned = [clean(a, "incorrect answer") for a in incorrect]
    seen = {correct.strip().casefold(): "the correct answer"}
    for i, answer in enumerate(cleaned, 1):
        key = answer.casefold()
        if key in seen:
            raise ValueError(f"incorrect answer {i} ({answer!r}) repeats {seen[key]}")
        seen[key] = f"incorrect answer {i}"
    return cleaned


@register
class MCQDataset(DatasetBase):
    """Generates `MCQRow`s: for every source document × language × prompt × optional-placeholder
    combination and every provider, `num_samples_per_prompt` questions, each with its correct answer and
    three incorrect ones from a second request. The documents are read (and checked) when first needed
    (`rows`: counting or generating), so a bad source fails before anything is sent; building the dataset
    reads nothing, as in 0.0.36, whose scripts build one over a file they never use."""

    config_class: ClassVar[type[MCQDatasetConfig]] = MCQDatasetConfig
    record_class: ClassVar[type[MCQRow]] = MCQRow
    output_tokens_per_request: ClassVar[int | None] = 150
    hub_card: ClassVar[HubCard] = HubCard("multiple-choice question", ("question-answering",), ("multiple-choice-qa",))
    judge_rubric: ClassVar[tuple[JudgeCriterion, ...]] = (
        JudgeCriterion(
            name="answerable",
            description="The question is clear, stands on its own and can be answered from the source document.",
        ),
        JudgeCriterion(
            name="one_correct",
            description="Exactly one answer is right: the correct answer is, and each incorrect one is wrong but "
            "plausible.",
        ),
    )
    judge_fields: ClassVar[tuple[str, ...] | None] = (
        "source_document",
        "question",
        "correct_answer",
        "incorrect_answer_1",
        "incorrect_answer_2",
        "incorrect_answer_3",
    )
    step_name: ClassVar[str] = "questions"
    config: MCQDatasetConfig

    @cached_property
    def rows(self) -> list[SourceRow]:
        """The source documents, read and checked on first use."""
        config = self.config
        columns = {config.context_column: "context_column"} if config.context_column else {}
        return load_config_rows(
            config,
            text_column=config.text_column,
            columns=columns,
            min_document_length=config.min_document_length,
            max_document_length=config.max_document_length,
        )

    def mandatory_combinations(self) -> list[MandatoryCombination]:
        combos = []
        for row in self.rows:
            text = row.text(self.config.text_column).strip()
            values = {"document": text, "text": text}
            fields = {"document_id": row.document_id, "document": text}
            if self.config.context_column:
                values["context"] = fields["context"] = row.text(self.config.context_column).strip()
            for code in self.config.languages:
                combos.append(
                    MandatoryCombination(
                        placeholders={
                            "num_samples": str(self.config.num_samples_per_prompt),
                            **values,
                            **self.language_placeholders(code),
                        },
                        language=code,
                        fields=fields,
                    )
                )
        return combos

    def prompt_requests(self) -> Iterator[PromptRequest]:
        return numbered(super().prompt_requests())

    # -- the chain -------------------------------------------------------------------------------------

    def first_asks(self) -> Iterator[Ask]:
        model = questions_model(self.config.num_samples_per_prompt)
        for request in self.prompt_requests():
            yield Ask("questions", [{"role": "user", "content": request.prompt}], model, request)

    def on_answer(self, ask: Ask, answer: Any, model_id: str) -> Outcome:
        origin = ask.origin
        if ask.step == "questions":
            n = self.config.num_samples_per_prompt
            pairs = [
                (clean(p.question, "question"), clean(p.correct_answer, "correct answer")) for p in answer.questions
            ]
            if len(pairs) != n:
                raise ValueError(f"expected {n} questions, got {len(pairs)}")
            return Outcome(then=[self._distractors(branch(origin, i, n), q, a) for i, (q, a) in enumerate(pairs)])
        question, correct = ask.state
        incorrect = distinct_answers(
            correct, [answer.incorrect_answer_1, answer.incorrect_answer_2, answer.incorrect_answer_3]
        )
        record = {
            "source_document": origin.fields["document"],
            "document_id": origin.fields["document_id"],
            "context": origin.fields.get("context"),
            "question": question,
            "correct_answer": correct,
            **{f"incorrect_answer_{i}": text for i, text in enumerate(incorrect, 1)},
        }
        return Outcome(records=[record])

    def _distractors(self, origin: PromptRequest, question: str, correct: str) -> Ask:
        values = {
            "question": question,
            "correct_answer": correct,
            "document": origin.fields["document"],
            "text": origin.fields["document"],
            "context": origin.fields.get("context", ""),
            **self.language_placeholders(origin.language),
        }
        prompt = render(self.config.distractor_prompt or DISTRACTOR_PROMPT, values)
        return Ask(
            "distractors", [{"role": "user", "content": prompt}], IncorrectAnswers, origin, state=(question, correct)
        )

    def reasoning_step(self, record: Mapping[str, Any]) -> str | None:
        """The step that wrote the question and its correct answer, whose trace the other questions of that
        answer share (the incorrect answers are written after it)."""
        return "questions"

    @classmethod
    def quality_fields_of(cls, config: DatasetConfig | None) -> tuple[str, ...]:
        """A duplicate question is a duplicate record, whatever its answers."""
        return ("question",)

    # -- counts ----------------------------------------------------------------------------------------

    def num_requests(self) -> int:
        """One request per prompt for its questions, then one per question for its incorrect answers."""
        prompts = self.num_requests_per_provider()
        return prompts + prompts * self.config.num_samples_per_prompt

    def get_num_expected_rows(self, llms: LLMs = None, source_data_num_rows: int | None = None) -> int:
        """One record per question: documents × languages × prompts × num_samples × providers, exact: the
        documents are those read from the source (after the length filters and `sample_count`).
        `source_data_num_rows` is Datafast 0.0.36's argument for a count it could not know; it is checked
        against the documents found, and a difference is logged as a warning."""
        if source_data_num_rows is not None:
            if isinstance(source_data_num_rows, bool) or not isinstance(source_data_num_rows, int):
                raise ConfigError(f"source_data_num_rows must be a whole number, got {source_data_num_rows!r}")
            expected = min(source_data_num_rows, self.config.sample_count or source_data_num_rows)
            if expected != len(self.rows):
                log.warning(
                    "get_num_expected_rows: source_data_num_rows=%d, but %d documents of %s are used (after "
                    "sample_count and the length filters); counting those",
                    source_data_num_rows,
                    len(self.rows),
                    self.config.source_name(),
                )
        return self.num_requests_per_provider() * self.config.num_samples_per_prompt * len(self.bindings(llms))
