"""Near-duplicate detection: MinHash signatures of word shingles, indexed with LSH (datasketch)."""

from __future__ import annotations

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


class NearDuplicateIndex:
    """Remembers texts and finds, for a new one, whether an earlier text is a near duplicate: estimated
    Jaccard similarity of their word-shingle sets at least `threshold`.

    LSH only proposes candidates; each is confirmed on the estimated Jaccard similarity of the two MinHash
    signatures, so a candidate that merely shares a band is not reported. Not thread-safe.
    """

    def __init__(self, threshold: float = 0.8, shingle_words: int = 3) -> None:
        self.threshold = threshold
        self.shingle_words = shingle_words
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._signatures: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._signatures)

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

    def find(self, minhash: MinHash) -> int | None:
        """The position of an earlier text at least `threshold` similar to this signature, if any."""
        for key in self._lsh.query(minhash):
            if float(np.mean(self._signatures[key] == minhash.hashvalues)) >= self.threshold:
                return int(key)
        return None

    def add(self, minhash: MinHash) -> None:
        key = len(self._signatures)
        self._signatures.append(minhash.hashvalues)
        self._lsh.insert(key, minhash, check_duplication=False)

    def check_and_add(self, tokens: list[str]) -> bool:
        """True when the text (its `words`) has a near duplicate among the texts added before; it is added
        either way."""
        minhash = self.signature_of_words(tokens)
        if minhash is None:
            return False
        found = self.find(minhash) is not None
        self.add(minhash)
        return found
