"""Batch mode over real HTTP: every dataset type through the test server's OpenAI and Anthropic batch APIs,
compared record by record with an online run of the same config; failed and expired requests sent again
alone; cost at the batch price; a killed run that never sends a batch twice."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest
from cli_run import run_datafast
from concept_examples import concept_classification, concept_raw
from conftest import FAST_RETRY
from test_generic_pipeline import pipeline_config
from test_mcq import mcq_config
from test_preference import pref_config
from test_ultrachat import chat_config

from datafast import (
    AnthropicProvider,
    BatchOptions,
    ClassificationDataset,
    GenericPipelineDataset,
    MCQDataset,
    OpenAIProvider,
    PreferenceDataset,
    RawDataset,
    UltrachatDataset,
)
from datafast.errors import ConfigError
from datafast.testing import LLMTestServer, ServerBehavior

KEY = "sk-test-0000"
FAST = BatchOptions(poll_seconds=0.1, gather_seconds=0.1)
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5-20251001"


def provider(server: LLMTestServer, wire: str, **options):
    if wire == "openai":
        return OpenAIProvider(OPENAI_MODEL, api_key=KEY, api_base=server.openai_base, **options)
    return AnthropicProvider(ANTHROPIC_MODEL, api_key=KEY, api_base=server.url, **options)


def records(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    by_uuid = {row["uuid"]: row for row in rows}
    assert len(by_uuid) == len(rows)
    return by_uuid


def summary(output: Path) -> dict:
    return json.loads((output.parent / (output.stem + ".datafast") / "summary.json").read_text())


def submits(server: LLMTestServer, since: int = 0) -> list[int]:
    """The number of requests in each batch submitted since event `since`."""
    return [e.requests for e in server.batch_events(since) if e.action == "submit"]


# (dataset class, config builder(tmp_path, output)) for every type.
TYPES = {
    "classification": (ClassificationDataset, lambda tmp, out: concept_classification(out)),
    "raw": (RawDataset, lambda tmp, out: concept_raw(out)),
    "mcq": (MCQDataset, lambda tmp, out: mcq_config(tmp, output_file=str(out))),
    "chat": (UltrachatDataset, lambda tmp, out: chat_config(out)),
    "preference": (PreferenceDataset, lambda tmp, out: pref_config(out)),
    "pipeline": (GenericPipelineDataset, lambda tmp, out: pipeline_config(tmp, output_file=str(out))),
}


def run(kind: str, server: LLMTestServer, tmp_path: Path, out: Path, wire: str, batch) -> None:
    cls, build = TYPES[kind]
    dataset = cls(build(tmp_path, out))
    llm = provider(server, wire)
    if kind == "preference":
        dataset.generate(llm, llm, llm, show_progress=False, retry=FAST_RETRY, batch=batch)
    else:
        dataset.generate([llm], show_progress=False, retry=FAST_RETRY, batch=batch)


@pytest.mark.parametrize(
    ("kind", "wire"),
    [(kind, "openai") for kind in TYPES] + [("classification", "anthropic"), ("chat", "anthropic")],
)
def test_a_batch_run_gives_the_records_of_an_online_run(llm_server, tmp_path, kind, wire):
    llm_server.set_behavior(ServerBehavior(batch_delay_s=0.05))
    online, batched = tmp_path / "online.jsonl", tmp_path / "batched.jsonl"
    run(kind, llm_server, tmp_path, online, wire, False)
    assert submits(llm_server) == []
    llm_server.reset()  # the server answers a prompt it has seen before differently

    run(kind, llm_server, tmp_path, batched, wire, FAST)
    assert llm_server.requests() == [], "a batch run sent an online request"
    waves = submits(llm_server)
    assert waves and sum(waves) == summary(batched)["this_run"]["succeeded"]
    if kind in ("mcq", "chat", "preference"):  # each step of the chains is a wave of its own
        assert len(waves) > 1
    assert records(batched) == records(online)
    assert summary(batched)["batches"] and all(b["status"] == "collected" for b in summary(batched)["batches"])


def test_failed_and_expired_requests_go_again_alone_in_a_new_batch(llm_server, tmp_path):
    # 36 requests: some fail or expire whatever the draw (which depends on the server's batch ids).
    llm_server.set_behavior(ServerBehavior(batch_delay_s=0.05, batch_rate_failed=0.1, batch_rate_expired=0.1))
    out = tmp_path / "out.jsonl"
    dataset = RawDataset(concept_raw(out))
    dataset.generate([provider(llm_server, "openai")], show_progress=False, retry=FAST_RETRY, batch=FAST)
    waves = submits(llm_server)
    assert waves[0] == 36 and len(waves) > 1
    # Each later batch holds only what the one before did not answer: one retry each.
    assert all(later <= earlier for earlier, later in itertools.pairwise(waves)), waves
    assert sum(waves[1:]) == summary(out)["this_run"]["retries"]
    assert len(records(out)) + sum((summary(out)["records_dropped"] or {}).values()) == 72
    assert summary(out)["this_run"]["failed"] == 0


def test_cost_is_the_batch_price_of_the_usage_the_server_reported(llm_server, tmp_path):
    from datafast.llms.pricing import prices_for
    from datafast.llms.wire import import_litellm

    llm_server.set_behavior(ServerBehavior(batch_delay_s=0.05, cached_prompt_share=0.5))
    costs = {}
    for wire, model, prefix in (("openai", OPENAI_MODEL, "openai"), ("anthropic", ANTHROPIC_MODEL, "anthropic")):
        for mode in ("online", "batch"):
            llm_server.reset()  # the same answers in both modes
            out = tmp_path / f"{wire}-{mode}.jsonl"
            dataset = ClassificationDataset(concept_classification(out))
            batch = FAST if mode == "batch" else False
            dataset.generate([provider(llm_server, wire)], show_progress=False, batch=batch)
            totals = summary(out)["whole_run"]
            assert totals["cached_tokens"] > 0
            prices = prices_for(import_litellm(), model, prefix)
            assert prices is not None
            expected = prices.cost(
                totals["prompt_tokens"],
                totals["completion_tokens"],
                totals["cached_tokens"],
                totals["cache_write_tokens"],
                batch=mode == "batch",
            )
            assert totals["cost_usd"] == pytest.approx(expected, rel=1e-9)
            costs[wire, mode] = totals["cost_usd"], totals
        online, batch = costs[wire, "online"], costs[wire, "batch"]
        assert online[1] == {**batch[1], "cost_usd": online[0]}  # the same usage
        assert batch[0] / online[0] == pytest.approx(0.5, rel=0.01)


def test_max_cost_sends_no_batch_that_would_pass_it(llm_server, tmp_path):
    llm_server.set_behavior(ServerBehavior(batch_delay_s=0.05))
    out = tmp_path / "out.jsonl"
    config = concept_classification(out)
    config.num_samples_per_prompt = 5
    dataset = ClassificationDataset(config)
    llm = provider(llm_server, "openai", max_completion_tokens=400)
    one_at_a_time = BatchOptions(poll_seconds=0.1, gather_seconds=0.1, max_requests=1)
    dataset.generate([llm], show_progress=False, batch=one_at_a_time, max_cost=0.0002)
    spent = summary(out)["this_run"]["cost_usd"]
    assert 0 < spent <= 0.0002
    assert summary(out)["this_run"]["stopped"].startswith("max_cost")
    assert summary(out)["this_run"]["failed"] == 0


def test_a_provider_without_a_batch_api_is_refused_before_any_request(llm_server, tmp_path):
    from datafast import GeminiProvider

    with pytest.raises(ConfigError, match="gemini has no batch API"):
        GeminiProvider(api_key=KEY, api_base=llm_server.url, batch=True)
    gemini = GeminiProvider(api_key=KEY, api_base=llm_server.url)
    dataset = ClassificationDataset(concept_classification(tmp_path / "out.jsonl"))
    with pytest.raises(ConfigError, match="leave batch out"):
        dataset.generate([gemini], show_progress=False, batch=True)
    assert llm_server.requests() == []


# -- a killed run --------------------------------------------------------------------------------------------

CONFIG = """\
dataset_type: text_classification
classes:
  - {{name: positive, description: Text expressing positive emotions}}
  - {{name: negative, description: Text expressing negative emotions}}
languages: {{en: English, fr: French}}
num_samples_per_prompt: 3
output_file: {output}
llms:
  - {{provider: {wire}, model_id: {model}, batch: true}}
"""


def start(config: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "datafast", "generate", str(config), "--no-progress", "--batch-poll", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_submit(server: LLMTestServer, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if submits(server):
            time.sleep(0.3)  # the store records the batch right after the provider's answer
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no batch was submitted")


def run_until_submitted(server: LLMTestServer, tmp_path: Path, wire: str, delay: float):
    """`datafast generate` of a batch config started in a child process, once it has sent its batch (the
    server answers it `delay` seconds later): its output, config, environment and process."""
    server.set_behavior(ServerBehavior(batch_delay_s=delay))
    out, config = tmp_path / "out.jsonl", tmp_path / "config.yaml"
    model = OPENAI_MODEL if wire == "openai" else ANTHROPIC_MODEL
    config.write_text(CONFIG.format(output=out, wire=wire, model=model))
    base = {"openai": ("OPENAI_BASE_URL", server.openai_base), "anthropic": ("ANTHROPIC_BASE_URL", server.url)}
    env = {base[wire][0]: base[wire][1], "OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY}
    proc = start(config, env)
    wait_for_submit(server, proc)
    return out, config, env, proc


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_a_run_killed_after_submitting_sends_nothing_again(llm_server, tmp_path, wire):
    out, config, env, proc = run_until_submitted(llm_server, tmp_path, wire, delay=4.0)
    proc.kill()
    proc.wait()
    assert submits(llm_server) == [4]

    status = run_datafast("status", out)
    assert status.returncode == 0, status.stderr
    assert "running" in status.stdout and "1 still at the provider" in status.stdout

    again = run_datafast("generate", config, "--no-progress", "--batch-poll", "0.1", env=env)
    assert again.returncode == 0, again.stderr
    assert submits(llm_server) == [4], "a batch was sent again"
    assert len(records(out)) == 12
    assert llm_server.requests() == []
    assert "collected" in run_datafast("status", out).stdout


def test_ctrl_c_leaves_the_batches_and_says_so_and_cancel_batches_cancels_them(llm_server, tmp_path):
    out, config, env, proc = run_until_submitted(llm_server, tmp_path, "openai", delay=60.0)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "1 batch (4 requests) left running at the provider" in stderr
    assert not [e for e in llm_server.batch_events() if e.action == "cancel"]

    cancelled = run_datafast("status", config, "--cancel-batches", env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancel asked" in cancelled.stdout
    assert [e.status for e in llm_server.batch_events() if e.action == "cancel"] == ["cancelled"]

    # The next run collects the cancelled batch (no answer in it) and sends its requests again, once.
    llm_server.set_behavior(ServerBehavior(batch_delay_s=0.05))
    again = run_datafast("generate", config, "--no-progress", "--batch-poll", "0.1", env=env)
    assert again.returncode == 0, again.stderr
    assert submits(llm_server) == [4, 4]
    assert len(records(out)) == 12


def test_an_answer_that_does_not_validate_is_repaired_in_the_next_batch(llm_server, tmp_path):
    # 36 requests: some answers are malformed whatever the draw (which depends on the server's batch ids).
    llm_server.set_behavior(ServerBehavior(batch_delay_s=0.05, batch_rate_malformed=0.5))
    out = tmp_path / "out.jsonl"
    dataset = RawDataset(concept_raw(out))
    dataset.generate([provider(llm_server, "openai")], show_progress=False, retry=FAST_RETRY, batch=FAST)
    waves = submits(llm_server)
    assert waves[0] == 36 and len(waves) > 1
    assert llm_server.requests() == []
    done = summary(out)
    assert done["this_run"]["failed"] == 0 and done["whole_run"]["done"] == 36
    assert len(records(out)) + sum((done["records_dropped"] or {}).values()) == 72
    # A later batch carries the repair: the bad answer and what was wrong with it, asked again.
    later = [p for e in llm_server.batch_events() if e.action == "submit" for p in e.prompts][36:]
    assert any("Your answer could not be used" in prompt for prompt in later)


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_a_batch_whose_creation_got_no_answer_is_found_at_the_provider_not_sent_again(llm_server, tmp_path, wire):
    llm_server.set_behavior(ServerBehavior(batch_delay_s=0.05, batch_rate_lost_create=1.0))
    out = tmp_path / "out.jsonl"
    dataset = ClassificationDataset(concept_classification(out))
    dataset.generate([provider(llm_server, wire)], show_progress=False, retry=FAST_RETRY, batch=FAST)
    assert submits(llm_server) == [4]
    assert [e.action for e in llm_server.batch_events()].count("list") >= 1
    assert len(records(out)) + sum((summary(out)["records_dropped"] or {}).values()) == 20


def test_batches_are_split_at_the_providers_limits(llm_server, tmp_path, monkeypatch):
    from datafast.llms.batch_api import OpenAIBatchAPI

    llm_server.set_behavior(ServerBehavior(batch_delay_s=0.05))
    out = tmp_path / "out.jsonl"
    dataset = ClassificationDataset(concept_classification(out))
    dataset.generate(
        [provider(llm_server, "openai")],
        show_progress=False,
        batch=BatchOptions(poll_seconds=0.1, gather_seconds=0.1, max_requests=3),
    )
    assert sorted(submits(llm_server)) == [1, 3]
    llm_server.reset()
    monkeypatch.setattr(OpenAIBatchAPI, "max_bytes", 2500)  # about two requests of this config
    other = tmp_path / "other.jsonl"
    ClassificationDataset(concept_classification(other)).generate(
        [provider(llm_server, "openai")], show_progress=False, batch=FAST
    )
    assert sorted(submits(llm_server)) == [2, 2]
    assert records(other) == records(out)


def test_one_provider_in_batch_mode_and_another_online_in_one_run(llm_server, tmp_path):
    llm_server.set_behavior(ServerBehavior(batch_delay_s=0.05))
    out = tmp_path / "out.jsonl"
    batched, online = provider(llm_server, "openai", batch=True), provider(llm_server, "anthropic")
    dataset = ClassificationDataset(concept_classification(out))
    dataset.generate([batched, online], show_progress=False, batch=BatchOptions(0.1, 0.1, every_provider=False))
    assert submits(llm_server) == [4]
    assert {r.protocol for r in llm_server.requests()} == {"anthropic"} and len(llm_server.requests()) == 4
    assert summary(out)["batch"] == [batched.name]
    assert {r["model_id"] for r in records(out).values()} == {OPENAI_MODEL, ANTHROPIC_MODEL}


def test_a_batch_the_provider_no_longer_knows_is_sent_again_once(llm_server, tmp_path):
    out, config, env, proc = run_until_submitted(llm_server, tmp_path, "openai", delay=4.0)
    proc.kill()
    proc.wait()
    with sqlite3.connect(out.parent / "out.datafast" / "store.sqlite") as db:  # as if deleted at the provider
        db.execute("UPDATE batches SET remote_id = 'batch_gone'")

    again = run_datafast("generate", config, "--no-progress", "--batch-poll", "0.1", env=env)
    assert again.returncode == 0, again.stderr
    assert "batch_gone" in again.stderr and "its requests go again" in again.stderr
    assert submits(llm_server) == [4, 4]
    assert len(records(out)) == 12
    states = [b["status"] for b in summary(out)["batches"]]
    assert states == ["lost", "collected"]
