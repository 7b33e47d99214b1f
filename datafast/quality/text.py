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
    return len(token) >= 12 and token.isascii() and any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


# Punctuation that ends a sentence, followed by a space, a symbol or the end: "Great! 👍", "Fine." but not
# the dot of "4.2" or of "amazon.com".
_SENTENCE_END = re.compile(r"[.!?…。！？؟।](?=[^\w]|$)")
# A word of letters (with their marks) and apostrophes only, once the punctuation around it is set aside.
_PLAIN_WORD = re.compile(r"(?:[^\W\d_]|['’])+")
_EDGE_PUNCTUATION = "\"'“”‘’«»()[]{}:;,"


def is_fragment(text: str) -> bool:
    """True for a text in a script with capital letters (Latin, Greek, Cyrillic, ...) that has no sentence
    punctuation and is one of:

    - one run of characters without a space that is not a plain word ("Nahiru3D", "n/S/S",
      "sarah_jonathah") or is a capitalised one, as a name is ("Rachel", "Sterilicious"); a lowercase
      word alone ("ok", "great") and an all-capitals one ("OK"; not "A") are left to `min_words`;
    - two to four words that all begin with a capital letter, as in names and short titles ("Emily
      Carter", "The Water Bottle", "Product Review");
    - a string of codes: fewer than a quarter of its words begin with a lowercase letter and at least a
      third hold a digit or join letters with a symbol ("Twini Para Ski 800 (S-Birch) - Porsche 911, 2021").

    Shouting ("GREAT TENT") is none of these. False for "Great! 👍", "Sold out", "Not bad at all", "Fed
    Raises Rates as Inflation Cools", and for any text in a script without capitals (Chinese, Arabic,
    Devanagari): words alone cannot tell a title there."""
    tokens = [(token, token.strip(_EDGE_PUNCTUATION), _first_cased(token)) for token in text.split()]
    if not any(first for _, _, first in tokens) or _SENTENCE_END.search(text):
        return False
    cased = [c for c in text if c.islower() or c.isupper()]
    shouting = len(cased) > 1 and all(c.isupper() for c in cased)  # not a lone capital: "A"
    if len(tokens) == 1:
        _, core, first = tokens[0]
        return not _PLAIN_WORD.fullmatch(core) or (first.isupper() and not shouting)
    if shouting:
        return False
    if len(tokens) <= 4 and not any(first.islower() for _, _, first in tokens):
        return True
    lowercase_words = sum(first.islower() and bool(_PLAIN_WORD.fullmatch(core)) for _, core, first in tokens)
    codes = sum(any(c.isdigit() for c in core) or not _PLAIN_WORD.fullmatch(core) for _, core, _ in tokens if core)
    return lowercase_words * 4 < len(tokens) and codes * 3 >= len(tokens)


def _first_cased(token: str) -> str:
    """The first letter of `token` that has an upper and a lower case, or ""."""
    return next((c for c in token if c.islower() or c.isupper()), "")


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
