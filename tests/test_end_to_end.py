"""Datasets generated end to end: datafast → LiteLLM → real HTTP → the local LLM server, for every provider."""

import json
import logging

import pytest
from concept_examples import concept_classification, concept_raw
from conftest import FAST_RETRY

from datafast.datasets import ClassificationDataset, RawDataset
from datafast.engine import RetryPolicy
from datafast.errors import ConfigError, MissingAPIKeyError, ProviderError
from datafast.llms import (
    AnthropicProvider,
    GeminiProvider,
    OllamaProvider,
    OpenAICompatibleProvider,
    OpenAIProvider,
)
from datafast.schema.data_rows import TextClassificationRow, TextRow
from datafast.testing import key_hash

PLANTED_KEY = "sk-planted-SECRET-0123456789abcdef"
# The requests for French texts of the class 'negative', in the default prompt.
NEGATIVE_FRENCH = "Class: 'negative': Text expressing negative emotions\n\nWrite 5 such texts in French"


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def openai_env(llm_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base)
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    return llm_server


def test_concept_classification_example_by_openai_base_url_alone(openai_env, tmp_path):
    dataset = ClassificationDataset(concept_classification(tmp_path / "sentiment.jsonl"))
    llm = OpenAIProvider()
    expected = dataset.get_num_expected_rows([llm])
    assert expected == 2 * 2 * 5
    dataset.generate([llm], show_progress=False)

    assert len(dataset.data_rows) == expected
    lines = read_jsonl(tmp_path / "sentiment.jsonl")
    assert len(lines) == expected
    rows = [TextClassificationRow.model_validate(line) for line in lines]
    assert {(r.label, r.language) for r in rows} == {(lab, g) for lab in ("positive", "negative") for g in ("en", "fr")}
    assert len({r.uuid for r in rows}) == expected
    assert all(r.model_id == "gpt-4.1-mini" and r.dataset_type == "text_classification" for r in rows)
    assert rows[0].placeholders["label_name"] in ("positive", "negative")
    log = openai_env.requests()
    assert len(log) == 4 and {r.protocol for r in log} == {"openai"} and all(r.schema_requested for r in log)
    assert {r.api_key_sha256 for r in log} == {key_hash(PLANTED_KEY)}
    assert any("French" in r.prompt_text for r in log)


def test_concept_raw_example_with_optional_placeholders(openai_env, tmp_path):
    dataset = RawDataset(concept_raw(tmp_path / "raw.jsonl"))
    llm = OpenAIProvider()
    dataset.generate(llm, show_progress=False)
    assert len(dataset.data_rows) == dataset.get_num_expected_rows([llm]) == 36 * 2
    rows = [TextRow.model_validate(line) for line in read_jsonl(tmp_path / "raw.jsonl")]
    assert len(rows) == 72
    combos = {(r.document_type, r.topic, r.placeholders["tone"], r.placeholders["audience"]) for r in rows}
    assert len(combos) == 36
    sent = {r.prompt_text for r in openai_env.requests()}
    assert "Generate 2 blog post in English about climate change with casual tone for experts." in sent


@pytest.mark.parametrize(
    ("make_provider", "protocol"),
    [
        (
            lambda s, mp: (mp.setenv("ANTHROPIC_BASE_URL", s.url), AnthropicProvider(api_key=PLANTED_KEY))[1],
            "anthropic",
        ),
        (
            lambda s, mp: AnthropicProvider("claude-3-5-haiku-latest", api_key=PLANTED_KEY, api_base=s.url),
            "anthropic",
        ),
        (lambda s, mp: (mp.setenv("GEMINI_API_BASE", s.url), GeminiProvider(api_key=PLANTED_KEY))[1], "gemini"),
        (lambda s, mp: (mp.setenv("OLLAMA_HOST", s.url.removeprefix("http://")), OllamaProvider())[1], "ollama"),
        (lambda s, mp: OpenAICompatibleProvider("my-vllm-model", api_base=s.openai_base), "openai"),
        (
            lambda s, mp: (mp.setenv("OPENAI_COMPATIBLE_BASE_URL", s.openai_base), OpenAICompatibleProvider("m"))[1],
            "openai",
        ),
    ],
    ids=["anthropic-output-format", "anthropic-tool-call", "gemini", "ollama", "openai-compatible", "compat-env"],
)
def test_every_provider_end_to_end(llm_server, monkeypatch, tmp_path, make_provider, protocol):
    llm = make_provider(llm_server, monkeypatch)
    dataset = ClassificationDataset(concept_classification(tmp_path / "out.jsonl"))
    dataset.generate([llm], show_progress=False)
    assert len(read_jsonl(tmp_path / "out.jsonl")) == dataset.get_num_expected_rows([llm]) == 20
    log = llm_server.requests()
    assert {r.protocol for r in log} == {protocol} and len(log) == 4
    assert {r.model for r in log} == {llm.model_id}


def test_several_providers_in_one_run(llm_server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base)
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    llms = [
        OpenAIProvider(),
        AnthropicProvider(api_key="sk-ant-test-000000", api_base=llm_server.url),
        GeminiProvider(api_key="gm-test-00000000", api_base=llm_server.url),
        OllamaProvider(api_base=llm_server.url),
    ]
    dataset = RawDataset(concept_raw(tmp_path / "raw.jsonl"))
    dataset.generate(llms, show_progress=False)
    assert len(dataset.data_rows) == dataset.get_num_expected_rows(llms) == 36 * 4 * 2
    assert llm_server.stats().by_protocol == {"openai": 36, "anthropic": 36, "gemini": 36, "ollama": 36}
    assert {r.model_id for r in dataset.data_rows} == {llm.model_id for llm in llms}


def test_rerun_resumes_without_sending_again(openai_env, tmp_path):
    path = tmp_path / "out.jsonl"
    ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    before = path.read_bytes()
    again = ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    assert len(openai_env.requests()) == 4
    assert path.read_bytes() == before
    assert len(again.data_rows) == 20


def test_a_new_dataset_object_reads_an_earlier_runs_records_without_running(openai_env, tmp_path):
    path = tmp_path / "out.jsonl"
    assert ClassificationDataset(concept_classification(path)).data_rows == []  # no file yet
    made = ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    later = ClassificationDataset(concept_classification(path))
    assert [r.uuid for r in later.data_rows] == [r.uuid for r in made.data_rows] and len(later.data_rows) == 20
    later.to_jsonl(tmp_path / "copy.jsonl")
    assert (tmp_path / "copy.jsonl").read_text() == path.read_text()
    assert len(openai_env.requests()) == 4


def test_records_lost_after_the_store_commit_are_rebuilt_without_asking_again(openai_env, tmp_path):
    path = tmp_path / "out.jsonl"
    ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    original = sorted(path.read_text().splitlines())
    lines = path.read_text().splitlines(keepends=True)
    # Keep the first request's records (5 lines) and half of the next line, as a crash mid-write would.
    path.write_text("".join(lines[:5]) + lines[5][: len(lines[5]) // 2])
    openai_env.reset()
    dataset = ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    assert openai_env.requests() == []  # the answers are in the run store
    assert sorted(path.read_text().splitlines()) == original
    assert len(dataset.data_rows) == 20


def test_changed_config_with_the_same_output_is_refused_then_overwritten(openai_env, tmp_path):
    path = tmp_path / "out.jsonl"
    ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    changed = concept_classification(path).model_copy(update={"num_samples_per_prompt": 2})
    with pytest.raises(ConfigError, match="holds records of a different config"):
        ClassificationDataset(changed).generate(OpenAIProvider(), show_progress=False)
    assert len(openai_env.requests()) == 4
    dataset = ClassificationDataset(changed).generate(OpenAIProvider(), show_progress=False, overwrite=True)
    assert len(read_jsonl(path)) == len(dataset.data_rows) == 8


def test_an_output_file_that_cannot_be_written_is_a_clear_error_before_any_request(openai_env, tmp_path):
    (tmp_path / "a_folder.jsonl").mkdir()
    (tmp_path / "a_file").write_text("")
    cases = [("a_folder.jsonl", "is a folder; name a file in it"), ("a_file/out.jsonl", "cannot be made")]
    for output, message in cases:
        with pytest.raises(ConfigError, match=f"output_file .*{message}"):
            ClassificationDataset(concept_classification(tmp_path / output)).generate(
                OpenAIProvider(), show_progress=False
            )
    assert openai_env.requests() == []


def test_invalid_json_once_is_repaired(openai_env, tmp_path):
    openai_env.set_behavior(script=["malformed"], script_match="negative")
    dataset = ClassificationDataset(concept_classification(tmp_path / "out.jsonl"))
    dataset.generate(OpenAIProvider(), show_progress=False)
    assert len(dataset.data_rows) == 20 and not dataset.failures
    outcomes = [r.outcome for r in openai_env.requests()]
    assert outcomes.count("malformed") == 1 and len(outcomes) == 5
    repair = [r for r in openai_env.requests() if "could not be used" in r.prompt_text]
    assert len(repair) == 1 and "not valid JSON" in repair[0].prompt_text


def test_invalid_json_twice_is_asked_again_fresh_and_every_row_comes_in_one_run(openai_env, tmp_path):
    path = tmp_path / "out.jsonl"
    openai_env.set_behavior(script=["malformed", "malformed"], script_match=NEGATIVE_FRENCH)
    dataset = ClassificationDataset(concept_classification(path))
    dataset.generate(OpenAIProvider(), show_progress=False, retry=FAST_RETRY)
    assert not dataset.failures and len(read_jsonl(path)) == 20
    negative_fr = [r for r in openai_env.requests() if NEGATIVE_FRENCH in r.prompt_text]
    # the answer, its repair, then a fresh request
    assert [r.outcome for r in negative_fr] == ["malformed", "malformed", "ok"]


def test_invalid_json_past_the_attempts_fails_that_request_and_keeps_the_rest(openai_env, tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"earlier": "line kept"}\n')
    openai_env.set_behavior(script=["malformed"] * 4, script_match=NEGATIVE_FRENCH)
    dataset = ClassificationDataset(concept_classification(path))
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)
    with pytest.raises(ConfigError, match="not written by datafast"):
        dataset.generate(OpenAIProvider(), show_progress=False, retry=policy)
    path.unlink()
    dataset.generate(OpenAIProvider(), show_progress=False, retry=policy)
    assert len(dataset.failures) == 1
    failure = dataset.failures[0]
    assert failure.kind == "invalid_response" and "did not validate twice" in failure.reason
    assert "negative" in failure.prompt
    assert len(read_jsonl(path)) == 15
    paid_for_valid = sum(r.completion_tokens for r in openai_env.requests() if r.outcome == "ok")
    assert dataset.stats.completion_tokens > paid_for_valid
    # A rerun asks only for what is missing.
    openai_env.reset()
    ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    assert len(openai_env.requests()) == 1 and len(read_jsonl(path)) == 20


def test_truncated_answer_without_a_token_limit_is_repaired(openai_env, tmp_path):
    openai_env.set_behavior(script=["truncated"])
    dataset = ClassificationDataset(concept_classification(tmp_path / "out.jsonl"))
    dataset.generate(OpenAIProvider(), show_progress=False)
    assert len(dataset.data_rows) == 20
    repair = [r for r in openai_env.requests() if "cut off at the token limit" in r.prompt_text]
    assert len(repair) == 1


def test_answer_cut_off_at_the_token_limit_is_asked_again_with_twice_the_budget(openai_env, tmp_path):
    openai_env.set_behavior(script=["truncated"], script_match="negative")
    dataset = ClassificationDataset(concept_classification(tmp_path / "out.jsonl"))
    dataset.generate(OpenAIProvider(max_completion_tokens=700), show_progress=False)
    assert len(dataset.data_rows) == 20 and not dataset.failures
    requests = openai_env.requests()
    cut = [r for r in requests if r.outcome == "truncated"]
    assert len(cut) == 1 and len(requests) == 5
    again = [r for r in requests if r.prompt_text == cut[0].prompt_text and r is not cut[0]]
    assert [r.max_tokens for r in again] == [1400] and cut[0].max_tokens == 700
    assert not any("could not be used" in r.prompt_text for r in requests)


def test_transient_faults_are_retried_and_nothing_is_lost(openai_env, tmp_path):
    openai_env.set_behavior(rate_500=0.2, rate_429=0.1, rate_drop=0.1, retry_after_s=0.05, seed=3)
    dataset = RawDataset(concept_raw(tmp_path / "raw.jsonl"))
    dataset.generate(OpenAIProvider(), show_progress=False, retry=FAST_RETRY)
    assert not dataset.failures
    assert len(read_jsonl(tmp_path / "raw.jsonl")) == 72
    stats = openai_env.stats()
    assert stats.by_outcome["ok"] == 36 and stats.total > 36
    assert dataset.stats.retries == stats.total - 36


def test_missing_api_key_is_a_clear_error_before_any_request(llm_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base)
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        OpenAIProvider()
    with pytest.raises(MissingAPIKeyError, match="ANTHROPIC_API_KEY"):
        AnthropicProvider()
    with pytest.raises(MissingAPIKeyError, match="GEMINI_API_KEY"):
        GeminiProvider()
    assert llm_server.requests() == []


def test_api_key_never_leaks(openai_env, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    openai_env.set_behavior(script=["malformed", "malformed", "500"])
    llm = OpenAIProvider()
    assert PLANTED_KEY not in repr(llm) and PLANTED_KEY not in str(llm.generation_params())
    dataset = ClassificationDataset(concept_classification(tmp_path / "out.jsonl"))
    dataset.generate(llm, show_progress=False, retry=FAST_RETRY)
    assert PLANTED_KEY not in (tmp_path / "out.jsonl").read_text()
    assert PLANTED_KEY not in caplog.text
    assert all(PLANTED_KEY not in f.reason for f in dataset.failures)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PLANTED_KEY.encode() not in path.read_bytes(), path


def test_unreachable_server_gives_up_with_the_reason(monkeypatch, tmp_path):
    llm = OpenAICompatibleProvider("m", api_base="http://127.0.0.1:9/v1", api_key=PLANTED_KEY, timeout=2)
    dataset = ClassificationDataset(concept_classification(tmp_path / "out.jsonl"))
    with pytest.raises(ProviderError, match="4 of 4 requests failed") as info:
        dataset.generate(llm, show_progress=False, retry=FAST_RETRY)
    assert PLANTED_KEY not in str(info.value)
    assert all(f.kind == "transient" for f in dataset.failures)


def test_provider_sync_generate(openai_env):
    from pydantic import BaseModel

    class Answer(BaseModel):
        city: str
        population: int

    answer = OpenAIProvider().generate("Biggest city in France?", response_format=Answer)
    assert isinstance(answer, Answer)
    assert isinstance(OpenAIProvider().generate(messages=[{"role": "user", "content": "hi"}]), str)
