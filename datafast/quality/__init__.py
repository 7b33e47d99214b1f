"""Data quality: the cleaning rules applied as records arrive, and the diversity and quality report."""

from datafast.quality.cleaner import DROP_REASONS, DroppedRecords, RecordCleaner, dropped_path, restates_label
from datafast.quality.report import build_report, print_report, render_report, save_report

__all__ = [
    "DROP_REASONS",
    "DroppedRecords",
    "RecordCleaner",
    "build_report",
    "dropped_path",
    "print_report",
    "render_report",
    "restates_label",
    "save_report",
]
