"""Where records go: the JSONL file written as a run goes, the dropped records beside it, and exports."""

from datafast.outputs.dropped import DroppedRecords, dropped_path
from datafast.outputs.export import to_csv, to_hf_dataset, to_parquet
from datafast.outputs.hub import hub_files, push_to_hub
from datafast.outputs.jsonl import JsonlFile, write_jsonl

__all__ = [
    "DroppedRecords",
    "JsonlFile",
    "dropped_path",
    "hub_files",
    "push_to_hub",
    "to_csv",
    "to_hf_dataset",
    "to_parquet",
    "write_jsonl",
]
