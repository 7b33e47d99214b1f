"""Exact distinct-n ratios of a stream of texts, in memory that grows with the distinct n-grams only.

Words get integer ids as they come; a batch of texts is turned into one 64-bit key per word n-gram with numpy
once enough words have gathered, and each set of keys is kept sorted and unique, new keys merged in by
insertion. This module imports numpy: a run's tally imports it at its first record.
"""

from __future__ import annotations

from array import array

import numpy as np

ORDERS = (1, 2, 3)
_BATCH_WORDS = 1 << 16
_ID_BITS = 21  # a trigram of ids under 2**21 packs exactly into 63 bits
_MIXED = 1 << 63  # the top bit marks a trigram key that had to be hashed (ids of 2**21 or more)


class _KeySet:
    """The distinct keys seen so far (sorted, unique) and how many keys were added in all."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.uint64)
        self.total = 0
        self._pending: list[np.ndarray] = []
        self._waiting = 0

    def add(self, keys: np.ndarray) -> None:
        """Add keys (duplicates allowed); they are merged once as many wait as are already kept."""
        self.total += len(keys)
        unique = _sorted_unique(keys)
        self._pending.append(unique)
        self._waiting += len(unique)
        if self._waiting >= max(len(self.keys), _BATCH_WORDS):
            self.merge()

    def merge(self) -> None:
        if not self._pending:
            return
        new = _sorted_unique(np.concatenate(self._pending))
        self._pending, self._waiting = [], 0
        at = np.searchsorted(self.keys, new)
        known = at < len(self.keys)
        known[known] = self.keys[at[known]] == new[known]
        self.keys = np.insert(self.keys, at[~known], new[~known])

    def copy(self) -> _KeySet:
        self.merge()
        twin = _KeySet()
        twin.keys, twin.total = self.keys.copy(), self.total
        return twin

    def ratio(self) -> float:
        self.merge()
        return round(len(self.keys) / self.total, 6) if self.total else 0.0


class DistinctNgrams:
    """Distinct word n-grams over all n-grams (n = 1, 2, 3) of the texts added, over all texts and per group
    (the report's models). n-grams never span two texts. Exact, but for trigrams of a vocabulary of over two
    million words, whose keys are hashed (a collision among billions of n-grams is what remains).

    While one group only has been seen, its figures are the overall ones and nothing is kept twice."""

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._ids = array("q")
        self._lengths = array("q")
        self._groups = array("q")
        self._all = {n: _KeySet() for n in ORDERS}
        self._by_group: dict[int, dict[int, _KeySet]] = {}
        self._shared: int | None = None  # the one group seen so far: its sets are the overall ones

    def add(self, tokens: list[str], group: int = 0) -> None:
        """Add one text, as its words (`datafast.quality.text.words`), to `group`."""
        vocab = self._vocab
        self._ids.extend([vocab.setdefault(t, len(vocab)) for t in tokens])
        self._lengths.append(len(tokens))
        self._groups.append(group)
        if len(self._ids) >= _BATCH_WORDS:
            self._flush()

    def ratios(self, group: int | None = None) -> dict[str, float]:
        """`{"distinct_1": ..., "distinct_2": ..., "distinct_3": ...}` over all texts, or over `group`'s."""
        self._flush()
        sets = self._all if group is None or group == self._shared else self._by_group.get(group)
        return {f"distinct_{n}": sets[n].ratio() if sets else 0.0 for n in ORDERS}

    def _flush(self) -> None:
        if not self._lengths:
            return
        ids = np.frombuffer(self._ids, dtype=np.int64).astype(np.uint64) if self._ids else np.zeros(0, np.uint64)
        lengths = np.frombuffer(self._lengths, dtype=np.int64)
        groups = np.frombuffer(self._groups, dtype=np.int64)
        text_of_word = np.repeat(np.arange(len(lengths)), lengths)
        keys = {n: _ngram_keys(ids, text_of_word, n) for n in ORDERS}
        present = np.unique(groups).tolist()
        self._ids, self._lengths, self._groups = array("q"), array("q"), array("q")

        if not self._by_group and len(present) == 1 and self._shared in (None, present[0]):
            self._shared = present[0]
        elif self._shared is not None:  # a second group: the first one gets its own copy of the sets
            self._by_group[self._shared] = {n: keys_.copy() for n, keys_ in self._all.items()}
            self._shared = None
        for n, (n_keys, n_texts) in keys.items():
            self._all[n].add(n_keys)
            if self._shared is None:
                group_of_key = groups[n_texts]
                for group in present:
                    sets = self._by_group.setdefault(group, {m: _KeySet() for m in ORDERS})
                    sets[n].add(n_keys[group_of_key == group])


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    # np.unique, by sorting (numpy 2.3+ goes through a hash table, several times slower on 64-bit keys).
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


def _ngram_keys(ids: np.ndarray, text_of_word: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """One key per word n-gram inside one text, and the text each belongs to."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    inside = text_of_word[:count] == text_of_word[n - 1 :]
    parts = [ids[offset : offset + count] for offset in range(n)]
    if n == 1:
        keys = parts[0]
    elif n == 2:
        keys = (parts[0] << np.uint64(32)) | parts[1]
    else:
        keys = (parts[0] << np.uint64(2 * _ID_BITS)) | (parts[1] << np.uint64(_ID_BITS)) | parts[2]
        big = (parts[0] | parts[1] | parts[2]) >= np.uint64(1 << _ID_BITS)
        if big.any():
            mixed = parts[0] * np.uint64(0x9E3779B97F4A7C15)
            mixed = (mixed ^ parts[1]) * np.uint64(0xBF58476D1CE4E5B9)
            mixed = (mixed ^ parts[2]) * np.uint64(0x94D049BB133111EB)
            keys = np.where(big, mixed | np.uint64(_MIXED), keys)
    return keys[inside], text_of_word[:count][inside]
