"""Prompt expansion: parsing, literal rendering, counts, no-repeat sampling and seeded reproducibility."""

import itertools

from concept_examples import concept_raw
from hypothesis import given, settings
from hypothesis import strategies as st

from datafast.datasets import ClassificationDataset, RawDataset
from datafast.expansion import PromptTemplate, count_combinations, iter_combinations, sample_indices
from datafast.llms import OpenAICompatibleProvider
from datafast.schema.config import ClassificationDatasetConfig, PromptExpansionConfig

names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
value_lists = st.lists(st.text(min_size=1, max_size=5).filter(str.strip), min_size=1, max_size=4, unique=True)
placeholder_values = st.dictionaries(names, value_lists, min_size=0, max_size=4)


def test_parse_finds_both_kinds_and_ignores_non_identifiers():
    t = PromptTemplate.parse('Write {num_samples} about {{tone}} {"a": 1} {0.__class__} {x y}')
    assert t.mandatory == {"num_samples"}
    assert t.optional == {"tone"}


def test_render_is_literal_and_single_pass():
    t = PromptTemplate.parse("{label_name} / {{tone}} / {0.__class__} / {{ spaced }}")
    out = t.render({"label_name": "{label_name} {0}"}, {"tone": "{{tone}}"})
    assert out == "{label_name} {0} / {{tone}} / {0.__class__} / {{ spaced }}"


@given(placeholder_values)
def test_combinatorial_yields_every_combination_once(values):
    got = [tuple(c.values()) for c in iter_combinations(values, combinatorial=True, num_samples=1, seed="s")]
    expected = list(itertools.product(*values.values()))
    assert got == expected
    assert len(got) == count_combinations(values)


@given(st.integers(1, 60), st.integers(1, 200), st.text(max_size=8))
def test_sampling_has_no_repeat_until_all_drawn(total, n, seed):
    drawn = sample_indices(total, n, seed)
    assert len(drawn) == n
    assert all(0 <= i < total for i in drawn)
    for start in range(0, n, total):
        block = drawn[start : start + total]
        assert len(set(block)) == len(block)
    if n <= total:
        assert len(set(drawn)) == n


@given(placeholder_values, st.integers(1, 30), st.integers(0, 10**6))
def test_sampling_is_reproducible_under_a_seed(values, n, seed):
    def draw(s):
        return list(iter_combinations(values, combinatorial=False, num_samples=n, seed=str(s)))

    assert draw(seed) == draw(seed)


def test_sampling_huge_space_is_cheap():
    values = {f"p{i}": [str(j) for j in range(50)] for i in range(8)}  # 50**8 = 3.9e13 combinations
    drawn = list(iter_combinations(values, combinatorial=False, num_samples=1000, seed="x"))
    assert len({tuple(d.values()) for d in drawn}) == 1000


provider = OpenAICompatibleProvider("m", api_base="http://127.0.0.1:9/v1")


@settings(max_examples=40, deadline=None)
@given(
    classes=st.lists(names, min_size=1, max_size=3, unique=True),
    langs=st.sampled_from([{"en": "English"}, {"en": "English", "fr": "French"}]),
    tones=value_lists,
    audiences=value_lists,
    combinatorial=st.booleans(),
    n_random=st.integers(1, 12),
    n_samples=st.integers(1, 7),
)
def test_request_count_is_exact_and_known_before(classes, langs, tones, audiences, combinatorial, n_random, n_samples):
    config = ClassificationDatasetConfig(
        classes=[{"name": c, "description": f"about {c}"} for c in classes],
        languages=langs,
        num_samples_per_prompt=n_samples,
        prompts=[
            "{num_samples} {label_name} {language_name} {{tone}} {{audience}}",
            "{num_samples} {label_name} {language_name} {{tone}}",
            "{num_samples} {label_name} {language_name}",
        ],
        expansion=PromptExpansionConfig(
            placeholders={"tone": tones, "audience": audiences},
            combinatorial=combinatorial,
            num_random_samples=n_random,
        ),
    )
    dataset = ClassificationDataset(config)
    requests = list(dataset.prompt_requests())
    per_combo = (len(tones) * len(audiences) + len(tones) + 1) if combinatorial else 3 * n_random
    assert len(requests) == dataset.num_requests_per_provider() == per_combo * len(classes) * len(langs)
    assert dataset.get_num_expected_rows([provider]) == len(requests) * n_samples
    if combinatorial:
        assert len({r.prompt for r in requests}) == len(requests)  # distinct prompts, so distinct requests
    assert requests == list(ClassificationDataset(config).prompt_requests())


def test_concept_page_raw_example_counts():
    config = concept_raw()
    dataset = RawDataset(config)
    assert dataset.num_requests_per_provider() == 2 * 2 * 9
    assert dataset.get_num_expected_rows([provider, OpenAICompatibleProvider("m2", api_base="http://x")]) == 144
    first = next(dataset.prompt_requests())
    assert first.prompt == "Generate 2 research paper in English about AI with formal tone for beginners."
    assert first.placeholders["tone"] == "formal"


def test_random_sampling_differs_per_mandatory_combination_but_is_stable():
    config = ClassificationDatasetConfig(
        classes=[{"name": "a", "description": "x"}, {"name": "b", "description": "y"}],
        prompts=["{num_samples} {label_name} {{n}}"],
        expansion=PromptExpansionConfig(
            placeholders={"n": [str(i) for i in range(100)]}, combinatorial=False, num_random_samples=5, seed=7
        ),
    )
    reqs = list(ClassificationDataset(config).prompt_requests())
    a = [r.placeholders["n"] for r in reqs if r.fields["label"] == "a"]
    b = [r.placeholders["n"] for r in reqs if r.fields["label"] == "b"]
    assert len(set(a)) == 5 and a != b
    other_seed = config.model_copy(update={"expansion": config.expansion.model_copy(update={"seed": 8})})
    assert [r.prompt for r in ClassificationDataset(other_seed).prompt_requests()] != [r.prompt for r in reqs]
