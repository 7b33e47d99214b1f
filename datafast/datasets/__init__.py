"""Dataset types: each says what to ask and how an answer becomes records.

Datafast 0.0.36's names are kept: `TextClassificationDataset` and `TextDataset` (its names for the
classification and raw text types), its answer models (`TextEntries`, `UserQuestions`, `Answer`,
`JudgeLLMOutput`, ...; datafast's own runs ask with models made for each config, which say how many items an
answer must hold) and, as 0.0.36's module had them, the record models and their source enums."""

from pydantic import BaseModel, Field

from datafast.datasets.base import DatasetBase, FailedRequest
from datafast.datasets.classification import ClassificationDataset
from datafast.datasets.generic_pipeline import GenericPipelineDataset
from datafast.datasets.mcq import MCQDataset
from datafast.datasets.preference import JudgeVerdict, PreferenceDataset
from datafast.datasets.raw import RawDataset
from datafast.datasets.ultrachat import UltrachatDataset
from datafast.schema.data_rows import (
    ChatRow,
    GenericPipelineRow,
    GenericPipelineSource,
    LabelSource,
    MCQRow,
    MCQSource,
    PreferenceRow,
    PreferenceSource,
    TextClassificationRow,
    TextRow,
    TextSource,
)

# The original Datafast's names for the same types.
TextClassificationDataset = ClassificationDataset
TextDataset = RawDataset

# -- Datafast 0.0.36's answer models --------------------------------------------------------------------


class Example(BaseModel):
    """One generated text."""

    text: str = Field(description="the generated text")


class TextExamples(BaseModel):
    """Several generated texts, each an `Example`."""

    list_of_text_examples: list[Example] = Field(description="the generated texts")


class TextEntries(BaseModel):
    """Several generated texts."""

    entries: list[str] = Field(description="the generated texts")


class QAEntry(BaseModel):
    """A question and its answer."""

    question: str = Field(description="the question")
    answer: str = Field(description="its answer")


class QAEntries(BaseModel):
    """Several questions with their answers."""

    entries: list[QAEntry] = Field(description="the questions and their answers")


class UserQuestions(BaseModel):
    """Questions a user might ask."""

    questions: list[str] = Field(description="the questions")


class ReformulatedUserQuestion(BaseModel):
    """A question reworded (in a persona's voice, or as a follow-up)."""

    question: str = Field(description="the reworded question")


class Answer(BaseModel):
    """An answer to a user's question."""

    answer: str = Field(description="the answer")


class EvolveInstructOutput(BaseModel):
    """A question made harder, with its answer."""

    improved_question: str = Field(description="the harder question")
    improved_answer: str = Field(description="its answer")


# A judge's verdict on one response: `score` (1-10) and `assessment`, as datafast's preference judge asks it.
JudgeLLMOutput = JudgeVerdict

__all__ = [
    "Answer",
    "ChatRow",
    "ClassificationDataset",
    "DatasetBase",
    "EvolveInstructOutput",
    "Example",
    "FailedRequest",
    "GenericPipelineDataset",
    "GenericPipelineRow",
    "GenericPipelineSource",
    "JudgeLLMOutput",
    "LabelSource",
    "MCQDataset",
    "MCQRow",
    "MCQSource",
    "PreferenceDataset",
    "PreferenceRow",
    "PreferenceSource",
    "QAEntries",
    "QAEntry",
    "RawDataset",
    "ReformulatedUserQuestion",
    "TextClassificationDataset",
    "TextClassificationRow",
    "TextDataset",
    "TextEntries",
    "TextExamples",
    "TextRow",
    "TextSource",
    "UltrachatDataset",
    "UserQuestions",
]
