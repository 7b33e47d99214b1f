"""Where records go: the JSONL file written as a run goes, and exports."""

from datafast.outputs.jsonl import JsonlFile, write_jsonl

__all__ = ["JsonlFile", "write_jsonl"]
