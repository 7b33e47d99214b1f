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
    """The share of `text`'s non-space characters that are letters of words, in any script, with the marks
    that belong to them (Devanagari vowel signs, Arabic harakat): near 1.0 for prose, near 0 for dates,
    numbers and emoji. Letters inside codes and IDs do not count: an ASCII run of 12 or more characters that
    mixes letters and digits ("AARM-38363986", a hash, a timestamp). 0.0 for a text of spaces only."""
    visible = 0
    letters = 0
    for token in text.split():
        visible += len(token)
        if not _is_code(token):
            letters += sum(unicodedata.category(c)[0] in "LM" for c in token)
    return letters / visible if visible else 0.0


def _is_code(token: str) -> bool:
    return (
        len(token) >= 12
        and token.isascii()
        and any(c.isdigit() for c in token)
        and any(c.isalpha() for c in token)
    )


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
