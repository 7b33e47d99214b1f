"""GenericPipelineDataset end to end through the local LLM server; output columns or a Pydantic model,
forwarded columns, literal substitution, bad input, and the CLI."""

import csv
import json
import os
from pathlib import Path
from typing import Literal

import pytest
from cli_run import run_datafast
from pydantic import BaseModel, Field, ValidationError

from datafast.datasets import GenericPipelineDataset
from datafast.errors import ConfigError
from datafast.llms import OpenAIProvider
from datafast.schema.config import GenericPipelineDatasetConfig, PromptExpansionConfig
from datafast.schema.data_rows import GenericPipelineRow

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "generic_pipeline.yaml"
ROWS = [
    {"id": "p1", "name": "kettle", "notes": "steel, 1.7 l", "price": 30},
    {"id": "p2", "name": "toaster {0.__class__}", "notes": "two slots {name}", "price": 25},
    {"id": "p3", "name": "blender", "notes": "glass jar", "price": 80},
]


class Verdict(BaseModel):
    """A user output model: typed fields, validated in every record."""

    headline: str = Field(min_length=1)
    stars: int = Field(ge=1, le=5)
    audience: Literal["students", "families", "chefs"]


def write_csv(path, rows):
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def pipeline_config(tmp_path, **overrides):
    values = {
        "local_file_path": str(write_csv(tmp_path / "products.csv", ROWS)),
        "input_columns": ["name", "notes"],
        "forward_columns": ["id", "price"],
        "output_columns": ["tagline", "description"],
        "prompts": ["Write {num_samples} taglines in {language_name} for a {name} ({notes})."],
        "num_samples_per_prompt": 2,
        "output_file": str(tmp_path / "out.jsonl"),
    }
    return GenericPipelineDatasetConfig(**{**values, **overrides})


def lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_output_columns_and_forwarded_columns_end_to_end(openai_env, tmp_path):
    config = pipeline_config(tmp_path, languages={"en": "English", "it": "Italian"})
    dataset = GenericPipelineDataset(config)
    llm = OpenAIProvider()
    assert dataset.get_num_expected_rows([llm]) == 3 * 2 * 2  # rows × languages × samples
    assert dataset.num_requests() == 6
    dataset.generate([llm], show_progress=False)

    records = lines(config.output_file)
    assert len(records) == len({r["uuid"] for r in records}) == 12
    for record in records:
        row = dataset.record_class.model_validate(record)  # exactly the declared fields
        GenericPipelineRow.model_validate(record)
        assert set(record) - set(GenericPipelineRow.model_fields) == {"id", "price", "tagline", "description"}
        assert row.tagline and row.description  # type: ignore[attr-defined]
        assert record["id"] == record["document_id"]  # forwarded from its own row (the id column is its id)
        assert record["price"] == {"p1": "30", "p2": "25", "p3": "80"}[record["id"]]  # CSV cells are text
    log = openai_env.requests()
    assert len(log) == 6
    prompts = {r.prompt_text for r in log}
    # values are inserted literally: neither str.format nor a second expansion pass touches them
    assert "Write 2 taglines in English for a toaster {0.__class__} (two slots {name})." in prompts
    assert "Write 2 taglines in Italian for a kettle (steel, 1.7 l)." in prompts


def test_a_user_pydantic_model_and_optional_placeholders(openai_env, tmp_path):
    config = pipeline_config(
        tmp_path,
        input_rows=ROWS,
        local_file_path=None,
        output_columns=None,
        output_model=Verdict,
        forward_columns=["name"],
        num_samples_per_prompt=1,
        prompts=["Review the {name} for {{audience}}.", "Judge the {name}: {notes}, {{audience}}."],
        expansion=PromptExpansionConfig(placeholders={"audience": ["students", "chefs"]}),
    )
    dataset = GenericPipelineDataset(config)
    assert dataset.get_num_expected_rows(OpenAIProvider()) == 3 * 2 * 2
    dataset.generate(OpenAIProvider(), show_progress=False)
    records = lines(config.output_file)
    assert len(records) == 12
    for record in records:
        row = dataset.record_class.model_validate(record)
        assert 1 <= row.stars <= 5 and row.audience in {"students", "families", "chefs"}  # type: ignore[attr-defined]
        assert record["name"] in {r["name"] for r in ROWS}
        assert record["placeholders"]["audience"] in {"students", "chefs"}
    assert [r["document_id"] for r in records].count("p1") == 4
    assert config.model_dump(mode="json")["output_model"] == "test_generic_pipeline.Verdict"


def test_records_that_break_the_output_model_are_refused():
    config = GenericPipelineDatasetConfig(
        input_rows=[{"a": "x"}], input_columns=["a"], output_model=Verdict, prompts=["{a}"]
    )
    model = GenericPipelineDataset(config).record_class
    common = {"uuid": "u", "request_id": "r", "dataset_type": "generic_pipeline", "model_id": "m", "language": "en"}
    good = {**common, "prompt_template": "{a}", "document_id": "0", "headline": "h", "stars": 3, "audience": "chefs"}
    assert model.model_validate(good)
    with pytest.raises(ValidationError, match="stars"):
        model.model_validate({**good, "stars": 9})
    with pytest.raises(ValidationError, match="extra"):
        model.model_validate({**good, "surprise": 1})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"prompts": ["Describe {name} and {colour}."]},
            r"unknown placeholder \{colour\}; allowed: \{name\}, \{notes\}",
        ),
        ({"prompts": ["Describe it in {language_name}."]}, r"uses none of input_columns.*\{name\}, \{notes\}"),
        ({"prompts": None}, "prompts is missing"),
        ({"output_model": Verdict}, "not both"),
        ({"output_columns": ["model_id"]}, "output field 'model_id' is a field every record already has"),
        ({"output_columns": ["id"]}, "'id' is both an output field and in forward_columns"),
        ({"output_columns": ["two words"]}, "'two words', which is not a valid name"),
        ({"input_columns": []}, "input_columns"),
        ({"input_columns": ["name", "num_samples"]}, "built-in placeholder"),
        ({"output_columns": None, "output_model": "no_such_module.Model"}, "cannot import 'no_such_module'"),
        ({"output_columns": None, "output_model": "json.dumps"}, "is not a Pydantic model class"),
        ({"output_columns": None, "output_model": "os.system('x')"}, "is not an import path"),
        ({"prompts": ["{name} {{style}}"]}, r"optional placeholder \{\{style\}\} but expansion.placeholders has no"),
        ({"languages": {"en": "English", "de": "German"}, "prompts": ["{name}"]}, r"\{language_name\}"),
    ],
)
def test_bad_config_is_refused_naming_the_field(tmp_path, overrides, message):
    with pytest.raises(ValidationError, match=message):
        pipeline_config(tmp_path, **overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"input_columns": ["name", "colour"], "prompts": ["{name} {colour}"]},
            "input_columns 'colour' is not a column",
        ),
        ({"forward_columns": ["sku"]}, "forward_columns 'sku' is not a column of .*; its columns are: id, name"),
    ],
)
def test_columns_missing_from_the_source_are_refused_before_any_request(openai_env, tmp_path, overrides, message):
    dataset = GenericPipelineDataset(pipeline_config(tmp_path, **overrides))  # reads nothing yet, as in 0.0.36
    with pytest.raises(ConfigError, match=message):
        dataset.generate(OpenAIProvider(), show_progress=False)
    assert openai_env.requests() == []


def test_an_empty_source_is_refused(tmp_path):
    (tmp_path / "empty.csv").write_text("name,notes\n")
    with pytest.raises(ConfigError, match=r"empty \(0 rows\)"):
        GenericPipelineDataset(
            pipeline_config(tmp_path, local_file_path=str(tmp_path / "empty.csv"))
        ).get_num_expected_rows()


def datafast_cli(*args, cwd=ROOT, env=None):
    return run_datafast(*args, cwd=cwd, env=env)


def test_example_config_plans_and_runs_through_the_cli(llm_server, tmp_path):
    text = EXAMPLE.read_text().replace("output_file: review_replies.jsonl", f"output_file: {tmp_path / 'o.jsonl'}")
    text = text.replace(
        "  - provider: openai\n    model_id: gpt-4.1-mini",
        f"  - provider: openai_compatible\n    model_id: m\n    api_base: {llm_server.openai_base}",
    )
    assert "openai_compatible" in text
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    plan = datafast_cli("plan", str(path))
    assert plan.returncode == 0, plan.stderr
    assert "generic_pipeline:" in plan.stdout and "16 rows in all" in plan.stdout
    assert llm_server.requests() == []
    result = datafast_cli("generate", str(path), "--no-progress")
    assert result.returncode == 0, result.stderr
    records = lines(tmp_path / "o.jsonl")
    assert len(records) == len({r["uuid"] for r in records}) == 16
    for record in records:
        GenericPipelineRow.model_validate(record)
        assert record["sentiment"] and record["customer_service_reply"]
        assert {"id", "product", "rating"} <= set(record) and "review" not in record
    assert {r["placeholders"]["tone"] for r in records} == {"warm and personal", "brief and professional"}
    assert len(llm_server.requests()) == 8


def test_a_yaml_config_names_its_output_model_by_import_path(llm_server, tmp_path):
    (tmp_path / "my_models.py").write_text(
        "from pydantic import BaseModel, Field\n\n"
        "class Summary(BaseModel):\n    summary: str\n    words: int = Field(ge=1, le=50)\n"
    )
    write_csv(tmp_path / "products.csv", ROWS)
    path = tmp_path / "c.yaml"
    path.write_text(
        "dataset_type: generic_pipeline\n"
        f"local_file_path: {tmp_path / 'products.csv'}\n"
        "input_columns: [name]\n"
        "output_model: my_models.Summary\n"
        "prompts: ['Summarise the {name}.']\n"
        f"output_file: {tmp_path / 's.jsonl'}\n"
        f"llms: [{{provider: openai_compatible, model_id: m, api_base: '{llm_server.openai_base}'}}]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = datafast_cli("generate", str(path), "--no-progress", env=env)
    assert result.returncode == 0, result.stderr
    records = lines(tmp_path / "s.jsonl")
    assert len(records) == 3 and all(1 <= r["words"] <= 50 and r["summary"] for r in records)

    path.write_text(path.read_text().replace("my_models.Summary", "my_models.Missing"))
    result = datafast_cli("generate", str(path), "--no-progress", env=env)
    assert result.returncode == 2
    assert "output_model 'my_models.Missing' is not a Pydantic model class" in " ".join(result.stderr.split())


def test_a_toml_config_loads_and_plans(llm_server, tmp_path):
    write_csv(tmp_path / "products.csv", ROWS)
    path = tmp_path / "c.toml"
    path.write_text(
        'dataset_type = "generic_pipeline"\n'
        f'local_file_path = "{tmp_path / "products.csv"}"\n'
        'input_columns = ["name", "notes"]\nforward_columns = ["id"]\noutput_columns = ["slogan"]\n'
        "num_samples_per_prompt = 3\n"
        'prompts = ["{num_samples} slogans in {language_name} for {name}: {notes}"]\n'
        f'output_file = "{tmp_path / "t.jsonl"}"\n'
        '[languages]\nen = "English"\nfr = "French"\n'
        f'[[llms]]\nprovider = "openai_compatible"\nmodel_id = "m"\napi_base = "{llm_server.openai_base}"\n'
    )
    config = GenericPipelineDatasetConfig.from_file(path)
    assert GenericPipelineDataset(config).get_num_expected_rows(OpenAIProvider(api_key="k")) == 3 * 2 * 3
    plan = datafast_cli("plan", str(path))
    assert plan.returncode == 0, plan.stderr
    assert "18 rows in all" in plan.stdout and "3 slogans in French for kettle: steel, 1.7 l" in plan.stdout
    assert llm_server.requests() == []
