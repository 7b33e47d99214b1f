"""`expand_prompts`, Datafast 0.0.36's prompt expansion, over datafast's own (`datafast.expansion`).

A template's placeholders are the names of `placeholders` it contains, as `{name}` (0.0.36's templates, whose
`{{name}}` had already become `{name}`) or `{{name}}` (datafast's). Values are put in literally: other braces
stay as they are, and `str.format` is never used on the text.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from datafast.expansion import PromptTemplate, count_combinations, iter_combinations


def expand_prompts(
    prompt_templates: Sequence[str],
    placeholders: Mapping[str, Sequence[str]],
    combinatorial: bool = True,
    num_random_samples: int = 1,
    max_samples: int = 1000,
    seed: int | None = None,
) -> list[tuple[str, dict[str, str]]]:
    """Each template filled with combinations of the `placeholders` it uses, with the values chosen.

    `combinatorial=True`: every combination, template by template (the last placeholder varying fastest); a
    ValueError when there are more than `max_samples` in all. `combinatorial=False`: `num_random_samples`
    prompts, going round the templates, each template's drawn without repeating a combination until all have
    been drawn (0.0.36 drew with repeats); `seed` makes the draws reproducible (None: different each call, as
    in 0.0.36). `seed` also lets `**PromptExpansionConfig(...).model_dump()` be passed as in 0.0.36."""
    templates = [PromptTemplate.parse(t) for t in prompt_templates]
    if not templates:
        return []
    used = [[n for n in placeholders if n in t.mandatory or n in t.optional] for t in templates]
    if combinatorial:
        total = sum(count_combinations({n: placeholders[n] for n in names}) for names in used)
        if total > max_samples:
            raise ValueError(
                f"the templates expand to {total} prompts, above max_samples={max_samples}; raise max_samples "
                "or use combinatorial=False with num_random_samples"
            )
        counts = [0] * len(templates)  # not used: every combination
    else:
        if num_random_samples > max_samples:
            raise ValueError(f"num_random_samples ({num_random_samples}) is above max_samples ({max_samples})")
        n = len(templates)
        counts = [len(range(i, num_random_samples, n)) for i in range(n)]
    base_seed = random.randrange(2**32) if seed is None else seed
    per_template: list[list[tuple[str, dict[str, str]]]] = []
    for i, (template, names) in enumerate(zip(templates, used, strict=True)):
        values = {n: list(placeholders[n]) for n in names}
        draws = iter_combinations(values, combinatorial=combinatorial, num_samples=counts[i], seed=f"{base_seed}:{i}")
        per_template.append([(_fill(template, chosen), chosen) for chosen in draws])
    if combinatorial:
        return [prompt for prompts in per_template for prompt in prompts]
    # Round the templates, as 0.0.36 did: prompt k comes from template k % n.
    return [per_template[k % len(templates)][k // len(templates)] for k in range(num_random_samples)]


def _fill(template: PromptTemplate, chosen: Mapping[str, str]) -> str:
    """`template` with the chosen values in, whichever brace style names them; any other placeholder stays."""
    mandatory = {n: chosen.get(n, "{" + n + "}") for n in template.mandatory}
    optional = {n: chosen.get(n, "{{" + n + "}}") for n in template.optional}
    return template.render(mandatory, optional)


__all__ = ["expand_prompts"]
