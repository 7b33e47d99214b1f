"""Train/test splits: exact sizes, stratified by label when there is one, reproducible with a seed."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from datafast.errors import ConfigError


def check_train_size(train_size: float | None) -> float | None:
    """`train_size` must be None (no split) or a fraction strictly between 0 and 1."""
    if train_size is None:
        return None
    if isinstance(train_size, bool) or not isinstance(train_size, int | float) or not 0 < train_size < 1:
        raise ConfigError(
            f"train_size is {train_size!r}: use a fraction strictly between 0 and 1 (e.g. 0.8), or leave it out "
            "for a single train split"
        )
    return float(train_size)


def num_test_records(n: int, train_size: float) -> int:
    """Records in the test split: n × (1 − train_size) rounded half up, at least 1 and leaving at least 1
    for train. Raises ConfigError when n < 2."""
    if n < 2:
        raise ConfigError(f"a train/test split needs at least 2 records, the dataset has {n}; leave train_size out")
    return min(n - 1, max(1, math.floor(n * (1 - train_size) + 0.5)))


def split_indices(
    rows: Sequence[Mapping[str, Any]], train_size: float, seed: int = 42, by: str | None = "label"
) -> tuple[list[int], list[int]]:
    """Positions of the train and test records, each list in file order.

    The test split has exactly `num_test_records(len(rows), train_size)` records. When the records have a `by`
    column it is stratified: each label gets its share of the test split by largest remainder, and every
    label with at least 2 records has at least one record in each split (a ConfigError says so when the test
    split is too small for that). Which records of a label go to test is drawn with `seed`."""
    n = len(rows)
    n_test = num_test_records(n, train_size)
    groups: dict[str, list[int]] = {}
    if by is not None and rows and all(by in row for row in rows):
        for i, row in enumerate(rows):
            groups.setdefault(str(row[by]), []).append(i)
    else:
        groups[""] = list(range(n))
    allocation = _allocate(groups, n_test, n, by)
    rng = random.Random(seed)
    test: list[int] = []
    for name in sorted(groups):
        members = list(groups[name])
        rng.shuffle(members)
        test.extend(members[: allocation[name]])
    test_set = set(test)
    return [i for i in range(n) if i not in test_set], sorted(test_set)


def _allocate(groups: dict[str, list[int]], n_test: int, n: int, by: str | None) -> dict[str, int]:
    low = {g: 1 if len(m) >= 2 and len(groups) > 1 else 0 for g, m in groups.items()}
    # A label's last record stays in train; singletons reach test only if nothing else can fill it.
    high = {g: len(m) - 1 for g, m in groups.items()}
    if sum(low.values()) > n_test:
        raise ConfigError(
            f"train_size leaves {n_test} test records, too few to hold each of the {sum(low.values())} {by} values "
            "that have 2 or more records; lower train_size"
        )
    ideal = {g: len(m) * n_test / n for g, m in groups.items()}
    alloc = {g: min(high[g], max(low[g], math.floor(ideal[g]))) for g in groups}
    order = sorted(groups, key=lambda g: (-(ideal[g] - alloc[g]), g))
    while sum(alloc.values()) < n_test:
        grew = False
        for g in order:
            if sum(alloc.values()) < n_test and alloc[g] < high[g]:
                alloc[g] += 1
                grew = True
        if not grew:  # every label at its maximum: singletons may go to test too
            for g in order:
                if sum(alloc.values()) < n_test and alloc[g] < len(groups[g]):
                    alloc[g] += 1
    while sum(alloc.values()) > n_test:
        for g in reversed(order):
            if sum(alloc.values()) > n_test and alloc[g] > low[g]:
                alloc[g] -= 1
    return alloc
