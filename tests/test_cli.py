"""The `datafast` command, run as a real process against the local LLM server."""

import json

import pytest
from cli_run import run_datafast

CONFIG = """
dataset_type: text_classification
classes:
  - {{name: spam, description: "Unwanted commercial email"}}
  - {{name: ham, description: "Normal personal or work email"}}
num_samples_per_prompt: 3
output_file: {output}
prompts:
  - "Write {{num_samples}} {{{{length}}}} emails of class {{label_name}}: {{label_description}}."
expansion:
  placeholders:
    length: [short, long]
llms:
  - provider: openai_compatible
    model_id: my-model
    api_base: {base}
    temperature: 0.9
"""


def run_cli(*args, env_extra=None):
    return run_datafast(*args, env=env_extra)


@pytest.fixture
def config_file(llm_server, tmp_path):
    path = tmp_path / "spam.yaml"
    path.write_text(CONFIG.format(output=tmp_path / "spam.jsonl", base=llm_server.openai_base))
    return path


def test_generate_writes_the_dataset(llm_server, config_file, tmp_path):
    result = run_cli("generate", str(config_file))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "spam.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * 3
    assert {r["label"] for r in rows} == {"spam", "ham"}
    assert {r["placeholders"]["length"] for r in rows} == {"short", "long"}
    assert "12 records" in result.stdout and "4 requests done, 0 failed" in result.stdout
    assert len(llm_server.requests()) == 4
    again = run_cli("generate", str(config_file))
    assert again.returncode == 0 and len(llm_server.requests()) == 4
    assert "0 requests done, 4 resumed from an earlier run, 0 failed" in again.stdout


def test_plan_shows_counts_prompts_and_cost(llm_server, config_file):
    result = run_cli("plan", str(config_file), "--samples", "2")
    assert result.returncode == 0, result.stderr
    assert "4 requests per provider" in result.stdout
    assert "openai_compatible/my-model" in result.stdout
    assert "Write 3 short emails of class spam: Unwanted commercial email." in result.stdout
    assert "not in LiteLLM's price map" in result.stdout
    assert llm_server.requests() == []


def test_plan_prices_a_known_model(llm_server, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        CONFIG.format(output=tmp_path / "o.jsonl", base=llm_server.openai_base).replace(
            "provider: openai_compatible\n    model_id: my-model", "provider: openai\n    model_id: gpt-4.1-mini"
        )
    )
    result = run_cli("plan", str(path), env_extra={"OPENAI_API_KEY": "sk-test-000000"})
    assert result.returncode == 0, result.stderr
    assert "$0.0" in result.stdout


def test_plan_needs_no_api_key_and_says_which_one_generate_will_need(llm_server, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        CONFIG.format(output=tmp_path / "o.jsonl", base=llm_server.openai_base).replace(
            "provider: openai_compatible\n    model_id: my-model", "provider: openai\n    model_id: gpt-4.1-mini"
        )
    )
    result = run_cli("plan", str(path))
    assert result.returncode == 0, result.stderr
    assert "$0.0" in result.stdout
    assert "openai/gpt-4.1-mini: no API key set; generate will need OPENAI_API_KEY" in result.stdout
    generate = run_cli("generate", str(path))
    assert generate.returncode == 2 and "OPENAI_API_KEY" in generate.stderr
    assert f"with no key: datafast generate {path} --llm local" in generate.stderr
    assert llm_server.requests() == []


def test_a_provider_built_for_planning_never_sends(llm_server, tmp_path):
    from datafast.datasets import RawDataset
    from datafast.errors import ProviderError
    from datafast.llms.registry import providers_from_specs
    from datafast.schema.config import RawDatasetConfig

    (llm,) = providers_from_specs([{"provider": "openai"}], "test", require_keys=False)
    assert llm.plan_only
    config = RawDatasetConfig(document_types=["memo"], topics=["x"], output_file=str(tmp_path / "o.jsonl"))
    with pytest.raises(ProviderError, match="has no API key"):
        RawDataset(config).generate(llm, show_progress=False)
    assert llm_server.requests() == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("dataset_type: text_classification\nclasses: []\n", "classes: give at least one class"),
        (
            "dataset_type: raw_text\ndocument_types: [a]\ntopics: [b]\nllms: [{provider: openai, api_key: sk-1}]\n",
            "do not put api_key in a config file; set OPENAI_API_KEY",
        ),
        ("dataset_type: raw_text\ndocument_types: [a]\ntopics: [b]\nllms: [{provider: mistrall}]\n", "'mistrall'"),
        ("dataset_type: raw_text\ndocument_types: [a]\ntopics: [b]\nllms: [{provider: openai}]\n", "OPENAI_API_KEY"),
        (
            "dataset_type: raw_text\ndocument_types: [a]\ntopics: [b]\nllms: [{provider: ollama, temprature: 1}]\n",
            "unknown setting 'temprature'",
        ),
        (
            "dataset_type: raw_text\ndocument_types: [a]\ntopics: [b]\nllms: [{provider: ollama, temperature: 9}]\n",
            "temperature must be between 0.0 and 2.0",
        ),
        (
            "dataset_type: raw_text\ndocument_types: [a]\ntopics: [b]\n"
            "llms: [{provider: local, model_path: /no/m.gguf}]\n",
            "llms[0]: model_path: no model file at /no/m.gguf",
        ),
    ],
)
def test_bad_config_is_one_clear_line_not_a_traceback(tmp_path, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    result = run_cli("generate", str(path))
    assert result.returncode == 2
    assert expected in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_version(capsys):
    import datafast
    from datafast.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"datafast {datafast.__version__}"


def test_llm_options_replace_the_files_providers(llm_server, config_file, tmp_path, monkeypatch, capsys):
    from datafast.cli import main

    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", llm_server.openai_base)
    assert main(["plan", str(config_file), "--llm", "openai_compatible:model-a", "--llm", "openai_compatible:b"]) == 0
    out = capsys.readouterr().out
    assert "8 requests and 24 rows in all" in out and "my-model" not in out
    assert "openai_compatible/model-a" in out and "openai_compatible/b " in out

    assert main(["generate", str(config_file), "--llm", "openai_compatible:model-a", "--no-progress"]) == 0
    assert {r.model for r in llm_server.requests()} == {"model-a"} and len(llm_server.requests()) == 4
    assert len((tmp_path / "spam.jsonl").read_text().splitlines()) == 12


def test_llm_options_give_a_type_with_roles_one_provider_for_every_role(monkeypatch, capsys):
    from pathlib import Path

    from datafast.cli import main

    preference = Path(__file__).parent.parent / "examples" / "preference.yaml"
    monkeypatch.chdir(Path(__file__).parent.parent)  # the example names its input file from the repository root
    assert main(["plan", str(preference), "--llm", "ollama:qwen3"]) == 0
    out = capsys.readouterr().out
    for role in ("question", "chosen", "rejected", "judge"):
        assert f"ollama/qwen3 ({role})" in out

    assert main(["plan", str(preference), "--llm", "ollama:a", "--llm", "ollama:b"]) == 2
    assert "give --llm once and it takes every role" in " ".join(capsys.readouterr().err.split())


def test_an_unknown_llm_option_is_named(config_file, capsys):
    from datafast.cli import main

    assert main(["generate", str(config_file), "--llm", "openia:gpt-4.1-mini"]) == 2
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "--llm openia:gpt-4.1-mini: provider 'openia' is unknown; use one of: openai," in err
