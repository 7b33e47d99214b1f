"""Config validation and loading: every user mistake is a clear error naming the field or placeholder."""

import pytest
from concept_examples import concept_classification
from pydantic import ValidationError

from datafast.errors import ConfigError
from datafast.schema.config import ClassificationDatasetConfig, PromptExpansionConfig, RawDatasetConfig
from datafast.schema.loading import load_dataset_config

CLASSES = [{"name": "positive", "description": "happy"}, {"name": "negative", "description": "sad"}]


def classification(**overrides):
    return ClassificationDatasetConfig(**{"classes": CLASSES, **overrides})


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"prompts": ["{num_samples} {label_name} {product}"]},
            "unknown placeholder {product}; allowed: {num_samples}",
        ),
        ({"prompts": ["Write {num_samples} texts"]}, "missing the mandatory placeholder {label_name}"),
        ({"prompts": ["{label_name} texts"]}, "missing the mandatory placeholder {num_samples}"),
        (
            {"prompts": ["{num_samples} {label_name}"], "languages": {"en": "English", "fr": "French"}},
            "missing the mandatory placeholder {language_name}",
        ),
        ({"prompts": ["{num_samples} {label_name} {{tone}}"]}, "expansion.placeholders has no values for 'tone'"),
        (
            {"prompts": ["{num_samples} {label_name} {{tone}}"], "expansion": {"placeholders": {"tones": ["calm"]}}},
            "no values for 'tone'; is 'tones' a typo for it?",
        ),
        ({"prompts": ["{num_samples} {labelname}"]}, "unknown placeholder {labelname} (did you mean {label_name}?)"),
        (
            {"expansion": PromptExpansionConfig(placeholders={"tone": ["calm"]})},
            "gives values for 'tone' but no prompt uses {{tone}}",
        ),
        ({"expansion": {"placeholders": {"tone": []}}}, "placeholder 'tone' has no values"),
        ({"expansion": {"placeholders": {"tone": ["a", "a"]}}}, "lists the value 'a' twice"),
        ({"classes": []}, "give at least one class"),
        ({"classes": [{"name": "a", "description": "x"}, {"name": "a", "description": "y"}]}, "'a' appears twice"),
        ({"classes": [{"name": "a"}]}, "classes.0.description"),
        ({"num_samples_per_prompt": 0}, "num_samples_per_prompt"),
        ({"languages": {"english": "English"}}, "language code 'english' is not a valid ISO 639 code"),
        ({"languages": {"EN": "English"}}, "language code 'EN'"),
        ({"languages": {}}, "at least one language"),
        ({"prompts": []}, "prompts is an empty list"),
        ({"promtps": ["x"]}, "promtps"),
        (
            {
                "prompts": ["{num_samples} {label_name} {{a}} {{b}}"],
                "expansion": {"placeholders": {"a": [str(i) for i in range(40)], "b": [str(i) for i in range(40)]}},
            },
            "expands to 1600 combinations",
        ),
    ],
)
def test_bad_classification_config_names_the_problem(overrides, expected):
    with pytest.raises(ValidationError) as info:
        classification(**overrides)
    assert expected in str(info.value)


def test_optional_placeholder_written_with_single_braces_gets_a_hint():
    with pytest.raises(ValidationError, match=r"write it as \{\{tone\}\}"):
        classification(prompts=["{num_samples} {label_name} {tone}"], expansion={"placeholders": {"tone": ["calm"]}})


def test_literal_braces_in_prompts_are_allowed():
    config = classification(prompts=['Answer like {"text": "..."} for {label_name}, {num_samples} times {0.x}'])
    assert config.templates()[0].mandatory == {"label_name", "num_samples"}


def test_raw_config_errors():
    with pytest.raises(ValidationError, match="topics is empty"):
        RawDatasetConfig(document_types=["blog"], topics=[])
    with pytest.raises(ValidationError, match=r"missing the mandatory placeholder \{topic\}"):
        RawDatasetConfig(document_types=["blog"], topics=["AI"], prompts=["{num_samples} {document_type}"])


def test_concept_page_classification_example_validates():
    config = concept_classification()
    assert config.dataset_type == "text_classification"
    assert len(config.templates()) == 1


def test_assignment_is_validated():
    config = classification()
    with pytest.raises(ValidationError):
        config.num_samples_per_prompt = 0


YAML = """
dataset_type: raw_text
document_types: [blog post]
topics: [AI]
num_samples_per_prompt: 2
prompts: ["Write {num_samples} {document_type} about {topic} for {{audience}}"]
expansion:
  placeholders: {audience: [kids, experts]}
llms:
  - provider: openai_compatible
    model_id: m
    api_base: http://127.0.0.1:1/v1
"""

TOML = """
dataset_type = "text_classification"
num_samples_per_prompt = 3
[[classes]]
name = "spam"
description = "unwanted mail"
[[llms]]
provider = "ollama"
"""


def test_yaml_and_toml_load(tmp_path):
    (tmp_path / "c.yaml").write_text(YAML)
    config, llms = load_dataset_config(tmp_path / "c.yaml")
    assert isinstance(config, RawDatasetConfig) and config.expansion.placeholders["audience"] == ["kids", "experts"]
    assert llms[0]["provider"] == "openai_compatible"
    assert RawDatasetConfig.from_yaml(tmp_path / "c.yaml") == config
    (tmp_path / "c.toml").write_text(TOML)
    config, llms = load_dataset_config(tmp_path / "c.toml")
    assert isinstance(config, ClassificationDatasetConfig) and config.classes[0].name == "spam"
    assert ClassificationDatasetConfig.from_toml(tmp_path / "c.toml") == config


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.yaml", None, "config file not found"),
        ("c.json", "{}", "unsupported config file type '.json'"),
        ("c.yaml", "classes: [\n", "not valid YAML"),
        ("c.toml", "x = ", "not valid TOML"),
        ("c.yaml", "- a\n- b\n", "top level must be a mapping"),
        ("c.yaml", "classes: []\n", "dataset_type is missing"),
        ("c.yaml", "dataset_type: poems\n", "dataset_type 'poems' is unknown"),
        ("c.yaml", "dataset_type: text_classification\nclasses: []\n", "c.yaml: classes: give at least one class"),
        ("c.yaml", "dataset_type: raw_text\ntopics: [a]\ndocument_types: [b]\ntopic: x\n", "topic: unknown field"),
        ("c.yaml", b"\xff\xfe\x00bad", "cannot read config file"),
    ],
)
def test_unreadable_or_invalid_config_file(tmp_path, name, content, expected):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("(", r"\(")):
        load_dataset_config(path)


def test_directory_instead_of_file(tmp_path):
    folder = tmp_path / "c.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_dataset_config(folder)


def test_a_relative_local_file_path_is_also_found_beside_the_config_file(tmp_path, monkeypatch):
    from datafast.schema.loading import load_dataset_config

    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "docs.jsonl").write_text('{"text": "A document about rivers and their deltas."}\n')
    config = folder / "mcq.yaml"
    config.write_text("dataset_type: mcq\nlocal_file_path: data/docs.jsonl\ntext_column: text\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    loaded, _ = load_dataset_config(config)
    assert loaded.local_file_path == str(folder / "data" / "docs.jsonl")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "docs.jsonl").write_text('{"text": "x"}\n')
    assert load_dataset_config(config)[0].local_file_path == "data/docs.jsonl"  # the working directory first
