"""The cleaning step: decides, one record at a time as a run writes them, whether a record is kept, and
keeps the dropped ones in a side file with the reason."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

from datafast.quality.language import base_code, identify, known_languages, ranked
from datafast.quality.text import duplicate_key, is_fragment, letter_share, words
from datafast.schema.cleaning import CleaningConfig

if TYPE_CHECKING:
    from datafast.quality.near_duplicates import NearDuplicateIndex

EMPTY: Final = "empty"
TRUNCATED: Final = "truncated"
NOT_TEXT: Final = "not_text"
FRAGMENT: Final = "fragment"
TOO_SHORT: Final = "too_short"
EXACT_DUPLICATE: Final = "exact_duplicate"
NEAR_DUPLICATE: Final = "near_duplicate"
WRONG_LANGUAGE: Final = "wrong_language"
RESTATES_LABEL: Final = "restates_label"
# In the order the rules are applied: a record is dropped for the first rule it breaks.
DROP_REASONS: Final = (
    EMPTY,
    TRUNCATED,
    NOT_TEXT,
    RESTATES_LABEL,
    FRAGMENT,
    TOO_SHORT,
    WRONG_LANGUAGE,
    EXACT_DUPLICATE,
    NEAR_DUPLICATE,
)
# Beyond the cleaning rules: under the judge's threshold (`judge:`), and failing a validator of the config
# (`validators:`), whose reason is `validator:<its name>`.
JUDGE: Final = "judge"
VALIDATOR_PREFIX: Final = "validator:"
# Flaws of a sampling accident, which asking the model again usually fixes. A cut-off text would be cut
# off again, and a model that ignores the language it is asked for tends to do so every time.
RESAMPLE_REASONS: Final = frozenset({EMPTY, NOT_TEXT, RESTATES_LABEL, FRAGMENT, TOO_SHORT})
# How much likelier than the asked language another one must be for a short text to be dropped as written
# in it. Measured with py3langid on 2 to 6 words under 40 characters: with English asked for, 1 of 2,769
# pieces of English prose was dropped (a fragment of code); of French and Spanish ones, 44 to 56%.
SHORT_TEXT_ODDS: Final = 100.0


def is_drop_reason(reason: str) -> bool:
    """Whether `reason` is one a record may be dropped for: a cleaning rule, the judge or a validator."""
    if reason in DROP_REASONS or reason == JUDGE:
        return True
    return reason.startswith(VALIDATOR_PREFIX) and len(reason) > len(VALIDATOR_PREFIX)


class RecordCleaner:
    """Online filter over a stream of texts, applying the rules of a `CleaningConfig` (see there for their
    exact definitions). `check` is called once per arriving record; kept texts are remembered so later
    duplicates of them are found. Not thread-safe: call it from one thread (the run's writer).

    The language rule needs py3langid's model and the duplicate rules numpy, loaded when first
    used (`datafast.quality.preload` loads them ahead in the background); the other rules need neither."""

    def __init__(self, config: CleaningConfig) -> None:
        self.config = config
        self._seen: set[bytes] = set()

    @functools.cached_property
    def _near(self) -> NearDuplicateIndex:
        from datafast.quality.near_duplicates import NearDuplicateIndex

        return NearDuplicateIndex(self.config.near_duplicate_threshold, self.config.near_duplicate_shingle_words)

    def remember(self, text: str) -> bool:
        """Seed with a record already kept (on resume, from the existing output file). True when a text
        remembered before is a near duplicate of it (always False with near duplicates not checked)."""
        if self.config.exact_duplicates:
            self._seen.add(duplicate_key(text))
        if not self.config.near_duplicates:
            return False
        minhash = self._near.signature(text)
        if minhash is None:
            return False
        repeated = self._near.find(minhash) is not None
        self._near.add(minhash)
        return repeated

    def check(
        self, text: str, *, language: str | None = None, label: str | None = None, truncated: bool = False
    ) -> str | None:
        """None = keep (and remember it for later duplicate checks); else the reason it is dropped:
        one of `DROP_REASONS`."""
        return self.flaw(text, language=language, label=label, truncated=truncated) or self.duplicate(text)

    def flaw(
        self, text: str, *, language: str | None = None, label: str | None = None, truncated: bool = False
    ) -> str | None:
        """The first rule the text breaks on its own (every rule but the duplicate ones; the language rule
        only given `language`), or None. Remembers nothing: a run uses it, without the language, to see
        whether an answer holds anything usable before taking it."""
        config = self.config
        tokens = words(text)
        if config.drop_empty and not tokens:
            return EMPTY
        if config.drop_truncated and truncated:
            return TRUNCATED
        if config.drop_non_text is not False and letter_share(text) < config.min_letter_share:
            return NOT_TEXT
        extra_words = config.label_restatement_max_extra_words
        if config.label_restatement and label and restates_label(tokens, label, extra_words):
            return RESTATES_LABEL
        if self._fragments and is_fragment(text):
            return FRAGMENT
        if len(tokens) < config.min_words:
            return TOO_SHORT
        return self.language_flaw(text, language)

    def language_flaw(self, text: str, language: str | None) -> str | None:
        """`wrong_language` when the rule is on and the text is confidently in another language than
        `language` (None: not checked); else None. The rule `flaw` applies last. A text shorter than
        `language_min_chars` is judged on a stricter bar, as the identifier is often unsure of a few
        words: another language must be at least an even bet and `SHORT_TEXT_ODDS` times likelier than
        `language` ("Très bien" or "Parfait pour le camping" where English is asked for)."""
        if not (self.config.wrong_language and language):
            return None
        expected = base_code(language)
        stripped = text.strip()
        if not stripped or expected not in known_languages():
            return None
        if len(stripped) >= self.config.language_min_chars:
            found, confidence = identify(text)
            return WRONG_LANGUAGE if found != expected and confidence >= self.config.language_min_confidence else None
        if len(words(stripped)) < 2:  # one word is too little to say anything
            return None
        ranking = ranked(stripped)
        (found, confidence), odds = ranking[0], dict(ranking)
        if found != expected and confidence >= 0.5 and confidence >= SHORT_TEXT_ODDS * odds.get(expected, 0.0):
            return WRONG_LANGUAGE
        return None

    @functools.cached_property
    def _fragments(self) -> bool:
        """Whether names, titles and lone words are dropped: `drop_fragments`, else as `drop_non_text`."""
        if self.config.drop_fragments is not None:
            return self.config.drop_fragments
        return self.config.drop_non_text is not False

    def duplicate(self, text: str) -> str | None:
        """`exact_duplicate` or `near_duplicate` when the text repeats a kept one; else None, and the text
        is remembered as kept."""
        config = self.config
        key = duplicate_key(text) if config.exact_duplicates else None
        if key is not None and key in self._seen:
            return EXACT_DUPLICATE
        minhash = self._near.signature_of_words(words(text)) if config.near_duplicates else None
        if minhash is not None and self._near.find(minhash) is not None:
            return NEAR_DUPLICATE
        if key is not None:
            self._seen.add(key)
        if minhash is not None:
            self._near.add(minhash)
        return None


def restates_label(tokens: list[str], label: str, max_extra_words: int) -> bool:
    """True when the words of `label` appear in `tokens` as a consecutive run and at most `max_extra_words`
    other words are there: "Positive!", "This is positive", "label: very negative" restate their label;
    "I felt positive about the whole trip" does not. Words are compared case-folded, so "very_negative"
    matches "Very negative"."""
    label_tokens = words(label)
    n = len(label_tokens)
    if not n or len(tokens) - n > max_extra_words:
        return False
    return any(tokens[i : i + n] == label_tokens for i in range(len(tokens) - n + 1))
