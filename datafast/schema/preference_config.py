"""The configuration of preference-pair (DPO) datasets."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from datafast.expansion import PromptTemplate
from datafast.schema.base_config import LANGUAGE_PLACEHOLDERS, DatasetConfig, check_prompt_list, check_step_prompts


class PreferenceDatasetConfig(DatasetConfig):
    """A preference (DPO) dataset from source documents.

    For every document × language (× prompt × optional-placeholder draw), one request writes
    `num_samples_per_prompt` questions about the document. Each question is optionally made harder
    (`evol_instruct`), then answered well by the chosen-response LLM and worse by the rejected-response
    LLM; with `llm_as_judge` the judge LLM scores both answers from 1 to 10 and, should it prefer the
    rejected one, the two are swapped. Documents come from `input_documents`, or from the `text_column` of
    a local file (`local_file_path`) or a Hugging Face dataset (`hf_dataset_name`), optionally filtered by
    length and cut to the first `sample_count`.
    """

    mandatory_placeholders: ClassVar[dict[str, str]] = {
        "num_samples": "the number of questions to write, num_samples_per_prompt",
        "document": "the source document",
        **LANGUAGE_PLACEHOLDERS,
    }
    required_placeholders: ClassVar[frozenset[str]] = frozenset({"num_samples", "document"})
    # Instructions first, what varies last (see MCQDatasetConfig.default_prompts).
    default_prompts: ClassVar[tuple[str, ...]] = (
        "Write different questions or instructions that a user could ask an AI assistant and that the document "
        "below answers. Vary them: facts to look up, explanations of why or how, a summary of one part, applying "
        "what it says to a concrete case. Each must be understandable without seeing the document (never write "
        "'the document' or 'the text'), and no two may ask the same thing.\n\n"
        "Document:\n<document>\n{document}\n</document>\n\n"
        "Write {num_samples} such questions or instructions in {language_name}.",
    )
    response_placeholders: ClassVar[dict[str, str]] = {
        "question": "the question to answer",
        "document": "the source document",
        **LANGUAGE_PLACEHOLDERS,
    }
    judge_placeholders: ClassVar[dict[str, str]] = {
        "response": "the response to score",
        **response_placeholders,
    }

    prompts_field: ClassVar[str] = "question_generation_prompts"

    dataset_type_aliases: ClassVar[tuple[str, ...]] = ("preference_dataset",)
    dataset_type: Literal["preference"] = "preference"
    input_documents: list[str] | None = None
    # Or documents from a file or a Hugging Face dataset (read with datafast.sources), one per row.
    local_file_path: str | None = Field(default=None, min_length=1)
    hf_dataset_name: str | None = Field(default=None, min_length=1)
    hf_dataset_subset: str | None = None
    hf_dataset_split: str = Field(default="train", min_length=1)
    text_column: str = Field(default="text", min_length=1)
    sample_count: int | None = Field(default=None, ge=1)
    min_document_length: int | None = Field(default=None, ge=1)
    max_document_length: int | None = Field(default=None, ge=1)
    num_samples_per_prompt: int = Field(default=3, ge=1, le=100)
    question_generation_prompts: list[str] | None = None
    chosen_response_generation_prompt: str | None = None
    rejected_response_generation_prompt: str | None = None
    evol_instruct: bool = False
    evolution_prompt: str | None = None
    llm_as_judge: bool = False
    judge_prompt: str | None = None
    output_file: str = Field(default="preference.jsonl", min_length=1)

    @field_validator("question_generation_prompts")
    @classmethod
    def _check_question_prompts(cls, prompts: list[str] | None) -> list[str] | None:
        return check_prompt_list(prompts, "question_generation_prompts")

    @field_validator("input_documents")
    @classmethod
    def _check_documents(cls, documents: list[str] | None) -> list[str] | None:
        if documents is not None:
            if not documents:
                raise ValueError("input_documents is empty: give at least one document")
            for i, document in enumerate(documents):
                if not document.strip():
                    raise ValueError(f"input_documents[{i}] is empty")
        return documents

    @model_validator(mode="after")
    def _check_preference(self) -> Self:
        if self.prompts is not None:
            raise ValueError("preference takes its question prompts in question_generation_prompts, not prompts")
        sources = [n for n in ("input_documents", "local_file_path", "hf_dataset_name") if getattr(self, n) is not None]
        if not sources:
            raise ValueError(
                "no documents: give input_documents (a list of texts), local_file_path (.jsonl, .json, .csv, .parquet "
                "or .txt, with text_column) or hf_dataset_name (a Hugging Face dataset or a save_to_disk folder)"
            )
        if len(sources) > 1:
            raise ValueError(f"give only one source of documents, not {' and '.join(sources)}")
        if (self.min_document_length or 0) > (self.max_document_length or float("inf")):
            raise ValueError("min_document_length is above max_document_length")
        if self.evolution_prompt is not None and "{answer}" in self.evolution_prompt:
            raise ValueError(
                "evolution_prompt uses {answer}, but questions are evolved before they are answered; "
                f"allowed: {', '.join('{' + n + '}' for n in self.response_placeholders)}"
            )
        check_step_prompts(
            self,
            {
                "chosen_response_generation_prompt": (self.response_placeholders, frozenset({"question"})),
                "rejected_response_generation_prompt": (self.response_placeholders, frozenset({"question"})),
                "evolution_prompt": (self.response_placeholders, frozenset({"question"})),
                "judge_prompt": (self.judge_placeholders, frozenset({"question", "response"})),
            },
        )
        if self.evolution_prompt is not None and not self.evol_instruct:
            raise ValueError("evolution_prompt is set but evol_instruct is false: set evol_instruct: true to use it")
        if self.judge_prompt is not None and not self.llm_as_judge:
            raise ValueError("judge_prompt is set but llm_as_judge is false: set llm_as_judge: true to use it")
        return self

    def templates(self) -> list[PromptTemplate]:
        return [PromptTemplate.parse(p) for p in (self.question_generation_prompts or self.default_prompts)]
