"""Near-duplicate detection: MinHash signatures of word shingles, indexed with LSH.

The MinHash is our own few lines of numpy: each shingle's crc32 through `NUM_PERM` seeded affine maps
`(a·h + b) mod (2**61 − 1)`, kept to 32 bits, the minimum per map. The LSH bands × rows for a threshold are
those that minimise the sum of the false-positive and false-negative areas under the banding curve
`1 − (1 − s**r)**b`, as is usual. (datasketch did both, and brought scipy: 0.6 s of import a run.)"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import zlib

import numpy as np

from datafast.quality.text import shingles, words

NUM_PERM = 128
_SEED = 1
_MERSENNE = np.uint64((1 << 61) - 1)
_LOW_32 = np.uint64(0xFFFFFFFF)


def _permutations() -> tuple[np.ndarray, np.ndarray]:
    # a < 2**31 and b < 2**32 keep a·h + b (h < 2**32) below 2**64: no overflow in uint64.
    rng = np.random.default_rng(_SEED)
    a = rng.integers(1, 1 << 31, size=NUM_PERM, dtype=np.uint64)
    b = rng.integers(0, 1 << 32, size=NUM_PERM, dtype=np.uint64)
    return a[:, None], b[:, None]


_A, _B = _permutations()


def minhash(items: list[bytes]) -> np.ndarray:
    """The MinHash signature (`NUM_PERM` uint32 values) of a non-empty set of shingles."""
    hashes = np.fromiter((zlib.crc32(item) for item in items), dtype=np.uint64, count=len(items))
    return (((_A * hashes + _B) % _MERSENNE) & _LOW_32).min(axis=1).astype(np.uint32)


@functools.cache
def _bands_and_rows(threshold: float) -> tuple[int, int]:
    """Bands × rows (at most `NUM_PERM` values) that best separate similarities below and above the
    threshold: the least false-positive area (below it) plus false-negative area (above it)."""
    steps = 200
    below = (np.arange(steps) + 0.5) / steps * threshold
    above = threshold + (np.arange(steps) + 0.5) / steps * (1 - threshold)
    best, best_error = (1, NUM_PERM), float("inf")
    for bands in range(1, NUM_PERM + 1):
        for rows in range(1, NUM_PERM // bands + 1):
            false_positive = float(np.mean(1 - (1 - below**rows) ** bands)) * threshold
            false_negative = float(np.mean((1 - above**rows) ** bands)) * (1 - threshold)
            if false_positive + false_negative < best_error:
                best, best_error = (bands, rows), false_positive + false_negative
    return best


class NearDuplicateIndex:
    """Remembers texts and finds, for a new one, whether an earlier text is a near duplicate: estimated
    Jaccard similarity of their word-shingle sets at least `threshold`.

    LSH only proposes candidates (texts that share a band of their MinHash signature); each is confirmed on
    the estimated Jaccard similarity of the two signatures. The index lives in a private temporary SQLite
    database on disk (SQLite deletes it when the index is closed or collected), so memory stays flat
    however many texts a run remembers: about 0.9 KB of disk per text. Not thread-safe.
    """

    def __init__(self, threshold: float = 0.8, shingle_words: int = 3) -> None:
        self.threshold = threshold
        self.shingle_words = shingle_words
        self._bands, self._rows = _bands_and_rows(threshold)
        self._db = sqlite3.connect("")  # "": a private temporary database on disk
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE signature (id INTEGER PRIMARY KEY, hashvalues BLOB NOT NULL);"
            "CREATE TABLE band (key INTEGER NOT NULL, id INTEGER NOT NULL);"
            "CREATE INDEX band_key ON band (key);"
        )
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        self._db.close()

    def signature(self, text: str) -> np.ndarray | None:
        """The MinHash of the text's shingles, or None for a text without words (never a near duplicate)."""
        return self.signature_of_words(words(text))

    def signature_of_words(self, tokens: list[str]) -> np.ndarray | None:
        """`signature` for a text already split with `datafast.quality.text.words`."""
        items = shingles(tokens, self.shingle_words)
        return minhash(list(items)) if items else None

    def _band_keys(self, values: np.ndarray) -> list[int]:
        # One 63-bit key per band (band number included); a collision only adds a candidate to confirm.
        r = self._rows
        return [
            int.from_bytes(
                hashlib.blake2b(values[i * r : (i + 1) * r].tobytes(), digest_size=8, person=bytes([i])).digest()
            )
            >> 1
            for i in range(self._bands)
        ]

    def find(self, values: np.ndarray) -> int | None:
        """The position of an earlier text at least `threshold` similar to this signature, if any."""
        keys = self._band_keys(values)
        candidates = self._db.execute(
            f"SELECT DISTINCT signature.id, hashvalues FROM band JOIN signature USING (id)"
            f" WHERE key IN ({','.join('?' * len(keys))}) ORDER BY signature.id",
            keys,
        )
        for key, blob in candidates:
            if float(np.mean(np.frombuffer(blob, dtype=np.uint32) == values)) >= self.threshold:
                return int(key)
        return None

    def add(self, values: np.ndarray) -> None:
        key = self._count
        self._db.execute("INSERT INTO signature VALUES (?, ?)", (key, values.tobytes()))
        self._db.executemany("INSERT INTO band VALUES (?, ?)", [(k, key) for k in self._band_keys(values)])
        self._count += 1

    def check_and_add(self, tokens: list[str]) -> bool:
        """True when the text (its `words`) has a near duplicate among the texts added before; it is added
        either way."""
        signature = self.signature_of_words(tokens)
        if signature is None:
            return False
        found = self.find(signature) is not None
        self.add(signature)
        return found
