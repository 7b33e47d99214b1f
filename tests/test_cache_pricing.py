"""Prompt-cache-aware accounting and batch prices (#14): `Prices` from LiteLLM's map, cached prompt tokens read
from real answers of the test server, counted in the ledger, the run store and summary.json, and
`datafast plan --batch`."""

import asyncio
import json
import sqlite3

import pytest
from cli_run import run_datafast
from concept_examples import concept_classification

from datafast.datasets import ClassificationDataset
from datafast.engine.ledger import RunStats
from datafast.engine.progress import RunProgress
from datafast.engine.store import RunStore
from datafast.llms import AnthropicProvider, OpenAIProvider
from datafast.llms.pricing import LITELLM_BATCH_PRICE, prices_for
from datafast.llms.wire import import_litellm
from datafast.planning import plan_run
from datafast.testing import ServerBehavior

KEY = "sk-test-cache-000000"


@pytest.fixture(scope="module")
def litellm():
    return import_litellm()


# -- Prices, against LiteLLM's map (model_prices_and_context_window_backup.json, read offline) ---------------


def test_gpt_4o_mini_prices_cached_tokens_at_the_cache_read_price(litellm):
    prices = prices_for(litellm, "gpt-4o-mini", "openai")
    assert prices is not None
    # The map: input 1.5e-7, output 6e-7, cache read 7.5e-8, no cache write price; batch 7.5e-8 and 3e-7.
    assert (prices.input, prices.output, prices.cache_read) == (1.5e-7, 6e-7, 7.5e-8)
    assert prices.cache_write == prices.input
    assert (prices.batch_input, prices.batch_output) == (7.5e-8, 3e-7)
    assert prices.batch_source == LITELLM_BATCH_PRICE
    # 1,000 prompt tokens of which 400 cached, 200 completion tokens.
    assert prices.cost(1000, 200) == pytest.approx(1000 * 1.5e-7 + 200 * 6e-7)
    assert prices.cost(1000, 200, 400) == pytest.approx(600 * 1.5e-7 + 400 * 7.5e-8 + 200 * 6e-7)
    # Batch: its input price is half the online one, and so is the cache read's (LiteLLM has no batch one).
    assert prices.cost(1000, 200, 400, batch=True) == pytest.approx(600 * 7.5e-8 + 400 * 3.75e-8 + 200 * 3e-7)


def test_claude_haiku_prices_cache_reads_and_writes_at_their_own_prices(litellm):
    prices = prices_for(litellm, "claude-haiku-4-5", "anthropic")
    assert prices is not None
    # The map: input 1e-6, output 5e-6, cache read 1e-7, cache write 1.25e-6; and batch prices for all four.
    assert (prices.input, prices.output, prices.cache_read, prices.cache_write) == (1e-6, 5e-6, 1e-7, 1.25e-6)
    # 1,000 prompt tokens (as LiteLLM counts them: cache reads and writes included): 500 read, 200 written.
    online = 300 * 1e-6 + 500 * 1e-7 + 200 * 1.25e-6 + 100 * 5e-6
    assert prices.cost(1000, 100, 500, 200) == pytest.approx(online)
    batch = 300 * 5e-7 + 500 * 5e-8 + 200 * 6.25e-7 + 100 * 2.5e-6
    assert prices.cost(1000, 100, 500, 200, batch=True) == pytest.approx(batch)
    assert prices.batch_source == LITELLM_BATCH_PRICE


def test_a_model_without_a_batch_price_gets_half_the_online_price_named_as_such(litellm):
    prices = prices_for(litellm, "gpt-4", "openai")
    assert prices is not None
    assert (prices.batch_input, prices.batch_output) == (prices.input / 2, prices.output / 2)
    assert prices.batch_source == "half the online price (LiteLLM has no batch price for gpt-4)"
    assert prices.cost(100, 10, batch=True) == pytest.approx(prices.cost(100, 10) / 2)


def test_a_model_litellm_does_not_price_has_no_prices(litellm):
    assert prices_for(litellm, "my-self-hosted-model", "openai") is None


def test_cached_tokens_and_writes_of_an_anthropic_answer_priced_online_and_in_a_batch(llm_server):
    # The test server reports no cache writes: an Anthropic answer with them, read through the real route.
    llm = AnthropicProvider("claude-haiku-4-5", api_key=KEY, api_base=llm_server.url)
    route = llm._prepare_route(None, None)
    messages = [{"role": "user", "content": "hello"}]
    data, _ = route.encode(messages)
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 300,
            "output_tokens": 100,
            "cache_read_input_tokens": 500,
            "cache_creation_input_tokens": 200,
        },
    }
    raw = json.dumps(body).encode()
    online = route.decode(200, {}, raw, messages, data)
    assert (online.prompt_tokens, online.cached_tokens, online.cache_write_tokens) == (1000, 500, 200)
    assert online.cost_usd == pytest.approx(300 * 1e-6 + 500 * 1e-7 + 200 * 1.25e-6 + 100 * 5e-6)
    batch = route.decode(200, {}, raw, messages, data, batch=True)
    assert batch.cost_usd == pytest.approx(300 * 5e-7 + 500 * 5e-8 + 200 * 6.25e-7 + 100 * 2.5e-6)


# -- a run: cached tokens counted, stored, in summary.json, priced at their price ---------------------------


@pytest.mark.parametrize(
    "make_llm",
    [
        lambda server: OpenAIProvider("gpt-4.1-mini", api_key=KEY, api_base=server.openai_base),
        lambda server: AnthropicProvider("claude-haiku-4-5", api_key=KEY, api_base=server.url),
    ],
    ids=["openai", "anthropic"],
)
def test_a_run_counts_and_prices_the_cached_prompt_tokens_the_server_reports(llm_server, tmp_path, litellm, make_llm):
    llm_server.set_behavior(ServerBehavior(cached_prompt_share=0.5))
    llm = make_llm(llm_server)
    ClassificationDataset(concept_classification(tmp_path / "out.jsonl")).generate([llm], show_progress=False)

    log = llm_server.requests()
    assert len(log) == 4
    reported = [(r.prompt_tokens, r.completion_tokens, int(r.prompt_tokens * 0.5)) for r in log]
    prompt, completion, cached = (sum(column) for column in zip(*reported, strict=True))
    assert cached > 0
    route = llm._prepare_route(None, None)
    prices = prices_for(litellm, route.model, route.provider)
    assert prices is not None and prices.cache_read < prices.input
    expected = sum(prices.cost(p, c, k) for p, c, k in reported)
    assert expected < prices.cost(prompt, completion)  # the cache made it cheaper

    summary = json.loads((tmp_path / "out.datafast" / "summary.json").read_text())
    this_run, whole_run = summary["this_run"], summary["whole_run"]
    for counts in (this_run, this_run["providers"][llm.name], whole_run):
        assert (counts["prompt_tokens"], counts["completion_tokens"]) == (prompt, completion)
        assert (counts["cached_tokens"], counts["cache_write_tokens"]) == (cached, 0)
        assert counts["cost_usd"] == pytest.approx(round(expected, 6) if counts is this_run else expected, rel=1e-9)


# -- the run store ------------------------------------------------------------------------------------------

_EARLIER_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    key TEXT PRIMARY KEY, step TEXT NOT NULL, provider TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')), attempts INTEGER NOT NULL, error_kind TEXT,
    last_error TEXT, request TEXT NOT NULL, response TEXT, finish_reason TEXT, repaired INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL,
    started REAL, finished REAL NOT NULL
);
INSERT INTO items (key, step, provider, status, attempts, request, response, prompt_tokens, completion_tokens,
    cost_usd, finished) VALUES ('old', 'generate', 'p', 'done', 1, '[]', 'text', 10, 5, 0.001, 0);
"""


def test_a_store_of_an_earlier_version_gets_the_cache_columns_and_sums_them(tmp_path):
    path = tmp_path / "store.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_EARLIER_SCHEMA)
    db.close()

    async def save() -> None:
        common = {"step": "generate", "provider": "p", "attempts": 1, "request": "[]", "started": None}
        await store.save_done(
            "new", **common, response="a", finish_reason="stop", repaired=False, prompt_tokens=100,
            completion_tokens=10, cost_usd=0.01, cached_tokens=40, cache_write_tokens=7,
        )  # fmt: skip
        await store.save_failed(
            "new", **common, error_kind="invalid_response", error="x", prompt_tokens=50, completion_tokens=5,
            cost_usd=0.005, cached_tokens=20, cache_write_tokens=3,
        )  # fmt: skip

    with RunStore(path) as store:
        old = store.get("old")
        assert old is not None and (old.prompt_tokens, old.cached_tokens, old.cache_write_tokens) == (10, 0, 0)
        asyncio.run(save())
        new = store.get("new")
        assert new is not None and (new.prompt_tokens, new.cached_tokens, new.cache_write_tokens) == (150, 60, 10)
        totals = store.totals()
    assert (totals["prompt_tokens"], totals["cached_tokens"], totals["cache_write_tokens"]) == (160, 60, 10)
    with RunStore(path) as again:  # opened a second time: the columns are there already
        assert again.totals() == totals


# -- progress -----------------------------------------------------------------------------------------------


def test_progress_says_how_much_of_the_prompt_was_cached():
    from io import StringIO

    from rich.console import Console

    ledger = RunStats()
    out = StringIO()
    progress = RunProgress(True, "X", console=Console(file=out, width=60), every=0)
    progress.start(total=1, ledger=ledger)
    ledger.paid("p", 1000, 200, 0.002, cached_tokens=250)
    ledger.succeeded_one("p")
    progress.stop()
    assert "1,200 tok (25% of prompt cached) $0.0020" in out.getvalue()
    assert ledger.to_dict()["cached_tokens"] == 250 and ledger.providers["p"].cached_tokens == 250


# -- plan --batch -------------------------------------------------------------------------------------------

PLAN_CONFIG = """
dataset_type: text_classification
classes:
  - {{name: spam, description: "Unwanted commercial email"}}
  - {{name: ham, description: "Normal personal or work email"}}
num_samples_per_prompt: 3
output_file: {output}
prompts:
  - "Write {{num_samples}} emails of class {{label_name}}: {{label_description}}."
llms:
  - provider: openai
    model_id: gpt-4.1-mini
  - provider: openai
    model_id: gpt-4
"""


def test_plan_batch_shows_online_and_batch_cost_side_by_side(llm_server, tmp_path, litellm):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN_CONFIG.format(output=tmp_path / "o.jsonl"))
    from datafast.datasets.registry import dataset_for
    from datafast.datasets.roles import providers_for
    from datafast.schema.loading import load_dataset_config

    config, specs = load_dataset_config(str(path))
    dataset = dataset_for(config)
    llms = providers_for(dataset, specs, str(path), require_keys=False)
    plan = plan_run(dataset, llms, batch=True)
    mini, gpt4 = plan.providers
    # gpt-4.1-mini: LiteLLM's batch prices (2e-7 and 8e-7 a token); gpt-4 has none: half its online price.
    assert mini.batch_cost_usd == pytest.approx(mini.prompt_tokens * 2e-7 + mini.completion_tokens * 8e-7)
    assert mini.cost_usd == pytest.approx(mini.prompt_tokens * 4e-7 + mini.completion_tokens * 1.6e-6)
    assert mini.batch_price_source == LITELLM_BATCH_PRICE
    assert gpt4.cost_usd is not None and gpt4.batch_cost_usd == pytest.approx(gpt4.cost_usd / 2)
    assert gpt4.batch_price_source == "half the online price (LiteLLM has no batch price for gpt-4)"
    assert plan_run(dataset, llms).providers[0].batch_cost_usd is None  # only asked for with batch

    result = run_datafast("plan", str(path), "--batch")
    assert result.returncode == 0, result.stderr
    for p in (mini, gpt4):
        assert f"online ~${p.cost_usd:.4f}, batch ~${p.batch_cost_usd:.4f}" in result.stdout
    total, batch_total = mini.cost_usd + gpt4.cost_usd, mini.batch_cost_usd + gpt4.batch_cost_usd
    assert f"total: online ~${total:.4f}, batch ~${batch_total:.4f}" in result.stdout
    assert "batch price of openai/gpt-4.1-mini: LiteLLM's batch price" in result.stdout
    assert "batch price of openai/gpt-4: half the online price (LiteLLM has no batch price for gpt-4)" in result.stdout
    assert llm_server.requests() == []
