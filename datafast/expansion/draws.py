"""Filling a template's `{{optional}}` placeholders from their samplers (`datafast.expansion.samplers`).

Placeholders whose values can be listed (plain values, and sub-values listed for each value of a listed parent)
are enumerated as plain lists always were: every combination with `combinatorial=True`, otherwise
`num_samples` combinations drawn by index without repeats (`sampling.sample_indices`). A listed placeholder and
the listed sub-values under it form one group, whose combinations are the (value, sub-value) pairs that exist;
with plain lists alone each group is one placeholder and the combinations, their order and the draws are the
same as before samplers existed.

Every other placeholder (weighted values, numbers, pools, and sub-values of those) is drawn: once per
combination with `combinatorial=True`, once per draw otherwise, so the count of prompts is known without
drawing anything. Each has a generator of its own, seeded by the caller's seed string, its name and the slot
(the combination's listed values, or the draw's number): its value does not change when another placeholder
or the number of draws does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from random import Random

from datafast.expansion.samplers import Listed, Pool, Sampler, SubValues
from datafast.expansion.sampling import sample_indices

# One listed combination of a group: placeholder name -> value.
Assignment = dict[str, str]


def with_parents(names: Iterable[str], samplers: Mapping[str, Sampler]) -> list[str]:
    """`names` and every placeholder they depend on (the parent of a sub-value, its parent, ...), sorted."""
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        sampler = samplers[name]
        if isinstance(sampler, SubValues):
            pending.append(sampler.parent)
    return sorted(found)


class PlaceholderDraws:
    """The values of a set of placeholders (a template's optional ones with the parents they depend on),
    combination by combination. `samplers` must hold every name and the parents of its sub-values."""

    def __init__(self, names: Iterable[str], samplers: Mapping[str, Sampler]) -> None:
        self.names = with_parents(names, samplers)
        self.samplers = {name: samplers[name] for name in self.names}
        self.listed = [name for name in self.names if self._is_listed(name)]
        self.groups = self._groups()
        self.drawn = self._drawn_order()

    def _is_listed(self, name: str) -> bool:
        sampler = self.samplers[name]
        if isinstance(sampler, Listed):
            return True
        return isinstance(sampler, SubValues) and sampler.listed and self._is_listed(sampler.parent)

    def _groups(self) -> list[list[Assignment]]:
        """Each listed root's combinations with the listed sub-values under it, roots in name order."""
        groups = []
        dependents = [n for n in self.listed if isinstance(self.samplers[n], SubValues)]
        for root in (n for n in self.listed if isinstance(self.samplers[n], Listed)):
            root_sampler = self.samplers[root]
            assert isinstance(root_sampler, Listed)
            assignments: list[Assignment] = [{root: value} for value in root_sampler.values]
            members = {root}
            while ready := [n for n in dependents if n not in members and _parent(self.samplers[n]) in members]:
                for name in ready:
                    sub = self.samplers[name]
                    assert isinstance(sub, SubValues)
                    assignments = [
                        {**assignment, name: value}
                        for assignment in assignments
                        for value in _listed_values(sub, assignment[sub.parent])
                    ]
                    members.add(name)
            groups.append(assignments)
        return groups

    def _drawn_order(self) -> list[str]:
        """The drawn placeholders, each after the one it depends on, otherwise in name order."""
        order: list[str] = []
        pending = [name for name in self.names if name not in self.listed]
        while pending:
            for name in pending:
                parent = _parent(self.samplers[name])
                if parent is None or parent in self.listed or parent in order:
                    order.append(name)
                    pending.remove(name)
                    break
            else:  # a cycle: the config rejects these, so this is a bug
                raise ValueError(f"placeholders {', '.join(pending)} depend on each other in a cycle")
        return order

    def load(self) -> None:
        """Read every pool these placeholders draw from now (a pool is otherwise read at its first draw)."""
        for sampler in self.samplers.values():
            if isinstance(sampler, Pool):
                sampler.values()

    def num_combinations(self) -> int:
        """The combinations of the listed placeholders (1 when there are none)."""
        total = 1
        for group in self.groups:
            total *= len(group)
        return total

    def count(self, *, combinatorial: bool, num_samples: int) -> int:
        """How many prompts `iterate` gives: every listed combination, or `num_samples` draws."""
        return self.num_combinations() if combinatorial else num_samples

    def iterate(self, *, combinatorial: bool, num_samples: int, seed: str) -> Iterator[dict[str, str]]:
        """The values of every prompt, in a fixed order: each listed combination (`combinatorial`) or
        `num_samples` seeded draws of one, with the drawn placeholders drawn for it."""
        total = self.num_combinations()
        indices: Sequence[int] = range(total) if combinatorial else sample_indices(total, num_samples, seed)
        for number, index in enumerate(indices):
            chosen = self._combination_at(index)
            slot = repr(sorted(chosen.items())) if combinatorial else f"#{number}"
            for name in self.drawn:
                chosen[name] = self._draw(name, chosen, Random(f"{seed}|{name}|{slot}"))
            yield {name: chosen[name] for name in self.names}

    def _combination_at(self, index: int) -> Assignment:
        """The `index`-th combination of the groups in `itertools.product` order (the last group varies fastest)."""
        chosen: Assignment = {}
        for group in reversed(self.groups):
            index, position = divmod(index, len(group))
            chosen.update(group[position])
        return chosen

    def _draw(self, name: str, chosen: Mapping[str, str], rng: Random) -> str:
        sampler = self.samplers[name]
        if isinstance(sampler, SubValues):
            return sampler.draw(rng, chosen[sampler.parent])
        return sampler.draw(rng)


def _parent(sampler: Sampler) -> str | None:
    return sampler.parent if isinstance(sampler, SubValues) else None


def _listed_values(sub: SubValues, parent_value: str) -> tuple[str, ...]:
    choice = sub.options[parent_value]
    assert isinstance(choice, Listed)
    return choice.values
