"""What the cleaning step drops from a run's output, each rule switchable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

# The settings that are fractions (above 0, at most 1), with what each one is.
_FRACTION_HINTS = {
    "near_duplicate_threshold": "it is a Jaccard similarity, above 0 and at most 1 (e.g. 0.8)",
    "language_min_confidence": "use a probability above 0 and at most 1 (e.g. 0.9)",
    "min_letter_share": "use a share above 0 and at most 1 (e.g. 0.5)",
}


class CleaningConfig(BaseModel):
    """Which records the cleaning step drops as they arrive. Dropped records go to a side file
    (`<name>.dropped.jsonl`) with the reason, never silently lost.

    - `drop_empty`: text with no letter or digit (blank, or punctuation only).
    - `drop_truncated`: the answer was cut off at the token limit (finish reason `length`).
    - `drop_non_text`: letters of words (in any script, with their marks; not those inside codes and IDs)
      are under `min_letter_share` of the non-space characters: dates, numbers, product codes, hashes,
      emoji strings ("2021-09-23 13:17", "185.25%", "SKU AARM-38363986").
      Unset, it is on, except for the generic pipeline, whose outputs may be numbers or code.
    - `drop_fragments`: a text with no sentence in it, in a script with capital letters: no sentence
      punctuation, and one word that is capitalised or not a plain word ("Rachel", "Nahiru3D", "n/S/S"),
      or two to four words that all begin with a capital ("Emily Carter", "The Water Bottle"), or a
      string of codes (under a quarter of lowercase words, a third or more holding digits or symbols:
      "Twini Para Ski 800 (S-Birch) - Porsche 911, 2021"): a name, a title or a code where prose was
      asked for. "ok", "Great! 👍", "Sold out" and "Not bad at all" are kept (see
      `datafast.quality.text.is_fragment`). Unset, it follows `drop_non_text`; switch it off for a
      dataset of names or short titles.
    - `min_words`: fewer words than this (0, off, by default; e.g. 4 drops "Sold out" from a set of
      reviews).
    - `label_restatement` (classification): the text contains the label name as a run of consecutive words
      and has at most `label_restatement_max_extra_words` other words ("Positive.", "This is positive").
    - `wrong_language`: the language identifier names another language than the record's with confidence of
      at least `language_min_confidence`. A text shorter than `language_min_chars` characters is judged on a
      stricter bar, the identifier being unsure of a few words: at least two words, and another language
      at least an even bet and 100 times likelier than the record's ("Très bien" in an English dataset;
      "Merci beaucoup" is too unsure to drop). Languages the identifier does not know are never judged.
    - `exact_duplicates`: same text as an earlier kept record after normalisation (Unicode NFKC, case folded,
      punctuation removed, whitespace collapsed).
    - `near_duplicates`: estimated Jaccard similarity of at least `near_duplicate_threshold` with an earlier
      kept record, over word shingles of `near_duplicate_shingle_words` words (MinHash LSH).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    drop_empty: bool = True
    drop_truncated: bool = True
    drop_non_text: bool | None = None
    min_letter_share: float = 0.5
    drop_fragments: bool | None = None
    min_words: int = 0
    label_restatement: bool = True
    label_restatement_max_extra_words: int = 3
    wrong_language: bool = True
    language_min_chars: int = 40
    language_min_confidence: float = 0.9
    exact_duplicates: bool = True
    near_duplicates: bool = True
    near_duplicate_threshold: float = 0.8
    near_duplicate_shingle_words: int = 3

    @field_validator(*_FRACTION_HINTS)
    @classmethod
    def _check_fraction(cls, value: float, info: ValidationInfo) -> float:
        if not 0 < value <= 1:
            raise ValueError(f"{info.field_name} is {value}: {_FRACTION_HINTS[str(info.field_name)]}")
        return value

    @field_validator("language_min_chars", "near_duplicate_shingle_words")
    @classmethod
    def _check_positive(cls, value: int, info: object) -> int:
        if value < 1:
            raise ValueError(f"{getattr(info, 'field_name', 'value')} is {value}: use a whole number of at least 1")
        return value

    @field_validator("label_restatement_max_extra_words", "min_words")
    @classmethod
    def _check_not_negative(cls, value: int, info: object) -> int:
        if value < 0:
            raise ValueError(f"{getattr(info, 'field_name', 'value')} is {value}: use 0 or more")
        return value
