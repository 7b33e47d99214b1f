"""Limits learned from the provider: rate-limit headers pace a run the user gave no limits, 429s wait
without using up attempts, and several endpoints of one provider share its work by how fast they answer."""

import contextlib
import json
import time

from conftest import FAST_RETRY

from datafast.datasets import RawDataset
from datafast.engine import RetryPolicy
from datafast.errors import ProviderError
from datafast.llms import AnthropicProvider, OpenAICompatibleProvider, OpenAIProvider
from datafast.schema.config import RawDatasetConfig
from datafast.testing import LLMTestServer


def raw_config(path, n_topics):
    return RawDatasetConfig(
        document_types=["memo", "story"],
        topics=[f"topic {i}" for i in range(n_topics)],
        num_samples_per_prompt=1,
        output_file=str(path),
    )


def run_paced(llm_server, llm, path):
    started = time.monotonic()
    dataset = RawDataset(raw_config(path, 50)).generate(llm, show_progress=False)
    elapsed = time.monotonic() - started
    assert not dataset.failures and dataset.stats.succeeded == 100
    assert llm_server.stats().by_outcome["ok"] == 100
    assert dataset.stats.providers[llm.name].learned_rpm == 1200
    assert elapsed >= (100 - 20) / 20 * 0.8  # it kept to 20 a second
    first = min(r.start for r in llm_server.requests())
    return [r.start - first for r in llm_server.requests() if r.outcome == "429"]


def test_openai_rate_limit_headers_pace_a_run_with_no_limit_configured(llm_server, tmp_path):
    # 1,200 requests a minute (20 a second), enforced over one second: a first wave of 32 sent blind would
    # get 12 429s. OpenAI advertises its limits, so one request goes first and its headers pace the rest.
    llm_server.set_behavior(rpm_limit=1200, rate_burst_s=1.0)
    llm = OpenAIProvider("gpt-4o-mini", api_key="sk-test", api_base=llm_server.openai_base)  # no limits given
    assert len(run_paced(llm_server, llm, tmp_path / "out.jsonl")) <= 2


def test_a_server_that_did_not_say_it_sends_headers_is_paced_after_its_first_wave(llm_server, tmp_path):
    llm_server.set_behavior(rpm_limit=1200, rate_burst_s=1.0)
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)  # no limits given, no probe
    rejected_at = run_paced(llm_server, llm, tmp_path / "out.jsonl")
    assert all(at < 0.5 for at in rejected_at)  # only in the first, blind wave


def test_anthropic_rate_limit_headers_are_learned_too(llm_server, tmp_path, monkeypatch):
    llm_server.set_behavior(rpm_limit=3000, tpm_limit=10_000_000)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    llm = AnthropicProvider("claude-haiku-4-5-20251001", api_base=llm_server.url)
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl", 4)).generate(llm, show_progress=False)
    provider = dataset.stats.providers[llm.name]
    assert not dataset.failures and provider.learned_rpm == 3000 and provider.learned_tpm == 10_000_000


def test_a_429_waits_without_using_up_the_attempts(llm_server, tmp_path):
    # Ten 429s for one prompt where only 3 attempts are allowed: the request is still answered.
    prompt = "Document type: story\nTopic: topic 0\n"
    llm_server.set_behavior(script=["429"] * 10, script_match=prompt, retry_after_s=0)
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=4)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl", 3)).generate(llm, show_progress=False, retry=policy)
    assert not dataset.failures
    assert llm_server.stats().by_outcome == {"429": 10, "ok": 6}
    assert dataset.stats.rate_limited == 10 and dataset.stats.retries == 10


def test_a_429_storm_past_the_rate_limit_wait_gives_up_with_a_reason(llm_server, tmp_path):
    llm_server.set_behavior(script=["429"] * 1000, script_match="Topic: topic 0\n", retry_after_s=0)
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=2)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, max_rate_limit_wait=0.3)
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl", 2))
    # The other requests answered at once; whether the provider then went unanswered for longer than the wait
    # (and is given up as a whole) by the time these give up is a matter of milliseconds.
    with contextlib.suppress(ProviderError):
        dataset.generate(llm, show_progress=False, retry=policy)
    assert [f.kind for f in dataset.failures] == ["rate_limit", "rate_limit"]
    assert "HTTP 429 rate limited" in dataset.failures[0].reason


def test_several_endpoints_share_the_work_by_speed_and_keep_the_same_keys(tmp_path):
    with LLMTestServer(latency_s=0.15) as slow, LLMTestServer(latency_s=0.01) as fast:
        fleet = OpenAICompatibleProvider("m", api_base=[slow.openai_base, fast.openai_base], max_concurrency=4)
        assert len(fleet.endpoints()) == 2 and repr(fleet).count("http://") == 2
        dataset = RawDataset(raw_config(tmp_path / "out.jsonl", 40)).generate(fleet, show_progress=False)
        assert not dataset.failures
        served_slow, served_fast = len(slow.requests()), len(fast.requests())
        assert served_slow + served_fast == 80 and served_slow >= 1
        assert served_fast > 2 * served_slow
        rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert len(rows) == 80
        # One endpoint alone resumes the same run: the keys do not depend on which endpoint answered.
        single = OpenAICompatibleProvider("m", api_base=fast.openai_base, max_concurrency=4)
        before = len(fast.requests())
        again = RawDataset(raw_config(tmp_path / "out.jsonl", 40)).generate(single, show_progress=False)
        assert len(fast.requests()) == before and again.stats.resumed == 80


def test_a_comma_separated_environment_variable_names_several_endpoints(monkeypatch):
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", "http://10.0.0.1:8000/v1/, http://10.0.0.2:8000/v1")
    llm = OpenAICompatibleProvider("m")
    assert [e.api_base for e in llm.endpoints()] == ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]
    assert FAST_RETRY.max_attempts >= 3
