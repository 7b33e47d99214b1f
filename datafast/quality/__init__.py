"""Data quality: the cleaning rules applied as records arrive, and the diversity and quality report."""

from datafast.quality.cleaner import DROP_REASONS, RecordCleaner, restates_label
from datafast.quality.report import build_report, print_report, render_report, save_report

__all__ = [
    "DROP_REASONS",
    "RecordCleaner",
    "build_report",
    "print_report",
    "render_report",
    "restates_label",
    "save_report",
]
