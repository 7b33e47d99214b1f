"""Language identification with py3langid, whose model ships inside the wheel (nothing is downloaded).
Loaded on first use (about a second) and shared."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@functools.cache
def known_languages() -> frozenset[str]:
    """The ISO 639-1 codes the identifier can name."""
    return frozenset(_identifier().labels)


def base_code(code: str) -> str:
    """The language part of a code: 'pt-BR' -> 'pt'."""
    return code.split("-", 1)[0].lower()


def identify(text: str) -> tuple[str, float]:
    """The most likely language of `text` (ISO 639-1 code) and its probability."""
    language, confidence = _identifier().classify(text)
    return str(language), float(confidence)


def ranked(text: str) -> list[tuple[str, float]]:
    """Every language the identifier knows (ISO 639-1 code) with its probability for `text`, most likely
    first."""
    return [(str(language), float(p)) for language, p in _identifier().rank(text)]
