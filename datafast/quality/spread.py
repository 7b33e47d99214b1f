"""How the values of one placeholder are spread over the records, in memory that does not grow with them: how
many distinct values and the most frequent ones (exact up to MAX_DISTINCT distinct values, then the Misra–Gries
summary, which keeps every value seen more than records / MAX_DISTINCT times with its count short by at most the
`short_by` it reports), and, while every value is a number (a numeric sampler's draws), a numeric summary with
a histogram.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

MAX_DISTINCT = 1000
TOP = 10
HISTOGRAM_BINS = 10
# Distinct numbers kept for the median and histogram; past it, a numeric summary has its moments only.
MAX_NUMBERS = 10_000
# A value is a number when written as datafast's numeric samplers write them: 42, -3, 1.75.
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


class Spread:
    """The spread of one placeholder's values, one value at a time (`add`), as a JSON-ready dict (`result`)."""

    def __init__(self) -> None:
        self.records = 0
        self.counts: Counter[str] = Counter()
        self.exact = True  # `counts` holds every value; else it is the Misra–Gries summary
        self.short_by = 0  # how far below its true count a value's count in the summary may be
        self.numbers: _Numbers | None = _Numbers()

    def add(self, value: str) -> None:
        self.records += 1
        counts = self.counts
        if self.exact or value in counts or len(counts) < MAX_DISTINCT:
            counts[value] += 1
            if self.exact and len(counts) > MAX_DISTINCT:
                self.exact = False
                self._shrink()
        else:  # a new value in a full summary: it and every kept value lose one
            self._decrement()
        if self.numbers is not None:
            if _NUMBER.fullmatch(value):
                self.numbers.add(float(value))
            else:
                self.numbers = None

    def _shrink(self) -> None:
        while len(self.counts) > MAX_DISTINCT:
            self._decrement()

    def _decrement(self) -> None:
        self.short_by += 1
        for value in list(self.counts):
            self.counts[value] -= 1
            if not self.counts[value]:
                del self.counts[value]

    def result(self) -> dict[str, Any]:
        top = [{"value": value, "records": count} for value, count in self.counts.most_common(TOP)]
        result: dict[str, Any] = {"records": self.records}
        if self.exact:
            result["distinct"] = len(self.counts)
        else:
            result.update(distinct=None, distinct_above=MAX_DISTINCT, short_by_at_most=self.short_by)
        result["top"] = top
        if self.numbers is not None and self.numbers.count:
            result["numeric"] = self.numbers.result()
        return result


class _Numbers:
    """Count, mean and variance (Welford), min and max of numbers, and their counts while there are at most
    MAX_NUMBERS distinct ones (for the median and the histogram)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.values: Counter[float] | None = Counter()

    def add(self, x: float) -> None:
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)
        self.low, self.high = min(self.low, x), max(self.high, x)
        if self.values is not None:
            self.values[x] += 1
            if len(self.values) > MAX_NUMBERS:
                self.values = None

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "min": _tidy(self.low),
            "max": _tidy(self.high),
            "mean": _tidy(self.mean),
            "std": _tidy(math.sqrt(self.m2 / self.count)),
        }
        if self.values is not None:
            result["median"] = _tidy(_median(self.values, self.count))
            result["histogram"] = _histogram(self.values, self.low, self.high)
        return result


def _median(values: Counter[float], count: int) -> float:
    ordered = sorted(values.items())

    def at(rank: int) -> float:
        for value, n in ordered:
            rank -= n
            if rank < 0:
                return value
        return ordered[-1][0]

    middle = count // 2
    return at(middle) if count % 2 else (at(middle - 1) + at(middle)) / 2


def _histogram(values: Counter[float], low: float, high: float) -> dict[str, list[Any]]:
    """HISTOGRAM_BINS bins of equal width from the least to the greatest value (bin i holds values in
    [edges[i], edges[i + 1]), the last one its upper edge too); one bin when every value is the same."""
    bins = HISTOGRAM_BINS if high > low else 1
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for value, n in values.items():
        counts[min(int((value - low) / width), bins - 1)] += n
    return {"edges": [_tidy(low + width * i) for i in range(bins + 1)], "counts": counts}


def _tidy(x: float) -> float | int:
    """`x` rounded for reading: a whole number as an int, else to 6 significant digits."""
    if x == int(x):
        return int(x)
    return float(f"{x:.6g}")
