"""Which dataset type runs a given config."""

from __future__ import annotations

from datafast.datasets.base import DatasetBase
from datafast.datasets.classification import ClassificationDataset
from datafast.datasets.generic_pipeline import GenericPipelineDataset
from datafast.datasets.mcq import MCQDataset
from datafast.datasets.preference import PreferenceDataset
from datafast.datasets.raw import RawDataset
from datafast.datasets.ultrachat import UltrachatDataset
from datafast.schema.config import DatasetConfig

DATASET_TYPES: dict[str, type[DatasetBase]] = {
    cls.config_class.model_fields["dataset_type"].default: cls
    for cls in (
        ClassificationDataset,
        RawDataset,
        UltrachatDataset,
        PreferenceDataset,
        MCQDataset,
        GenericPipelineDataset,
    )
}


def dataset_for(config: DatasetConfig) -> DatasetBase:
    return DATASET_TYPES[config.dataset_type](config)  # type: ignore[attr-defined]
