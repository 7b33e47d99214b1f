"""Dataset types: each says what to ask and how an answer becomes records."""

from datafast.datasets.base import DatasetBase, FailedRequest
from datafast.datasets.classification import ClassificationDataset
from datafast.datasets.raw import RawDataset

# The original Datafast's names for the same types.
TextClassificationDataset = ClassificationDataset
TextDataset = RawDataset

__all__ = [
    "ClassificationDataset",
    "DatasetBase",
    "FailedRequest",
    "RawDataset",
    "TextClassificationDataset",
    "TextDataset",
]
