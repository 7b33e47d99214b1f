"""English-like filler text built from a fixed vocabulary.

Every word is plain lower-case ASCII, so the generated text never needs JSON escaping beyond the basics and
never contains quotes, backslashes or control characters.
"""

from __future__ import annotations

import random

ADJECTIVES: tuple[str, ...] = (
    "quiet", "bright", "ancient", "curious", "gentle", "rapid", "hidden", "golden", "narrow", "distant",
    "careful", "modern", "simple", "steady", "hollow", "clever", "silent", "vivid", "humble", "broad",
    "fragile", "sturdy", "warm", "calm", "rural", "urban", "tidy", "eager", "patient", "bold",
    "subtle", "honest", "playful", "remote", "crisp", "lively", "plain", "rare", "sharp", "soft",
)
NOUNS: tuple[str, ...] = (
    "river", "garden", "library", "engineer", "harbor", "village", "teacher", "market", "forest", "bridge",
    "kitchen", "painter", "museum", "orchard", "station", "student", "lantern", "island", "workshop", "valley",
    "notebook", "traveler", "meadow", "council", "window", "baker", "festival", "mountain", "journal", "farmer",
    "tower", "canal", "doctor", "theater", "shepherd", "compass", "letter", "neighbor", "observatory", "mill",
    "recipe", "castle", "signal", "archive", "courtyard", "sailor", "planet", "violin", "pottery", "ledger",
)
VERBS: tuple[str, ...] = (
    "carried", "found", "described", "repaired", "watched", "followed", "built", "painted", "opened", "measured",
    "collected", "explained", "guarded", "visited", "crossed", "studied", "cleaned", "shared", "mapped", "planted",
    "answered", "sketched", "recorded", "welcomed", "tested", "gathered", "noticed", "organized", "lit", "praised",
)
ADVERBS: tuple[str, ...] = (
    "Yesterday", "Every morning", "At dusk", "Later", "Once again", "Quietly", "By noon", "Suddenly",
    "In winter", "Meanwhile", "Before dawn", "Eventually", "Every spring", "Without delay",
)
PREPOSITIONS: tuple[str, ...] = (
    "near", "beside", "behind", "across", "above", "beyond", "inside", "around", "along", "under",
)


def _noun_phrase(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return f"the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    return f"the {rng.choice(NOUNS)}"


def _clause(rng: random.Random) -> str:
    subject = _noun_phrase(rng)
    obj = _noun_phrase(rng)
    roll = rng.random()
    if roll < 0.4:
        return f"{subject} {rng.choice(VERBS)} {obj}"
    if roll < 0.75:
        return f"{subject} {rng.choice(VERBS)} {obj} {rng.choice(PREPOSITIONS)} {_noun_phrase(rng)}"
    return f"{subject} {rng.choice(VERBS)} {obj} and {rng.choice(VERBS)} {_noun_phrase(rng)}"


def sentence(rng: random.Random) -> str:
    """One capitalised sentence of roughly 5 to 20 words, ending in a full stop."""
    body = _clause(rng)
    if rng.random() < 0.3:
        body = f"{rng.choice(ADVERBS)}, {body}"
    if rng.random() < 0.25:
        body = f"{body}, and {_clause(rng)}"
    return body[0].upper() + body[1:] + "."


def paragraph(rng: random.Random, sentences: int = 2) -> str:
    """Several sentences joined by spaces."""
    return " ".join(sentence(rng) for _ in range(max(1, sentences)))


def short_phrase(rng: random.Random, max_len: int) -> str:
    """A few words that fit in ``max_len`` characters (used for tightly bounded strings)."""
    words = [rng.choice(ADJECTIVES), rng.choice(NOUNS)]
    text = " ".join(words)
    if len(text) > max_len:
        text = rng.choice(NOUNS)
    if len(text) > max_len:
        text = text[:max_len]
    return text.capitalize() if text else text


def text_between(rng: random.Random, min_len: int = 0, max_len: int | None = None) -> str:
    """A sentence (or more) whose length is within ``[min_len, max_len]``, cut at a word boundary if needed."""
    text = short_phrase(rng, max_len) if max_len is not None and max_len < 24 else sentence(rng)
    while len(text) < min_len:
        text = f"{text} {sentence(rng)}"
    if max_len is not None and len(text) > max_len:
        cut = text[:max_len]
        space = cut.rfind(" ")
        if space >= max(min_len, 1):
            cut = cut[:space]
        text = cut.rstrip(" ,") if len(cut.rstrip(" ,")) >= min_len else cut
    if len(text) < min_len:  # only reachable when max_len is close to min_len
        text = text.ljust(min_len, "x")
    return text
