"""Near-duplicate detection: MinHash signatures of word shingles, indexed with LSH (datasketch)."""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import zlib

import numpy as np
from datasketch import MinHash, MinHashLSH

from datafast.quality.text import shingles, words

NUM_PERM = 128
_SEED = 1


def _permutations() -> np.ndarray:
    # Built once: a MinHash draws its permutations from a seeded generator, which costs more than hashing a text.
    return MinHash(num_perm=NUM_PERM, seed=_SEED).permutations


_PERMUTATIONS = _permutations()


@functools.cache
def _bands_and_rows(threshold: float) -> tuple[int, int]:
    # datasketch's choice of bands (b) × rows (r) for this threshold (it integrates error curves: ~10 ms).
    params = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    return params.b, params.r


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
        self._bands, self._rows = _bands_and_rows(threshold)  # datasketch's LSH parameters; the index is ours
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

    def signature(self, text: str) -> MinHash | None:
        """The MinHash of the text's shingles, or None for a text without words (never a near duplicate)."""
        return self.signature_of_words(words(text))

    def signature_of_words(self, tokens: list[str]) -> MinHash | None:
        """`signature` for a text already split with `datafast.quality.text.words`."""
        items = shingles(tokens, self.shingle_words)
        if not items:
            return None
        # crc32 is enough to spread shingles before the MinHash permutations, and much faster than SHA-1.
        minhash = MinHash(
            num_perm=NUM_PERM, seed=_SEED, permutations=_PERMUTATIONS, scheme="affine32", hashfunc=zlib.crc32
        )
        minhash.update_batch(items)
        return minhash

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

    def find(self, minhash: MinHash) -> int | None:
        """The position of an earlier text at least `threshold` similar to this signature, if any."""
        values = _compact(minhash)
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

    def add(self, minhash: MinHash) -> None:
        values = _compact(minhash)
        key = self._count
        self._db.execute("INSERT INTO signature VALUES (?, ?)", (key, values.tobytes()))
        self._db.executemany("INSERT INTO band VALUES (?, ?)", [(k, key) for k in self._band_keys(values)])
        self._count += 1

    def check_and_add(self, tokens: list[str]) -> bool:
        """True when the text (its `words`) has a near duplicate among the texts added before; it is added
        either way."""
        minhash = self.signature_of_words(tokens)
        if minhash is None:
            return False
        found = self.find(minhash) is not None
        self.add(minhash)
        return found


def _compact(minhash: MinHash) -> np.ndarray:
    # The affine32 scheme keeps every hash value below 2**32, so 4 bytes each hold it exactly.
    return minhash.hashvalues.astype(np.uint32)
