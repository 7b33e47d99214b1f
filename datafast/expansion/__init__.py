"""Prompt expansion: parsing templates and choosing placeholder combinations (pure, no I/O)."""

from datafast.expansion.sampling import count_combinations, iter_combinations, sample_indices
from datafast.expansion.templates import PromptTemplate, check_template

__all__ = ["PromptTemplate", "check_template", "count_combinations", "iter_combinations", "sample_indices"]
