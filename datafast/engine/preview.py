"""Preview: a few of a run's chains, spread over the config's dimensions, run for real before paying for
the whole run.

The chains are picked so that every language, label (and other field a dataset type sets), prompt template,
optional-placeholder value and provider comes up at least once where `n` allows. They run like any chain
(cleaning, judge, validators included) into the run's own store, so the full run that follows replays their
answers instead of paying for them again; their records go to `preview.jsonl` in the run folder (and the
dropped ones to `preview.dropped.jsonl`), never to the output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from datafast.engine.source import Ask

# How many first asks are looked at to pick a spread (a config may make millions).
_SCAN = 20_000


@dataclass(frozen=True)
class PreviewPicks:
    """The chains a preview runs: first-ask indices per binding (role → provider set) of the run, and
    where the preview's records go."""

    by_binding: dict[int, frozenset[int]]
    records_file: Path

    @property
    def chains(self) -> int:
        return sum(len(p) for p in self.by_binding.values())


def spread(asks: Iterable[Ask], n: int, bindings: int) -> dict[int, frozenset[int]]:
    """`n` chains (binding index → first-ask indices) that cover as many distinct dimension values as they
    can: each pick is the first ask that adds the most values not covered yet; the bindings take turns."""
    candidates = [(index, _dimensions(ask)) for index, ask in enumerate(islice(asks, _SCAN))]
    if n < 1:
        raise ValueError(f"a preview needs at least one chain, got n={n}")
    total = len(candidates) * bindings
    covered: set[tuple[str, ...]] = set()
    picked: dict[int, set[int]] = {b: set() for b in range(bindings)}
    for turn in range(min(n, total)):
        binding = turn % bindings
        best, best_gain = None, -1
        for index, dims in candidates:
            if index in picked[binding]:
                continue
            gain = len(dims - covered)
            if gain > best_gain:
                best, best_gain = (index, dims), gain
        if best is None:
            continue
        picked[binding].add(best[0])
        covered |= best[1]
    return {b: frozenset(indices) for b, indices in picked.items() if indices}


def _dimensions(ask: Ask) -> set[tuple[str, ...]]:
    origin = ask.origin
    dims: set[tuple[str, ...]] = {("language", origin.language), ("template", origin.template)}
    dims |= {("field", name, value) for name, value in origin.fields.items()}
    dims |= {("placeholder", name, value) for name, value in origin.placeholders.items()}
    return dims


@dataclass
class PreviewResult:
    """What a preview found: the records kept and dropped (with the reason), the requests, tokens and cost
    of its chains (paid now, or earlier: `resumed` answers came from the store, and a preview run again
    costs nothing), and that cost projected to the full run (per chain, times the run's chains)."""

    records: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    chains: int
    total_chains: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    failures: list[str] = field(default_factory=list)
    resumed: int = 0

    @property
    def projected_cost_usd(self) -> float | None:
        if self.cost_usd is None or not self.chains:
            return None
        return self.cost_usd / self.chains * self.total_chains

    @property
    def drop_reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for line in self.dropped:
            counts[line["reason"]] = counts.get(line["reason"], 0) + 1
        return counts
