"""Prompt expansion: parsing templates and choosing placeholder combinations (pure, no I/O)."""

from datafast.expansion.sampling import count_combinations, iter_combinations, sample_indices
from datafast.expansion.templates import Prompt, PromptTemplate, check_template

__all__ = ["Prompt", "PromptTemplate", "check_template", "count_combinations", "iter_combinations", "sample_indices"]
