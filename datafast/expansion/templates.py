"""Prompt templates: finding `{mandatory}` and `{{optional}}` placeholders and filling them in literally.

Only a brace pair around a Python identifier is a placeholder; anything else in braces (`{"a": 1}`,
`{0.__class__}`) is plain text. Substitution is one pass over the template, so a value that itself
contains `{label_name}` is inserted as is and never expanded again, and `str.format` is never involved.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


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

    def render(self, mandatory: Mapping[str, str], optional: Mapping[str, str]) -> str:
        """Fill every placeholder; a name without a value raises KeyError (a bug: configs are checked first)."""

        def fill(match: re.Match[str]) -> str:
            if match.group(1) is not None:
                return optional[match.group(1)]
            return mandatory[match.group(2)]

        return _PLACEHOLDER.sub(fill, self.text)


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
