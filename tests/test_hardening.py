"""Items of the hardening issue (#11), each test named after its item. Over real HTTP where a server is
involved."""

import asyncio
import io
import json
import time

import pytest
from concept_examples import concept_classification, concept_raw
from conftest import FAST_RETRY
from rich.console import Console

from datafast.datasets import ClassificationDataset, RawDataset
from datafast.engine import RetryPolicy
from datafast.engine.ledger import RunStats
from datafast.engine.progress import RunProgress
from datafast.engine.run import DatasetRun
from datafast.errors import ConfigError, ProviderError
from datafast.llms import (
    AnthropicProvider,
    GeminiProvider,
    OllamaProvider,
    OpenAICompatibleProvider,
    OpenAIProvider,
)
from datafast.schema.config import ClassificationDatasetConfig, RawDatasetConfig


def raw_config(path, n_topics=3):
    return RawDatasetConfig(
        document_types=["memo", "story"],
        topics=[f"topic {i}" for i in range(n_topics)],
        num_samples_per_prompt=1,
        output_file=str(path),
    )


def test_item_7_a_huge_retry_after_pauses_no_longer_than_the_policy_allows(llm_server, tmp_path):
    llm_server.set_behavior(script=["429", "429"], retry_after_s=999999)
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=2)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.3)
    started = time.monotonic()
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl")).generate(llm, show_progress=False, retry=policy)
    assert time.monotonic() - started < 10
    assert not dataset.failures and dataset.stats.succeeded == 6 and dataset.stats.rate_limited == 2


@pytest.mark.parametrize("name", ["/dev/null"])
def test_item_10_an_output_file_that_is_not_a_regular_file_is_refused_before_any_request(openai_env, name):
    config = ClassificationDatasetConfig(
        classes=[{"name": "a", "description": "x"}], num_samples_per_prompt=1, output_file=name
    )
    with pytest.raises(ConfigError, match="not a regular file"):
        ClassificationDataset(config).generate(OpenAIProvider(), show_progress=False, retry=FAST_RETRY)
    assert openai_env.requests() == []


def test_item_16_the_refusal_of_a_changed_config_names_the_cli_option_too(openai_env, tmp_path):
    path = tmp_path / "out.jsonl"
    RawDataset(raw_config(path)).generate(OpenAIProvider(), show_progress=False)
    with pytest.raises(ConfigError, match=r"overwrite=True\), or --overwrite on the command line"):
        RawDataset(raw_config(path, n_topics=4)).generate(OpenAIProvider(), show_progress=False)


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_item_17_anthropic_base_url_works_with_or_without_v1(llm_server, tmp_path, suffix):
    llm = AnthropicProvider(api_key="sk-ant-test", api_base=llm_server.url + suffix)
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl")).generate(llm, show_progress=False, retry=FAST_RETRY)
    assert not dataset.failures and dataset.stats.succeeded == 6
    assert {r.path for r in llm_server.requests()} == {"/v1/messages"}


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_item_8_an_html_page_instead_of_an_answer_is_asked_again_never_a_crash(llm_server, tmp_path, protocol):
    llm_server.set_behavior(script=["html", "html", "html"])
    llm = {
        "openai": lambda: OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=2),
        "anthropic": lambda: AnthropicProvider(api_key="sk-ant-test", api_base=llm_server.url, max_concurrency=2),
        "gemini": lambda: GeminiProvider(api_key="g-test", api_base=llm_server.url, max_concurrency=2),
    }[protocol]()
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl")).generate(llm, show_progress=False, retry=FAST_RETRY)
    assert not dataset.failures and dataset.stats.succeeded == 6
    assert llm_server.stats().by_outcome == {"html": 3, "ok": 6}
    assert dataset.stats.retries == 3


def test_item_8_past_the_attempts_only_that_request_fails_with_a_clear_reason(llm_server, tmp_path):
    llm_server.set_behavior(script=["html"] * 3, script_match="Document type: story\nTopic: topic 0\n")
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=2)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl")).generate(llm, show_progress=False, retry=policy)
    assert [f.kind for f in dataset.failures] == ["transient"]
    assert "unreadable answer" in dataset.failures[0].reason
    assert dataset.stats.succeeded == 5


def test_item_7_past_the_rate_limit_cap_the_provider_is_given_up_with_a_clear_reason(llm_server, tmp_path):
    llm_server.set_behavior(rate_429=1.0, retry_after_s=999999)
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=2)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.2, max_rate_limit_wait=1.0)
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"still rate limited after \ds without an answer .*run again later"):
        RawDataset(raw_config(tmp_path / "out.jsonl", n_topics=20)).generate(llm, show_progress=False, retry=policy)
    assert time.monotonic() - started < 10
    # Not one request after another waits its turn: the provider is given up as a whole.
    assert llm_server.stats().by_outcome["429"] < 40


def test_item_7_the_progress_line_says_why_a_provider_waits(llm_server, tmp_path):
    llm_server.set_behavior(script=["429"] * 2, retry_after_s=999999)
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=1)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.3)
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl"))
    run = DatasetRun(dataset, dataset.bindings(llm), show_progress=False, retry=policy)
    notices: list[str] = []
    run.stats.listener = lambda: notices.extend(run.stats.waiting.values())
    asyncio.run(run.execute())
    assert any("the server asks to wait 999999s" in n for n in notices)
    assert run.stats.waiting == {}


@pytest.mark.parametrize("example", ["classification", "raw"])
def test_item_6_a_provider_with_a_fifth_of_its_answers_malformed_gives_every_row_in_one_run(
    llm_server, tmp_path, example
):
    llm_server.set_behavior(rate_malformed=0.2, rate_429=0.05, rate_500=0.05, seed=6, retry_after_s=0.01)
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=8)
    policy = RetryPolicy(base_delay=0.01, max_delay=0.05)
    path = tmp_path / "out.jsonl"
    config = concept_classification(path) if example == "classification" else concept_raw(path)
    kind = ClassificationDataset if example == "classification" else RawDataset
    dataset = kind(config).generate(llm, show_progress=False, retry=policy)
    expected = dataset.get_num_expected_rows([llm])
    assert not dataset.failures
    assert dataset.stats.succeeded == dataset.num_requests()
    summary = json.loads((tmp_path / "out.datafast" / "summary.json").read_text())
    assert len(dataset.data_rows) + sum(summary["records_dropped"].values()) == expected
    assert llm_server.stats().by_outcome["malformed"] > 0


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini", "ollama"])
def test_item_8_an_answer_with_empty_choices_is_asked_again_never_a_crash(llm_server, tmp_path, protocol):
    llm_server.set_behavior(rate_no_choices=0.05, seed=8)
    llm = {
        "openai": lambda: OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=8),
        "anthropic": lambda: AnthropicProvider(api_key="sk-ant-test", api_base=llm_server.url, max_concurrency=8),
        "gemini": lambda: GeminiProvider(api_key="g-test", api_base=llm_server.url, max_concurrency=8),
        "ollama": lambda: OllamaProvider("m", api_base=llm_server.url, max_concurrency=8),
    }[protocol]()
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl", n_topics=60))
    dataset.generate(llm, show_progress=False, retry=FAST_RETRY)
    assert not dataset.failures and dataset.stats.succeeded == 120
    assert llm_server.stats().by_outcome["no_choices"] > 0
    assert len(dataset.data_rows) == 120


def test_item_10_a_prompt_larger_than_the_context_window_is_refused_before_any_request(openai_env, tmp_path):
    config = RawDatasetConfig(
        document_types=["memo"],
        topics=["a short one", "x " * 5_000_000],  # 10 MB
        num_samples_per_prompt=1,
        output_file=str(tmp_path / "out.jsonl"),
    )
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"prompt of 10,000,\d+ characters .* larger than openai/gpt-4.1-mini's "
                       r"context window of 1,047,576 tokens"):
        RawDataset(config).generate(OpenAIProvider(), show_progress=False, retry=FAST_RETRY)
    assert openai_env.requests() == [] and time.monotonic() - started < 20


def test_item_7_the_waiting_notice_is_on_the_progress_line():
    out = io.StringIO()
    progress = RunProgress(True, "RawDataset", console=Console(file=out, width=200), every=0.0)
    ledger = RunStats()
    progress.start(10, ledger)
    ledger.wait_notice("openai/m", "rate limited: the server asks to wait 999999s, retrying every 60s")
    ledger.succeeded_one("openai/m")
    ledger.wait_notice("openai/m", None)
    ledger.succeeded_one("openai/m")
    progress.stop()
    lines = out.getvalue().splitlines()
    assert any("openai/m: rate limited: the server asks to wait 999999s" in line for line in lines)
    assert "999999s" not in lines[-1]  # the notice goes once the wait is over
