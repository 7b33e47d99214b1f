"""Prompt templates: finding `{mandatory}` and `{{optional}}` placeholders and filling them in literally.

Only a brace pair around a Python identifier is a placeholder; anything else in braces (`{"a": 1}`,
`{0.__class__}`) is plain text. Substitution is one pass over the template, so a value that itself
contains `{label_name}` is inserted as is and never expanded again, and `str.format` is never involved.

A rendered prompt is a `Prompt`: a `str` that also knows how many of its leading characters are the template's
own text before its first placeholder, the part every prompt of the template shares (what a provider's prefix
cache can reuse). Everything that takes a `str` takes it unchanged.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Prompt(str):
    """A rendered prompt: its text, and `fixed`, the length of its leading part that is the template's literal
    text (the same in every prompt rendered from that template, whatever the values). It is a `str` in every
    other respect: hashing, comparing and JSON give the text alone, so it changes no work key."""

    __slots__ = ("fixed",)
    fixed: int

    def __new__(cls, text: str, fixed: int = 0) -> Prompt:
        prompt = super().__new__(cls, text)
        prompt.fixed = max(0, min(fixed, len(text)))
        return prompt

    def __reduce__(self) -> tuple[type[Prompt], tuple[str, int]]:
        return Prompt, (str(self), self.fixed)

    @property
    def fixed_prefix(self) -> str:
        """The leading text every prompt of its template shares."""
        return str(self)[: self.fixed]


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt with its placeholder names: `mandatory` ones (`{x}`) and `optional` ones (`{{x}}`)."""

    text: str
    mandatory: frozenset[str]
    optional: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> PromptTemplate:
        mandatory: set[str] = set()
        optional: set[str] = set()
        for match in _PLACEHOLDER.finditer(text):
            if match.group(1) is not None:
                optional.add(match.group(1))
            else:
                mandatory.add(match.group(2))
        return cls(text=text, mandatory=frozenset(mandatory), optional=frozenset(optional))

    @property
    def fixed_prefix(self) -> str:
        """The template's text before its first placeholder: every prompt rendered from it starts so."""
        match = _PLACEHOLDER.search(self.text)
        return self.text if match is None else self.text[: match.start()]

    def render(self, mandatory: Mapping[str, str], optional: Mapping[str, str]) -> Prompt:
        """Fill every placeholder; a name without a value raises KeyError (a bug: configs are checked first)."""

        def fill(match: re.Match[str]) -> str:
            if match.group(1) is not None:
                return optional[match.group(1)]
            return mandatory[match.group(2)]

        return Prompt(_PLACEHOLDER.sub(fill, self.text), len(self.fixed_prefix))


def check_template(
    template: PromptTemplate,
    *,
    where: str,
    allowed: Mapping[str, str],
    required: set[str],
    optional_values: Mapping[str, object],
) -> None:
    """Raise ValueError naming the first problem of `template`.

    `allowed` maps each mandatory name the dataset type fills to a short description; `required` are the
    ones this config needs; `optional_values` are the `{{names}}` the expansion config gives values for.
    """
    unknown = sorted(template.mandatory - allowed.keys())
    if unknown:
        known = ", ".join("{" + name + "}" for name in allowed)
        hint = ""
        close = difflib.get_close_matches(unknown[0], list(allowed), n=1)
        if unknown[0] in optional_values:
            hint = f" (it has values in expansion.placeholders: write it as {{{{{unknown[0]}}}}})"
        elif close:
            hint = f" (did you mean {{{close[0]}}}?)"
        raise ValueError(f"{where} uses unknown placeholder {{{unknown[0]}}}{hint}; allowed: {known}")
    missing = sorted(required - template.mandatory)
    if missing:
        raise ValueError(
            f"{where} is missing the mandatory placeholder {{{missing[0]}}} ({allowed[missing[0]]}); "
            "every prompt must contain " + ", ".join("{" + n + "}" for n in sorted(required))
        )
    without_values = sorted(template.optional - optional_values.keys())
    if without_values:
        name = without_values[0]
        close = difflib.get_close_matches(name, [n for n in optional_values if n not in template.optional], n=1)
        fix = f"is '{close[0]}' a typo for it?" if close else f"add e.g. placeholders={{'{name}': ['...', '...']}}"
        raise ValueError(
            f"{where} uses optional placeholder {{{{{name}}}}} but expansion.placeholders has no values "
            f"for '{name}'; {fix}"
        )
