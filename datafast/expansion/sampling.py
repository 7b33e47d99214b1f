"""Choosing which combinations of optional placeholder values fill a prompt.

Combinations are addressed by index in mixed radix, so random sampling over billions of combinations
needs no list of them. Draws are seeded by a string, so a rerun draws exactly the same combinations.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence


def count_combinations(values: Mapping[str, Sequence[str]]) -> int:
    return math.prod(len(v) for v in values.values())


def combination_at(values: Mapping[str, Sequence[str]], index: int) -> dict[str, str]:
    """The `index`-th combination in `itertools.product` order over `values` (last name varies fastest)."""
    chosen: dict[str, str] = {}
    for name in reversed(list(values)):
        options = values[name]
        index, position = divmod(index, len(options))
        chosen[name] = options[position]
    return {name: chosen[name] for name in values}


def sample_indices(total: int, n: int, seed: str) -> list[int]:
    """`n` combination indices out of `total`, with no repeat until every combination has been drawn once."""
    rng = random.Random(seed)
    drawn: list[int] = []
    while len(drawn) + total <= n:
        full_pass = list(range(total))
        rng.shuffle(full_pass)
        drawn.extend(full_pass)
    drawn.extend(rng.sample(range(total), n - len(drawn)))
    return drawn


def iter_combinations(
    values: Mapping[str, Sequence[str]], *, combinatorial: bool, num_samples: int, seed: str
) -> Iterator[dict[str, str]]:
    """Every combination in order, or `num_samples` seeded draws. No names gives one empty combination."""
    total = count_combinations(values)
    if combinatorial:
        indices: Sequence[int] = range(total)
    else:
        indices = sample_indices(total, num_samples, seed)
    for index in indices:
        yield combination_at(values, index)
