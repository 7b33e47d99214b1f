"""How one `{{optional}}` placeholder gets its value: listed values, weighted values, sub-values that depend on
another placeholder's value, numbers (uniform, normal, integers) rendered as text, or a pool of texts (personas).

Every sampler draws from a `random.Random` it is handed; `datafast.expansion.draws` seeds that generator, so a
draw is reproducible. Nothing here reads files: a pool's texts come from the function it is built with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from random import Random
from statistics import NormalDist

# Probabilities kept inside (0, 1): NormalDist.inv_cdf is undefined at the ends.
_EDGE = 1e-12


@dataclass(frozen=True)
class Listed:
    """Plain values: enumerated in combinatorial mode, drawn uniformly where they must be drawn."""

    values: tuple[str, ...]

    def draw(self, rng: Random) -> str:
        return self.values[rng.randrange(len(self.values))]


@dataclass(frozen=True)
class Weighted:
    """Values drawn in proportion to their (relative, positive) weights."""

    values: tuple[str, ...]
    weights: tuple[float, ...]

    def draw(self, rng: Random) -> str:
        return rng.choices(self.values, weights=self.weights)[0]


Choice = Listed | Weighted


@dataclass(frozen=True)
class SubValues:
    """Values that depend on the value of another placeholder, `parent`: a choice for each of its values."""

    parent: str
    options: Mapping[str, Choice]

    @property
    def listed(self) -> bool:
        """Whether every choice is plain values (then it can be enumerated when its parent can)."""
        return all(isinstance(choice, Listed) for choice in self.options.values())

    def draw(self, rng: Random, parent_value: str) -> str:
        return self.options[parent_value].draw(rng)


@dataclass(frozen=True)
class Uniform:
    """A number drawn uniformly in [low, high], written with `decimals` decimals."""

    low: float
    high: float
    decimals: int = 0

    def draw(self, rng: Random) -> str:
        return number_text(rng.uniform(self.low, self.high), self.decimals)


@dataclass(frozen=True)
class Normal:
    """A number from a normal distribution, truncated to [low, high] where given (drawn inside the bounds by
    the inverse of the distribution function, so the shape inside is kept and nothing piles up at a bound),
    written with `decimals` decimals."""

    mean: float
    std: float
    low: float | None = None
    high: float | None = None
    decimals: int = 0

    def draw(self, rng: Random) -> str:
        dist = NormalDist(self.mean, self.std)
        below = 0.0 if self.low is None else dist.cdf(self.low)
        above = 1.0 if self.high is None else dist.cdf(self.high)
        p = min(max(below + (above - below) * rng.random(), _EDGE), 1 - _EDGE)
        value = dist.inv_cdf(p)
        if self.low is not None:
            value = max(value, self.low)
        if self.high is not None:
            value = min(value, self.high)
        return number_text(value, self.decimals)


@dataclass(frozen=True)
class Integers:
    """A whole number drawn uniformly from low to high, both included."""

    low: int
    high: int

    def draw(self, rng: Random) -> str:
        return str(rng.randint(self.low, self.high))


class Pool:
    """Texts drawn uniformly (personas), read by `load` at the first draw and kept: building a pool reads
    nothing, so counting a run's requests never touches a file or the network."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load
        self._values: Sequence[str] | None = None

    def values(self) -> Sequence[str]:
        if self._values is None:
            self._values = self._load()
        return self._values

    def draw(self, rng: Random) -> str:
        values = self.values()
        return values[rng.randrange(len(values))]


Sampler = Listed | Weighted | SubValues | Uniform | Normal | Integers | Pool


def number_text(value: float, decimals: int) -> str:
    """`value` rounded to `decimals` decimals as text (`42`, `3.50`), never `-0`."""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text
