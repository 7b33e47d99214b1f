"""Datafast 0.0.36's inspectors (`inspect_classification_dataset(dataset)`, ...), over datafast's viewer.

0.0.36 opened a Gradio app per dataset type; datafast writes one self-contained HTML page of the dataset's
output file (its records, dropped records, summary and report) to the run folder and opens it in the browser
(`datafast.outputs.viewer.inspect_dataset`). Every function here does that for its dataset and returns the
page's path. The page has its own filters and sorting; `random` is accepted for 0.0.36's scripts and has no
effect on the page. A dataset whose output file does not exist yet but whose `data_rows` were set by hand
(as 0.0.36's examples did) is shown from those rows, written to a temporary folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datafast.datasets import (
        ClassificationDataset,
        GenericPipelineDataset,
        MCQDataset,
        PreferenceDataset,
        RawDataset,
        UltrachatDataset,
    )


def inspect_dataset(dataset: Any, random: bool = False, open_browser: bool = True) -> Path:
    """Write the viewer page of `dataset` (a dataset, or the path of an output file) and open it in the
    browser (where there is none, or with `open_browser=False`, its path is printed). Returns its path."""
    try:
        from datafast.outputs.viewer import inspect_dataset as write_and_open
    except ImportError as exc:
        raise ImportError(
            "the dataset viewer (datafast.outputs.viewer) is not part of this datafast installation, so "
            f"there is nothing to inspect with ({exc}); `datafast inspect FILE` prints the dataset's report"
        ) from exc
    return write_and_open(_hand_made_rows_file(dataset) or dataset, open_browser=open_browser)


def _hand_made_rows_file(dataset: Any) -> Path | None:
    """A temporary JSONL file of `dataset.data_rows` when they were set by hand: the output file does not
    exist, so the rows are not a run's. None otherwise (the viewer reads the output file)."""
    config = getattr(dataset, "config", None)
    output_file = getattr(config, "output_file", None)
    if output_file is None or Path(output_file).exists() or not getattr(dataset, "data_rows", None):
        return None
    from datafast.outputs import write_jsonl

    path = Path(tempfile.mkdtemp(prefix="datafast-inspect-")) / Path(output_file).name
    write_jsonl(path, dataset.data_rows)
    return path


def inspect_classification_dataset(dataset: ClassificationDataset, random: bool = False) -> Path:
    """Open the viewer page of a classification dataset (texts, labels, models, languages)."""
    return inspect_dataset(dataset, random)


def inspect_raw_dataset(dataset: RawDataset, random: bool = False) -> Path:
    """Open the viewer page of a raw text dataset (documents, their types and topics)."""
    return inspect_dataset(dataset, random)


def inspect_ultrachat_dataset(dataset: UltrachatDataset, random: bool = False) -> Path:
    """Open the viewer page of a multi-turn chat dataset (conversations, personas, topics)."""
    return inspect_dataset(dataset, random)


def inspect_mcq_dataset(dataset: MCQDataset, random: bool = False) -> Path:
    """Open the viewer page of a multiple-choice question dataset (questions, answers, source documents)."""
    return inspect_dataset(dataset, random)


def inspect_preference_dataset(dataset: PreferenceDataset, random: bool = False) -> Path:
    """Open the viewer page of a preference dataset (questions, chosen and rejected responses, scores)."""
    return inspect_dataset(dataset, random)


def inspect_generic_pipeline_dataset(dataset: GenericPipelineDataset, random: bool = False) -> Path:
    """Open the viewer page of a generic pipeline dataset (its output and forwarded fields)."""
    return inspect_dataset(dataset, random)


__all__ = [
    "inspect_classification_dataset",
    "inspect_dataset",
    "inspect_generic_pipeline_dataset",
    "inspect_mcq_dataset",
    "inspect_preference_dataset",
    "inspect_raw_dataset",
    "inspect_ultrachat_dataset",
]
