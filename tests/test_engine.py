"""The engine under faults, limits, kills and interrupts, through LiteLLM over real HTTP."""

import asyncio
import json
import signal
import sqlite3
import time

import pytest
from cli_run import run_datafast, start_generate, stored_requests, wait_for_lines
from conftest import FAST_RETRY

from datafast.datasets import ClassificationDataset, RawDataset
from datafast.engine import RetryPolicy
from datafast.engine.lanes import Lane, LaneGroup
from datafast.engine.limits import ConcurrencyLimit, TokenBucket
from datafast.llms import OpenAICompatibleProvider, OpenAIProvider
from datafast.schema.config import ClassificationDatasetConfig, PromptExpansionConfig, RawDatasetConfig


def raw_config(path, n_topics=12):
    return RawDatasetConfig(
        document_types=["memo", "story", "email"],
        topics=[f"topic {i}" for i in range(n_topics)],
        num_samples_per_prompt=2,
        output_file=str(path),
    )


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_429_storm_with_retry_after_slows_the_run_and_loses_nothing(llm_server, tmp_path):
    # Two whole waves of 429s: 8 in flight, then 6 (a quarter off after the first wave's 429s).
    llm_server.set_behavior(script=["429"] * 14, retry_after_s=0.3)
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=8)
    started = time.monotonic()
    # Retry-After is honoured up to the policy's max_delay.
    policy = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=1.0)
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl")).generate(llm, show_progress=False, retry=policy)
    elapsed = time.monotonic() - started
    assert not dataset.failures
    rows = lines(tmp_path / "out.jsonl")
    assert len(rows) == 36 * 2 and len({r["uuid"] for r in rows}) == 72
    assert llm_server.stats().by_outcome == {"429": 14, "ok": 36}
    provider_stats = dataset.stats.providers[llm.name]
    assert provider_stats.rate_limited == 14
    assert provider_stats.lowest_concurrency == 6  # it backed off, without collapsing
    assert elapsed >= 0.3  # Retry-After was honoured
    # No request started while the provider was paused by a Retry-After it had already received (100 ms
    # after a 429 left the server it is in, on a loaded machine; requests sent before were on their way).
    log = llm_server.requests()
    for answer in (r for r in log if r.outcome == "429"):
        assert not [r for r in log if answer.end + 0.1 < r.start < answer.end + 0.25]


def test_random_500s_and_timeouts_complete_every_item(llm_server, tmp_path):
    llm_server.set_behavior(rate_500=0.1, rate_timeout=0.1, hang_s=3.0, timeout_then="close", seed=11)
    # The server shares this process: with a shorter client timeout, a request could time out on a loaded CI
    # machine before the server even logged it, and the retry count below would not match the log.
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, timeout=1.5, max_concurrency=12)
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl")).generate(llm, show_progress=False, retry=FAST_RETRY)
    assert not dataset.failures
    assert len(lines(tmp_path / "out.jsonl")) == 72
    log = llm_server.requests()  # timed-out requests may still be held by the server: count them from the log
    outcomes = [r.outcome for r in log]
    assert outcomes.count("ok") == 36 and outcomes.count("500") >= 1 and outcomes.count("timeout") >= 1
    assert dataset.stats.retries == len(log) - 36


def test_give_up_after_bounded_attempts_records_the_reason_then_rerun_retries(llm_server, tmp_path):
    llm_server.set_behavior(script=["500"] * 3, script_match="Document type: story\nTopic: topic 5\n")
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)
    path = tmp_path / "out.jsonl"
    dataset = RawDataset(raw_config(path)).generate(llm, show_progress=False, retry=policy)
    assert len(dataset.failures) == 1 and dataset.failures[0].kind == "transient"
    assert "Topic: topic 5\n" in dataset.failures[0].prompt
    summary = json.loads((tmp_path / "out.datafast" / "summary.json").read_text())
    assert summary["this_run"]["failures_by_reason"] == {"transient": 1}
    assert summary["whole_run"]["failed"] == 1
    with sqlite3.connect(tmp_path / "out.datafast" / "store.sqlite") as db:
        status, attempts, error = db.execute(
            "SELECT status, attempts, last_error FROM items WHERE status = 'failed'"
        ).fetchone()
    assert (status, attempts) == ("failed", 3) and "HTTP 500 server error" in error
    llm_server.reset()
    again = RawDataset(raw_config(path)).generate(llm, show_progress=False, retry=policy)
    assert not again.failures and len(llm_server.requests()) == 1
    assert len(lines(path)) == 72


def test_providers_proceed_independently(llm_server, tmp_path):
    llm_server.set_behavior(latency_s=0.05)
    slow = OpenAICompatibleProvider("slow", api_base=llm_server.openai_base, max_concurrency=1)
    fast = OpenAICompatibleProvider("fast", api_base=llm_server.openai_base, max_concurrency=12)
    RawDataset(raw_config(tmp_path / "out.jsonl", n_topics=4)).generate([slow, fast], show_progress=False)
    log = llm_server.requests()
    fast_end = max(r.end for r in log if r.model == "fast")
    slow_end = max(r.end for r in log if r.model == "slow")
    assert llm_server.stats().total == 24
    assert fast_end < slow_end - 0.3  # 12 requests one at a time take ~0.6 s; the fast lane is done in ~0.1 s
    assert max(in_flight(log, "slow")) == 1


def in_flight(log, model):
    spans = [(r.start, r.end) for r in log if r.model == model]
    return [sum(1 for s, e in spans if s <= start < e) for start, _ in spans]


def test_rpm_limit_spaces_requests(llm_server, tmp_path):
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, rpm_limit=240)  # 4/s, burst 20
    config = raw_config(tmp_path / "out.jsonl", n_topics=8)  # 24 requests
    started = time.monotonic()
    RawDataset(config).generate(llm, show_progress=False)
    assert time.monotonic() - started >= (24 - 20) / 4 - 0.1


def test_max_cost_stops_cleanly_and_a_rerun_finishes(llm_server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-cost-000000")
    llm = OpenAIProvider(api_base=llm_server.openai_base, max_concurrency=1)  # gpt-4.1-mini has a price
    path = tmp_path / "out.jsonl"
    dataset = RawDataset(raw_config(path)).generate(llm, show_progress=False, max_cost=0.0003)
    assert dataset.stats.stopped and "max_cost" in dataset.stats.stopped
    first = len(llm_server.requests())
    assert 0 < first < 36
    assert dataset.stats.cost_usd >= 0.0003
    RawDataset(raw_config(path)).generate(llm, show_progress=False)
    assert len(llm_server.requests()) == 36
    assert len(lines(path)) == 72


def test_agenerate_inside_a_running_loop(llm_server, tmp_path):
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    dataset = RawDataset(raw_config(tmp_path / "out.jsonl", n_topics=2))

    async def main():
        return await dataset.agenerate(llm, show_progress=False)  # on this loop; generate() is in test_sync_calls

    assert len(asyncio.run(main()).data_rows) == 12


CLI_CONFIG = """
dataset_type: text_classification
classes: [{{name: a, description: first}}, {{name: b, description: second}}]
num_samples_per_prompt: 2
output_file: {output}
prompts: ["Write {{num_samples}} texts of class {{label_name}} about {{{{thing}}}}"]
expansion:
  placeholders:
    thing: [{things}]
llms:
  - {{provider: openai_compatible, model_id: m, api_base: "{base}", max_concurrency: 4}}
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "ctrl-c"])
def test_killed_run_resumes_with_every_item_exactly_once(llm_server, tmp_path, sig):
    llm_server.set_behavior(latency_s=0.3)  # slow enough that a loaded machine stops it part-way
    output = tmp_path / "out.jsonl"
    config = tmp_path / "c.yaml"
    things = ", ".join(f"thing{i}" for i in range(30))
    config.write_text(CLI_CONFIG.format(output=output, things=things, base=llm_server.openai_base))
    proc = start_generate(config)
    wait_for_lines(output, 20, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "resume" in err and "Traceback" not in err and "Warning" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    done_before = stored_requests(tmp_path / "out.datafast")
    assert 10 <= len(done_before) < 60
    seen_before = len(llm_server.requests())

    result = run_datafast("generate", config, "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = lines(output)
    assert len(rows) == 60 * 2
    assert len({r["uuid"] for r in rows}) == 120 and len({r["request_id"] for r in rows}) == 60
    second_run = llm_server.requests()[seen_before:]
    assert not {r.prompt_text for r in second_run} & done_before  # no stored answer was paid for twice
    assert len(second_run) == 60 - len(done_before)


def test_concurrency_backs_off_by_a_quarter_on_429_once_per_cooldown_and_grows_back():
    limit = ConcurrencyLimit(start=32, ceiling=32, cooldown=2.0)
    limit.rate_limited(None, now=100.0)
    assert limit.limit == 24  # a quarter off, not halved
    limit.rate_limited(None, now=100.5)  # the same wave's 429s count once
    assert limit.limit == 24
    limit.rate_limited(0.5, now=103.0)
    assert limit.limit == 18 and limit.paused_until == 103.5 and not limit.has_room(103.2)
    assert limit.has_room(103.6)
    for _ in range(200):
        limit.answered(0.3)
    assert limit.limit == 32 and limit.lowest == 18  # back to the user's ceiling, never past it


def test_concurrency_grows_past_the_start_only_while_latency_holds():
    limit = ConcurrencyLimit(start=32, ceiling=256)
    for _ in range(100):
        limit.answered(0.3)
    grown = limit.limit
    assert grown > 40
    for _ in range(100):
        limit.answered(1.0)  # the server slows down: no more growth
    assert limit.limit == grown


def test_lane_group_bounds_in_flight_and_spreads_by_latency():
    async def scenario():
        fast = OpenAICompatibleProvider("m", api_base="http://127.0.0.1:1/v1", max_concurrency=3)
        slow = OpenAICompatibleProvider("m", api_base="http://127.0.0.1:2/v1", max_concurrency=3)
        lanes = [Lane(fast), Lane(slow)]
        lanes[0].concurrency.latency, lanes[1].concurrency.latency = 0.1, 1.0
        group = LaneGroup(lanes)
        peak = {id(lane): 0 for lane in lanes}
        used = {id(lane): 0 for lane in lanes}

        async def job():
            lane = await group.acquire()
            used[id(lane)] += 1
            peak[id(lane)] = max(peak[id(lane)], lane.concurrency.in_flight)
            await asyncio.sleep(0.01 if lane is lanes[0] else 0.05)
            await group.release(lane)

        await asyncio.gather(*(job() for _ in range(40)))
        return peak, used, lanes

    peak, used, lanes = asyncio.run(scenario())
    assert max(peak.values()) == 3
    assert used[id(lanes[0])] > used[id(lanes[1])]


def test_token_bucket_rate_and_refund():
    async def scenario():
        bucket = TokenBucket(per_minute=600, burst=10)  # 10 a second
        started = time.monotonic()
        for _ in range(20):
            await bucket.take(1)
        elapsed = time.monotonic() - started
        bucket.refund(-5)  # the real usage was 5 more than estimated: a debt
        before = time.monotonic()
        await bucket.take(1)
        return elapsed, time.monotonic() - before

    elapsed, debt_wait = asyncio.run(scenario())
    assert 0.9 <= elapsed <= 1.5
    assert debt_wait >= 0.5


def test_tpm_limit_counts_real_usage(llm_server, tmp_path):
    # 3,000 tokens a minute: 50 a second after a burst of 250. Each answer's real usage replaces its estimate.
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, tpm_limit=3000, max_completion_tokens=60)
    config = ClassificationDatasetConfig(
        classes=[{"name": "a", "description": "x"}],
        num_samples_per_prompt=2,
        prompts=["{num_samples} {label_name} {{n}}"],
        expansion=PromptExpansionConfig(placeholders={"n": [str(i) for i in range(12)]}),
        output_file=str(tmp_path / "o.jsonl"),
    )
    started = time.monotonic()
    dataset = ClassificationDataset(config).generate(llm, show_progress=False)
    elapsed = time.monotonic() - started
    with sqlite3.connect(tmp_path / "o.datafast" / "store.sqlite") as db:
        usages = [p + c for p, c in db.execute("SELECT prompt_tokens, completion_tokens FROM items")]
    assert sum(usages) == dataset.stats.prompt_tokens + dataset.stats.completion_tokens
    # Every request but the last had to fit in the budget before the last one could start.
    assert elapsed >= (sum(usages) - max(usages) - 250) / 50 * 0.8 > 1
