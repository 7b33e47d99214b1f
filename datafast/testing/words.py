"""Filler text built from fixed vocabularies: English by default, and French, German, Italian or Spanish
when a prompt asks for that language, so that language checks on the answers behave as with a real model.

The text never contains quotes, backslashes or control characters; non-English words may carry accents.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Vocabulary:
    """The words of one language and where its adjectives go. `nouns` carry their article where the
    article depends on the noun's gender; `article` is prefixed to the others."""

    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    verbs: tuple[str, ...]
    adverbs: tuple[str, ...]
    prepositions: tuple[str, ...]
    and_word: str
    article: str = ""
    adjective_after_noun: bool = False


ENGLISH = Vocabulary(NOUNS, ADJECTIVES, VERBS, ADVERBS, PREPOSITIONS, "and", article="the")
OTHER_LANGUAGES: dict[str, Vocabulary] = {
    "French": Vocabulary(
        nouns=(
            "le jardin", "la rivière", "la bibliothèque", "le village", "le marché", "la forêt", "le pont",
            "la cuisine", "le musée", "la gare", "la lanterne", "le moulin", "la vallée", "le château",
            "la fenêtre", "le boulanger", "la montagne", "le journal", "la tour", "le médecin",
        ),
        adjectives=(
            "calme", "simple", "rapide", "moderne", "tranquille", "solide", "fragile", "célèbre", "étrange",
            "jeune", "sombre", "vaste", "paisible", "immense", "humble",
        ),
        verbs=(
            "a trouvé", "a décrit", "a réparé", "a regardé", "a suivi", "a construit", "a peint", "a ouvert",
            "a mesuré", "a visité", "a traversé", "a étudié", "a nettoyé", "a partagé", "a accueilli",
        ),
        adverbs=("Hier", "Chaque matin", "Au crépuscule", "Plus tard", "Soudain", "En hiver", "Pendant ce temps"),
        prepositions=("derrière", "devant", "sous", "sur", "dans", "avec", "contre", "parmi"),
        and_word="et",
        adjective_after_noun=True,
    ),
    "German": Vocabulary(
        nouns=(
            "die Brücke", "das Dorf", "die Küche", "das Museum", "die Mühle", "das Fenster", "die Stadt",
            "das Schloss", "die Bibliothek", "das Tal", "die Werkstatt", "das Buch", "die Lampe", "das Haus",
            "die Schule", "das Feld", "die Straße", "das Zimmer", "die Wiese", "das Boot",
        ),
        adjectives=(
            "alte", "stille", "neue", "kleine", "große", "helle", "dunkle", "schöne", "ruhige", "weite",
            "schnelle", "freundliche", "leere", "warme", "kalte",
        ),
        verbs=(
            "fand", "beschrieb", "reparierte", "beobachtete", "besuchte", "malte", "öffnete", "baute",
            "sammelte", "erklärte", "suchte", "zeigte", "brauchte", "kannte", "lobte",
        ),
        adverbs=("gestern", "jeden Morgen", "später", "plötzlich", "im Winter", "oft", "heute"),
        prepositions=(),
        and_word="und",
    ),
    "Italian": Vocabulary(
        nouns=(
            "il giardino", "la torre", "il villaggio", "il mercato", "la foresta", "il ponte", "la cucina",
            "il museo", "la stazione", "il mulino", "la valle", "il castello", "la finestra", "il fornaio",
            "la montagna", "il giornale", "la biblioteca", "il medico", "la piazza", "il fiume",
        ),
        adjectives=(
            "grande", "verde", "gentile", "semplice", "veloce", "dolce", "forte", "felice", "tranquille",
            "antiche", "nobile", "fragile", "celebre", "umile", "breve",
        ),
        verbs=(
            "ha trovato", "ha descritto", "ha riparato", "ha guardato", "ha seguito", "ha costruito",
            "ha dipinto", "ha aperto", "ha misurato", "ha visitato", "ha attraversato", "ha studiato",
        ),
        adverbs=("Ieri", "Ogni mattina", "Più tardi", "All'improvviso", "In inverno", "Nel frattempo"),
        prepositions=("dietro", "sopra", "sotto", "verso", "dentro", "lungo", "presso"),
        and_word="e",
        adjective_after_noun=True,
    ),
    "Spanish": Vocabulary(
        nouns=(
            "el jardín", "la torre", "el pueblo", "el mercado", "la selva", "el puente", "la cocina",
            "el museo", "la estación", "el molino", "la ventana", "el castillo", "la montaña", "el periódico",
            "la biblioteca", "el médico", "la plaza", "el río", "la escuela", "el barco",
        ),
        adjectives=(
            "grande", "verde", "amable", "simple", "fuerte", "alegre", "elegante", "breve", "triste", "noble",
            "enorme", "humilde", "salvaje", "libre", "dulce",
        ),
        verbs=(
            "encontró", "describió", "reparó", "miró", "siguió", "construyó", "pintó", "abrió", "midió",
            "visitó", "cruzó", "estudió", "limpió", "compartió", "recibió",
        ),
        adverbs=("Ayer", "Cada mañana", "Más tarde", "De repente", "En invierno", "Mientras tanto"),
        prepositions=("bajo", "sobre", "tras", "entre", "hacia", "junto a", "frente a"),
        and_word="y",
        adjective_after_noun=True,
    ),
}
_LANGUAGE_NAMES = re.compile(r"\b(" + "|".join(OTHER_LANGUAGES) + r")\b")
_vocabulary: ContextVar[Vocabulary] = ContextVar("datafast_test_vocabulary", default=ENGLISH)


def vocabulary_for(prompt: str) -> Vocabulary:
    """The vocabulary of the first language other than English that `prompt` names, else English."""
    match = _LANGUAGE_NAMES.search(prompt)
    return OTHER_LANGUAGES[match.group(1)] if match else ENGLISH


@contextmanager
def writing_in(vocabulary: Vocabulary) -> Iterator[None]:
    """Generate text from `vocabulary` within this block (per asyncio task: a context variable)."""
    token = _vocabulary.set(vocabulary)
    try:
        yield
    finally:
        _vocabulary.reset(token)


def _noun_phrase(rng: random.Random) -> str:
    v = _vocabulary.get()
    noun = rng.choice(v.nouns)
    if v.article:
        noun = f"{v.article} {noun}"
    if rng.random() >= 0.6:
        return noun
    adjective = rng.choice(v.adjectives)
    if v.adjective_after_noun:
        return f"{noun} {adjective}"
    article, _, bare = noun.partition(" ")
    return f"{article} {adjective} {bare}"


def _clause(rng: random.Random) -> str:
    v = _vocabulary.get()
    subject = _noun_phrase(rng)
    obj = _noun_phrase(rng)
    roll = rng.random()
    if roll < 0.4 or (roll < 0.75 and not v.prepositions):
        return f"{subject} {rng.choice(v.verbs)} {obj}"
    if roll < 0.75:
        return f"{subject} {rng.choice(v.verbs)} {obj} {rng.choice(v.prepositions)} {_noun_phrase(rng)}"
    return f"{subject} {rng.choice(v.verbs)} {obj} {v.and_word} {rng.choice(v.verbs)} {_noun_phrase(rng)}"


def sentence(rng: random.Random) -> str:
    """One capitalised sentence of roughly 5 to 20 words, ending in a full stop."""
    v = _vocabulary.get()
    body = _clause(rng)
    if rng.random() < 0.3:
        if v is OTHER_LANGUAGES["German"]:  # verb second: the adverb goes after the verb
            words = body.split(" ")
            verb_at = 4 if words[1] in v.adjectives else 3
            body = " ".join([*words[:verb_at], rng.choice(v.adverbs), *words[verb_at:]])
        else:
            body = f"{rng.choice(v.adverbs)}, {body}"
    if rng.random() < 0.25:
        body = f"{body}, {v.and_word} {_clause(rng)}"
    return body[0].upper() + body[1:] + "."


def paragraph(rng: random.Random, sentences: int = 2) -> str:
    """Several sentences joined by spaces."""
    return " ".join(sentence(rng) for _ in range(max(1, sentences)))


def short_phrase(rng: random.Random, max_len: int) -> str:
    """A few words that fit in ``max_len`` characters (used for tightly bounded strings)."""
    v = _vocabulary.get()
    text = " ".join([rng.choice(v.adjectives), rng.choice(v.nouns)])
    if len(text) > max_len:
        text = rng.choice(v.nouns)
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
