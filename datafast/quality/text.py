"""Text normalisation shared by the cleaning rules and the report: one definition of a word, of a
duplicate key and of a shingle."""

from __future__ import annotations

import hashlib
import re
import unicodedata

# A word: a run of letters or digits in any script (underscores and punctuation split words).
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-cased (case-folded) word tokens of `text`, in order."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def letter_share(text: str) -> float:
    """The share of `text`'s non-space characters that are letters, in any script, or the marks that belong
    to them (Devanagari vowel signs, Arabic harakat): 1.0 for prose, near 0 for dates, numbers, codes and
    emoji. 0.0 for a text with no non-space character."""
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return 0.0
    return sum(unicodedata.category(c)[0] in "LM" for c in visible) / len(visible)


def normalized(text: str) -> str:
    """`text` with case, punctuation, symbols and whitespace differences removed: its words joined by one
    space. Two texts that differ only in those have the same normalised form."""
    return " ".join(words(text))


def duplicate_key(text: str) -> bytes:
    """A 16-byte digest of the normalised text: what exact-duplicate detection compares."""
    return hashlib.blake2b(normalized(text).encode("utf-8"), digest_size=16).digest()


def shingles(tokens: list[str], size: int) -> set[bytes]:
    """The set of `size`-word shingles of `tokens`; a text shorter than `size` words is one shingle."""
    if not tokens:
        return set()
    if len(tokens) <= size:
        return {" ".join(tokens).encode("utf-8")}
    return {" ".join(tokens[i : i + size]).encode("utf-8") for i in range(len(tokens) - size + 1)}
