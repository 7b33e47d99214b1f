"""Samplers in `PromptExpansionConfig.placeholders` (issue #15): weighted values, sub-values, numbers and personas.

Property-based: over generated configs, the counts `get_num_expected_rows` and `plan` give are the prompts the
expansion makes and the records a run over the test server writes; draws are reproducible under a seed and
valid for their sampler; weighted draws match their weights. Plain lists expand exactly as before samplers.
"""

import hashlib
import itertools
import json
import math
import re
from collections import Counter
from pathlib import Path

import datasets.config
import huggingface_hub.constants
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FAST_RETRY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from datafast.datasets import ClassificationDataset, RawDataset
from datafast.datasets.personas import load_personas
from datafast.errors import ConfigError
from datafast.expansion.draws import PlaceholderDraws
from datafast.expansion.samplers import Listed, Normal, SubValues, Uniform, Weighted
from datafast.llms import OpenAICompatibleProvider, OpenAIProvider
from datafast.planning import plan_run
from datafast.quality import build_report
from datafast.schema.config import ClassificationDatasetConfig, PromptExpansionConfig, RawDatasetConfig
from datafast.schema.loading import load_dataset_config
from datafast.schema.placeholders import PersonaFile

PERSONAS = [f"a {job} who loves {hobby}" for job in ("baker", "pilot", "nurse", "poet") for hobby in ("chess", "tea")]
WORDS = ["calm", "angry", "ironic", "kids", "experts", "tents", "kayaks", "rivers", "maps", "owls"]
NAMES = ["p0", "p1", "p2", "p3"]
provider = OpenAICompatibleProvider("m", api_base="http://127.0.0.1:9/v1")


@pytest.fixture(scope="module")
def persona_file(tmp_path_factory):
    """A Parquet file of personas, with another column beside them (only `persona` is read)."""
    path = tmp_path_factory.mktemp("personas") / "personas.parquet"
    pq.write_table(pa.table({"id": list(range(len(PERSONAS))), "persona": PERSONAS}), path)
    return str(path)


# -- generated configs ------------------------------------------------------------------------------------

words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4, unique=True)
weights = st.floats(0.1, 10, allow_nan=False)


@st.composite
def values_strategy(draw):
    """Plain or weighted values."""
    chosen = draw(words)
    if draw(st.booleans()):
        return chosen
    return [{"value": value, "weight": draw(weights)} for value in chosen]


@st.composite
def sampler_specs(draw, persona_file=None):
    """`placeholders` of up to four names, each plain, weighted, dependent on an earlier one, a number or a
    persona, and the values each categorical one can take."""
    placeholders: dict = {}
    possible: dict[str, list[str]] = {}
    for name in NAMES[: draw(st.integers(0, len(NAMES)))]:
        kinds = ["values", "integers", "uniform", "normal"] + (["dependent"] if possible else [])
        kinds += ["personas"] if persona_file else []
        kind = draw(st.sampled_from(kinds))
        if kind == "values":
            placeholders[name] = draw(values_strategy())
            possible[name] = [v if isinstance(v, str) else v["value"] for v in placeholders[name]]
        elif kind == "dependent":
            parent = draw(st.sampled_from(sorted(possible)))
            subs = {value: draw(values_strategy()) for value in possible[parent]}
            placeholders[name] = {"depends_on": parent, "values": subs}
            possible[name] = sorted({v if isinstance(v, str) else v["value"] for sub in subs.values() for v in sub})
        elif kind == "integers":
            low = draw(st.integers(-50, 50))
            placeholders[name] = {"integers": [low, low + draw(st.integers(0, 30))]}
        elif kind == "uniform":
            decimals = draw(st.integers(0, 3))
            low = draw(st.integers(-100, 100))
            placeholders[name] = {"uniform": [low, low + draw(st.integers(1, 50))], "decimals": decimals}
        elif kind == "normal":
            mean = draw(st.integers(-20, 20))
            bounds = {"min": mean - draw(st.integers(1, 5)), "max": mean + draw(st.integers(1, 5))}
            placeholders[name] = {"normal": {"mean": mean, "std": draw(st.floats(0.5, 5))}, "decimals": 1}
            placeholders[name].update(bounds if draw(st.booleans()) else {})
        else:
            placeholders[name] = {"personas": {"file": persona_file}}
    return placeholders


@st.composite
def configs(draw, persona_file=None, output_file="dataset.jsonl"):
    placeholders = draw(sampler_specs(persona_file))
    names = list(placeholders)
    prompts = []
    for _ in range(draw(st.integers(1, 2))):
        used = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
        prompts.append(used)
    unused = [n for n in names if not any(n in used for used in prompts)]
    prompts[0] += unused
    classes = draw(st.lists(st.sampled_from(["pos", "neg", "mixed"]), min_size=1, max_size=2, unique=True))
    return ClassificationDatasetConfig(
        classes=[{"name": c, "description": f"about {c}"} for c in classes],
        languages=draw(st.sampled_from([{"en": "English"}, {"en": "English", "fr": "French"}])),
        num_samples_per_prompt=draw(st.integers(1, 3)),
        output_file=output_file,
        prompts=[
            f"Prompt {i}: write {{num_samples}} texts of class {{label_name}} in {{language_name}}. "
            + " ".join(f"{n}=<{{{{{n}}}}}>" for n in used)
            for i, used in enumerate(prompts)
        ],
        expansion=PromptExpansionConfig(
            placeholders=placeholders,
            combinatorial=draw(st.booleans()),
            num_random_samples=draw(st.integers(1, 6)),
            seed=draw(st.integers(0, 10**6)),
            max_samples=10**6,
        ),
    )


# -- an oracle: what each placeholder may take, and the listed combinations, computed from the config alone ----


def closure(config, names):
    """`names` and the placeholders they depend on."""
    found, pending = set(), list(names)
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            given = config.expansion.placeholders[name]
            if hasattr(given, "depends_on"):
                pending.append(given.depends_on)
    return sorted(found)


def is_listed(config, name):
    given = config.expansion.placeholders[name]
    if isinstance(given, list):
        return all(isinstance(v, str) for v in given)
    if hasattr(given, "depends_on"):
        plain = all(isinstance(v, str) for sub in given.values.values() for v in sub)
        return plain and is_listed(config, given.depends_on)
    return False


def value_ok(config, name, value, chosen):
    """Whether `value` is one `name`'s sampler can give, the other values being `chosen`."""
    given = config.expansion.placeholders[name]
    if isinstance(given, list):
        return value in [v if isinstance(v, str) else v.value for v in given]
    if hasattr(given, "depends_on"):
        sub = given.values[chosen[given.depends_on]]
        return value in [v if isinstance(v, str) else v.value for v in sub]
    if hasattr(given, "integers"):
        low, high = given.integers
        return re.fullmatch(r"-?\d+", value) is not None and low <= int(value) <= high
    if hasattr(given, "uniform") or hasattr(given, "normal"):
        pattern = r"-?\d+" + (rf"\.\d{{{given.decimals}}}" if given.decimals else "")
        if not re.fullmatch(pattern, value):
            return False
        low, high = given.uniform if hasattr(given, "uniform") else (given.min, given.max)
        return (low is None or float(value) >= low) and (high is None or float(value) <= high)
    return value in PERSONAS


def listed_combinations(config, names):
    """Every combination of the listed placeholders among `names` (sub-values only with their own parent)."""
    listed = [n for n in closure(config, names) if is_listed(config, n)]
    options = []
    for name in listed:
        given = config.expansion.placeholders[name]
        options.append(sorted({v for sub in given.values.values() for v in sub}) if hasattr(given, "values") else given)
    combos = []
    for values in itertools.product(*options):
        chosen = dict(zip(listed, values, strict=True))
        if all(value_ok(config, n, v, chosen) for n, v in chosen.items()):
            combos.append(tuple(sorted(chosen.items())))
    return combos


# -- counts, validity, reproducibility ------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_counts_are_exact_and_every_draw_is_valid_and_reproducible(data, persona_file):
    config = data.draw(configs(persona_file))
    dataset = ClassificationDataset(config)
    requests = list(dataset.prompt_requests())
    expansion = config.expansion
    mandatory = len(config.classes) * len(config.languages)
    per_combination = 0
    for template in config.templates():
        per_combination += (
            len(listed_combinations(config, template.optional))
            if expansion.combinatorial
            else expansion.num_random_samples
        )
    assert len(requests) == dataset.num_requests_per_provider() == per_combination * mandatory
    assert dataset.get_num_expected_rows([provider]) == len(requests) * config.num_samples_per_prompt

    for request in requests:
        template = next(t for t in config.templates() if t.text == request.template)
        drawn = {k: v for k, v in request.placeholders.items() if k in config.expansion.placeholders}
        assert sorted(drawn) == closure(config, template.optional)
        for name, value in drawn.items():
            assert isinstance(value, str) and value_ok(config, name, value, drawn), (name, value)
            if name in template.optional:
                assert f"{name}=<{value}>" in request.prompt
    if expansion.combinatorial:  # each listed combination once per template and class × language
        for template in config.templates():
            listed = [n for n in closure(config, template.optional) if is_listed(config, n)]
            got = [
                tuple(sorted((n, r.placeholders[n]) for n in listed))
                for r in requests
                if r.template == template.text and r.fields["label"] == config.classes[0].name and r.language == "en"
            ]
            assert sorted(got) == sorted(listed_combinations(config, template.optional))

    again = ClassificationDatasetConfig.model_validate(json.loads(config.model_dump_json()))
    assert list(ClassificationDataset(again).prompt_requests()) == requests


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_draw_does_not_change_when_unrelated_settings_do(data):
    """A drawn placeholder's k-th value stays when the number of draws grows or another sampler is added."""
    n = data.draw(st.integers(1, 20))
    seed = data.draw(st.integers(0, 10**6))
    base = {"age": {"integers": [0, 10**6]}, "tone": ["a", "b", "c"]}

    def ages(placeholders, num):
        config = RawDatasetConfig(
            document_types=["post"],
            topics=["AI"],
            prompts=["{num_samples} {document_type} {topic} " + " ".join(f"{{{{{k}}}}}" for k in placeholders)],
            expansion={"placeholders": placeholders, "combinatorial": False, "num_random_samples": num, "seed": seed},
        )
        return [r.placeholders["age"] for r in RawDataset(config).prompt_requests()]

    first = ages(base, n)
    assert ages(base, n + 7)[:n] == first
    assert ages({**base, "height": {"uniform": [1, 2], "decimals": 2}}, n) == first
    other_seed = RawDatasetConfig(
        document_types=["post"],
        topics=["AI"],
        prompts=["{num_samples} {document_type} {topic} {{age}} {{tone}}"],
        expansion={"placeholders": base, "combinatorial": False, "num_random_samples": 20, "seed": seed + 1},
    )
    assert [r.placeholders["age"] for r in RawDataset(other_seed).prompt_requests()] != ages(base, 20)


# -- weighted draws match their weights ------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    weights=st.lists(st.floats(0.05, 20, allow_nan=False), min_size=2, max_size=6),
    seed=st.text(max_size=6),
    combinatorial=st.booleans(),
)
def test_weighted_draws_match_their_weights_over_10000_draws(weights, seed, combinatorial):
    n = 10_000
    values = tuple(f"v{i}" for i in range(len(weights)))
    samplers = {"w": Weighted(values, tuple(weights))}
    if combinatorial:  # one draw for each of 10,000 listed combinations
        samplers["row"] = Listed(tuple(str(i) for i in range(n)))
    draws = PlaceholderDraws(samplers, samplers)
    counts = Counter(d["w"] for d in draws.iterate(combinatorial=combinatorial, num_samples=n, seed=seed))
    assert sum(counts.values()) == n
    total = sum(weights)
    for value, weight in zip(values, weights, strict=True):
        p = weight / total
        tolerance = 5 * math.sqrt(p * (1 - p) / n)  # five standard deviations
        assert abs(counts[value] / n - p) <= tolerance, (value, counts[value] / n, p)


def test_sub_values_come_only_from_their_parent_value_and_weights_shape_them():
    samplers = {
        "topic": Weighted(("AI", "climate"), (1.0, 3.0)),
        "sub": SubValues("topic", {"AI": Listed(("ml", "robots")), "climate": Weighted(("ice", "sea"), (1.0, 1.0))}),
    }
    draws = list(PlaceholderDraws(["sub"], samplers).iterate(combinatorial=False, num_samples=10_000, seed="s"))
    pairs = Counter((d["topic"], d["sub"]) for d in draws)
    assert set(pairs) == {("AI", "ml"), ("AI", "robots"), ("climate", "ice"), ("climate", "sea")}
    assert abs(sum(c for (t, _), c in pairs.items() if t == "climate") / 10_000 - 0.75) < 0.03


def test_numbers_stay_in_bounds_and_are_text_and_normal_keeps_its_shape():
    def many(sampler):
        return [d["x"] for d in PlaceholderDraws(["x"], {"x": sampler}).iterate(
            combinatorial=False, num_samples=10_000, seed="n"
        )]  # fmt: skip

    normal = [float(v) for v in many(Normal(10, 2, decimals=2))]
    assert abs(sum(normal) / len(normal) - 10) < 0.1
    assert abs(math.sqrt(sum((x - 10) ** 2 for x in normal) / len(normal)) - 2) < 0.1
    truncated = [float(v) for v in many(Normal(0, 1, low=-0.5, high=2.0, decimals=1))]
    assert min(truncated) >= -0.5 and max(truncated) <= 2.0 and {-0.5, 2.0} <= set(truncated)
    uniform = many(Uniform(-1, 1, decimals=0))
    assert set(uniform) == {"-1", "0", "1"}  # never "-0"


# -- plain lists: exactly as before samplers -------------------------------------------------------------

# sha256 of every prompt request's text, placeholders (and their order), draw, language and fields, as
# datafast made them before samplers existed (commit 75eaabc), for the configs below.
BEFORE_SAMPLERS = {
    "classification comb=True": "beb0c6365a25b025",
    "raw comb=True": "58dbf3ea874d1684",
    "classification comb=False": "e9d706ca251a0175",
    "raw comb=False": "cb6bcaf8c7b67ac2",
}


def request_digest(dataset):
    digest = hashlib.sha256()
    for r in dataset.prompt_requests():
        fields = [str(r.prompt), r.placeholders, list(r.placeholders), r.draw, r.language, r.fields]
        digest.update(json.dumps(fields).encode())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize("combinatorial", [True, False])
def test_plain_lists_expand_exactly_as_before_samplers(combinatorial):
    placeholders = {"tone": ["calm", "angry", "ironic"], "audience": ["kids", "experts"]}
    classification = ClassificationDatasetConfig(
        classes=[{"name": c, "description": f"about {c}"} for c in ("pos", "neg", "mixed")],
        languages={"en": "English", "fr": "French"},
        num_samples_per_prompt=3,
        prompts=[
            "{num_samples} {label_name} {language_name} {{tone}} {{audience}}",
            "{num_samples} {label_name} {language_name} {{tone}}",
            "{num_samples} {label_name} {language_name}",
        ],
        expansion=PromptExpansionConfig(
            placeholders=placeholders, combinatorial=combinatorial, num_random_samples=7, seed=11
        ),
    )
    raw = RawDatasetConfig(
        document_types=["blog post", "email"],
        topics=["AI", "climate"],
        prompts=["Write {num_samples} {document_type} about {topic} with {{z}} {{a}} {{m}}"],
        expansion=PromptExpansionConfig(
            placeholders={"z": [str(i) for i in range(5)], "a": ["x", "y"], "m": ["p", "q", "r"]},
            combinatorial=combinatorial,
            num_random_samples=40,
        ),
    )
    assert (
        request_digest(ClassificationDataset(classification)) == BEFORE_SAMPLERS[f"classification comb={combinatorial}"]
    )
    assert request_digest(RawDataset(raw)) == BEFORE_SAMPLERS[f"raw comb={combinatorial}"]
    # The config's dump (the run's fingerprint) is what it was too: plain lists stay plain lists.
    assert classification.expansion.model_dump(mode="json") == {
        "placeholders": placeholders,
        "combinatorial": combinatorial,
        "num_random_samples": 7,
        "max_samples": 1000,
        "seed": 11,
    }


# -- errors name the placeholder, before anything is sent --------------------------------------------------


@pytest.mark.parametrize(
    ("placeholders", "message"),
    [
        ({"t": [{"value": "a", "weight": 0}]}, "placeholder 't', value [0]: weight: Input should be greater than 0"),
        ({"t": ["a", {"value": "b", "weight": 1}]}, "placeholder 't' mixes plain values and {value, weight}"),
        ({"t": {"uniform": [3, 1]}}, "placeholder 't' (uniform): uniform: [3, 1] must be [low, high]"),
        ({"t": {"uniform": [0.05, 1], "decimals": 1}}, "low 0.05 has more decimals than decimals=1"),
        ({"t": {"normal": {"mean": 0, "std": 1}, "min": 50, "max": 60}}, "has almost no draws"),
        ({"t": {"integers": [1, 5, 10]}}, "placeholder 't' (integers): integers takes [low, high]"),
        ({"t": {"personas": {"file": "p.xlsx"}}}, "placeholder 't' (personas): file 'p.xlsx': unsupported file type"),
        ({"t": {"personas": {}}}, "give exactly one of file"),
        ({"t": {"range": [1, 2]}}, "placeholder 't' is a mapping with keys range"),
        ({"t": {"depends_on": "u", "values": {"a": ["x"]}}}, "placeholder 't' depends on 'u', which has no values"),
        ({"t": {"depends_on": "u", "values": {"a": ["x"]}}, "u": ["a", "b"]}, "has no values for u='b'"),
        (
            {"t": {"depends_on": "u", "values": {"a": ["x"], "b": ["y"], "bb": ["z"]}}, "u": ["a", "b"]},
            "gives values under 'bb', not a value of 'u' (did you mean 'b'?)",
        ),
        ({"t": {"depends_on": "u", "values": {"a": ["x"]}}, "u": {"integers": [1, 2]}}, "whose values are drawn"),
        (
            {"t": {"depends_on": "u", "values": {"a": ["x"]}}, "u": {"depends_on": "t", "values": {"x": ["a"]}}},
            "depends_on cycle",
        ),
    ],
)
def test_bad_samplers_are_config_errors_naming_the_placeholder(placeholders, message):
    with pytest.raises(ValidationError) as error:
        PromptExpansionConfig(placeholders=placeholders)
    assert message in str(error.value)


def test_a_parent_used_only_through_its_sub_values_counts_as_used():
    config = RawDatasetConfig(
        document_types=["post"],
        topics=["AI"],
        prompts=["{num_samples} {document_type} {topic} {{sub}}"],
        expansion={
            "placeholders": {"area": ["a", "b"], "sub": {"depends_on": "area", "values": {"a": ["x"], "b": ["y", "z"]}}}
        },
    )
    requests = list(RawDataset(config).prompt_requests())
    assert [(r.placeholders["area"], r.placeholders["sub"]) for r in requests] == [("a", "x"), ("b", "y"), ("b", "z")]


# -- personas ---------------------------------------------------------------------------------------------


def persona_config(path, output_file, **expansion):
    return ClassificationDatasetConfig(
        classes=[{"name": "pos", "description": "happy"}, {"name": "neg", "description": "sad"}],
        num_samples_per_prompt=2,
        output_file=str(output_file),
        prompts=["Write {num_samples} {label_name} reviews of {{product}} as written by {{persona}}, aged {{age}}."],
        expansion={
            "placeholders": {
                "persona": {"personas": {"file": str(path), "column": "persona"}},
                "product": [{"value": "a tent", "weight": 3}, {"value": "a kayak", "weight": 1}],
                "age": {"integers": [18, 80]},
            },
            **expansion,
        },
    )


def test_personas_from_a_local_parquet_file_end_to_end(openai_env, persona_file, tmp_path):
    config = persona_config(persona_file, tmp_path / "out.jsonl", combinatorial=False, num_random_samples=12)
    dataset = ClassificationDataset(config)
    llm = OpenAIProvider()
    expected = dataset.get_num_expected_rows([llm])
    plan = plan_run(dataset, [llm])
    assert expected == plan.total_rows == 2 * 12 * 2
    openai_env.reset()
    dataset.generate([llm], show_progress=False, retry=FAST_RETRY)

    sent = openai_env.requests()
    assert len(sent) == dataset.num_requests() == 24
    for request in sent:
        persona = re.search(r"as written by (.*), aged (\d+)\.", request.prompt_text)
        assert persona is not None and persona.group(1) in PERSONAS and 18 <= int(persona.group(2)) <= 80
    assert len({r.prompt_text for r in sent}) > 12  # drawn per label and draw
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(records) == len(dataset.data_rows) == expected
    assert all(r["placeholders"]["persona"] in PERSONAS for r in records)

    spread = dataset.report["placeholder_spread"]
    assert spread["persona"]["records"] == expected and spread["persona"]["top"][0]["value"] in PERSONAS
    assert 18 <= spread["age"]["numeric"]["min"] <= spread["age"]["numeric"]["max"] <= 80
    assert sum(spread["age"]["numeric"]["histogram"]["counts"]) == expected
    saved = json.loads((tmp_path / "out.datafast" / "report.json").read_text())
    assert saved["placeholder_spread"]["product"]["distinct"] <= 2

    again = ClassificationDataset(
        persona_config(persona_file, tmp_path / "out.jsonl", combinatorial=False, num_random_samples=12)
    )
    openai_env.reset()
    again.generate([llm], show_progress=False, retry=FAST_RETRY)
    assert openai_env.requests() == [] and len(again.data_rows) == expected  # the same draws: resumed


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".txt"])
def test_personas_from_other_local_files(tmp_path, suffix):
    path = tmp_path / f"p{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps({"persona": p, "n": 1}) + "\n" for p in PERSONAS) + '{"persona": ""}\n')
    elif suffix == ".csv":
        path.write_text("n,persona\n" + "".join(f'1,"{p}"\n' for p in PERSONAS))
    else:
        path.write_text("\n".join(PERSONAS) + "\n\n")
    assert list(load_personas(PersonaFile(file=str(path)))) == PERSONAS


def test_personas_from_a_hugging_face_dataset_read_only_at_run_time(tmp_path, monkeypatch):
    folder = tmp_path / "persona_hub"
    folder.mkdir()
    pq.write_table(pa.table({"persona": PERSONAS, "other": PERSONAS[::-1]}), folder / "train.parquet")
    config = persona_config(tmp_path / "unused.parquet", tmp_path / "out.jsonl")
    placeholders = {**config.expansion.placeholders, "persona": {"personas": {"hf_dataset": str(folder)}}}
    config = config.model_copy(update={"expansion": PromptExpansionConfig(placeholders=placeholders)})
    assert ClassificationDataset(config).num_requests_per_provider() == 2
    requests = list(ClassificationDataset(config).prompt_requests())
    assert all(r.placeholders["persona"] in PERSONAS for r in requests)

    unreachable = {**placeholders, "persona": {"personas": {"hf_dataset": "no-such-org/no-such-personas"}}}
    broken = config.model_copy(update={"expansion": PromptExpansionConfig(placeholders=unreachable)})
    dataset = ClassificationDataset(broken)  # building and counting read nothing
    assert dataset.get_num_expected_rows([provider]) == 4
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match="personas: cannot load Hugging Face dataset 'no-such-org/no-such-personas'"):
        next(dataset.prompt_requests())


def test_a_missing_persona_file_or_column_fails_the_run_before_any_request(openai_env, persona_file, tmp_path):
    missing = ClassificationDataset(persona_config(tmp_path / "nope.parquet", tmp_path / "a.jsonl"))
    assert missing.get_num_expected_rows([OpenAIProvider()]) == 4
    with pytest.raises(ConfigError, match=r"personas: file '.*nope.parquet' not found"):
        missing.generate([OpenAIProvider()], show_progress=False)
    config = persona_config(persona_file, tmp_path / "b.jsonl")
    placeholders = {**config.expansion.placeholders, "persona": {"personas": {"file": persona_file, "column": "bio"}}}
    config = config.model_copy(update={"expansion": PromptExpansionConfig(placeholders=placeholders)})
    with pytest.raises(ConfigError, match=r"column 'bio' is not in file .*; its columns are: id, persona"):
        ClassificationDataset(config).generate([OpenAIProvider()], show_progress=False)
    assert openai_env.requests() == []


def test_a_yaml_config_with_samplers_and_a_persona_file_beside_it(tmp_path, monkeypatch, persona_file):
    folder = tmp_path / "configs"
    folder.mkdir()
    Path(folder / "people.parquet").write_bytes(Path(persona_file).read_bytes())
    (folder / "c.yaml").write_text(
        """
dataset_type: text
document_types: [post]
topics: [AI, climate]
prompts: ["Write {num_samples} {document_type} on {topic} about {{subtopic}} for {{persona}} ({{age}}, {{height}} m)"]
expansion:
  combinatorial: true
  placeholders:
    area: [AI, climate]
    subtopic:
      depends_on: area
      values: {AI: [robots, ml], climate: [{value: ice, weight: 2}, {value: sea, weight: 1}]}
    persona: {personas: {file: people.parquet}}
    age: {integers: [18, 80]}
    height: {normal: {mean: 1.7, std: 0.1}, min: 1.4, max: 2.1, decimals: 2}
"""
    )
    monkeypatch.chdir(tmp_path)
    config, _ = load_dataset_config(folder / "c.yaml")
    dataset = RawDataset(config)
    requests = list(dataset.prompt_requests())
    # area is listed; subtopic has weights under climate, so it is drawn: one prompt per area per topic
    assert len(requests) == dataset.num_requests_per_provider() == 2 * 2
    allowed = {"AI": {"robots", "ml"}, "climate": {"ice", "sea"}}
    assert sorted(r.placeholders["area"] for r in requests) == ["AI", "AI", "climate", "climate"]
    assert all(r.placeholders["subtopic"] in allowed[r.placeholders["area"]] for r in requests)
    assert all(r.placeholders["persona"] in PERSONAS for r in requests)


# -- counts against a run over the test server --------------------------------------------------------------


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_configs_make_exactly_the_records_counted(data, openai_env, persona_file, tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "out.jsonl"
    config = data.draw(configs(persona_file, output_file=str(output)))
    config = config.model_copy(update={"cleaning": config.cleaning.model_copy(update={"near_duplicates": False})})
    dataset = ClassificationDataset(config)
    llm = OpenAIProvider()
    expected = dataset.get_num_expected_rows([llm])
    assert plan_run(dataset, [llm]).total_rows == expected
    before = len(openai_env.requests())
    dataset.generate([llm], show_progress=False, retry=FAST_RETRY)
    assert len(openai_env.requests()) - before == dataset.num_requests()
    assert len(output.read_text().splitlines()) == len(dataset.data_rows) == expected
    assert dataset.report["total"] == expected


def test_report_of_drawn_values(persona_file):
    records = [
        {"text": f"text {i}", "placeholders": {"age": str(20 + i % 5), "persona": PERSONAS[i % 3]}} for i in range(100)
    ]
    spread = build_report(records, "text")["placeholder_spread"]
    assert spread["age"]["numeric"] == {
        "min": 20,
        "max": 24,
        "mean": 22,
        "std": pytest.approx(1.414214, abs=1e-5),
        "median": 22,
        "histogram": {
            "edges": [20, 20.4, 20.8, 21.2, 21.6, 22, 22.4, 22.8, 23.2, 23.6, 24],
            "counts": [20, 0, 20, 0, 0, 20, 0, 20, 0, 20],
        },
    }
    assert spread["persona"]["distinct"] == 3 and sum(e["records"] for e in spread["persona"]["top"]) == 100
    texts = [{"text": f"text {i}", "placeholders": {"persona": f"p{i}"}} for i in range(3000)]
    many = build_report(texts, "text")
    assert many["placeholder_spread"]["persona"]["distinct"] is None
    assert "persona" not in many["placeholders"]
