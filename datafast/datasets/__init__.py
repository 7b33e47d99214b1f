"""Dataset types: each says what to ask and how an answer becomes records."""

from datafast.datasets.base import DatasetBase, FailedRequest
from datafast.datasets.classification import ClassificationDataset
from datafast.datasets.generic_pipeline import GenericPipelineDataset
from datafast.datasets.mcq import MCQDataset
from datafast.datasets.preference import PreferenceDataset
from datafast.datasets.raw import RawDataset
from datafast.datasets.ultrachat import UltrachatDataset

# The original Datafast's names for the same types.
TextClassificationDataset = ClassificationDataset
TextDataset = RawDataset

__all__ = [
    "ClassificationDataset",
    "DatasetBase",
    "FailedRequest",
    "GenericPipelineDataset",
    "MCQDataset",
    "PreferenceDataset",
    "RawDataset",
    "TextClassificationDataset",
    "TextDataset",
    "UltrachatDataset",
]
