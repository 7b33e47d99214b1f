"""`preview` over real HTTP: a few chains spread over the config's dimensions, their records, drops and
projected cost; the full run that follows sends none of their requests again."""

from __future__ import annotations

import json
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest
from cli_run import run_datafast
from concept_examples import concept_classification, concept_raw
from test_ultrachat import chat_config

from datafast import AnthropicProvider, ClassificationDataset, OpenAIProvider, RawDataset, UltrachatDataset
from datafast.errors import ConfigError
from datafast.testing import ServerBehavior

KEY = "sk-test-0000"


def openai(server):
    return OpenAIProvider("gpt-4o-mini", api_key=KEY, api_base=server.openai_base)


def prompts(server) -> list[str]:
    return [r.prompt_text for r in server.requests()]


def test_preview_then_generate_pays_for_nothing_twice(llm_server, tmp_path):
    out = tmp_path / "out.jsonl"
    result = RawDataset(concept_raw(out)).preview([openai(llm_server)], n=5)
    assert result.chains == 5 and result.total_chains == 36 and result.requests == 5
    assert len(result.records) + len(result.dropped) == 10
    assert not out.exists(), "a preview writes no record to the output"
    # Spread: both document types, both topics and every tone come up in 5 chains.
    rows = result.records + [d["record"] for d in result.dropped]
    seen = {(k, v) for r in rows for k, v in r["placeholders"].items()}
    assert {("document_type", "research paper"), ("document_type", "blog post")} <= seen
    assert {("topic", "AI"), ("topic", "climate change")} <= seen
    assert {("tone", t) for t in ("formal", "casual", "technical")} <= seen
    assert result.cost_usd and result.projected_cost_usd == pytest.approx(result.cost_usd / 5 * 36)
    previewed = prompts(llm_server)
    assert len(previewed) == 5

    llm_server.reset()
    dataset = RawDataset(concept_raw(out)).generate([openai(llm_server)], show_progress=False)
    assert dataset.stats.resumed == 5
    assert len(prompts(llm_server)) == 31 and not set(previewed) & set(prompts(llm_server))
    uuids = {r["uuid"] for r in result.records}
    assert uuids <= {r.uuid for r in dataset.data_rows}

    llm_server.reset()  # a second preview: its answers come from the store
    again = RawDataset(concept_raw(out)).preview([openai(llm_server)], n=5)
    assert prompts(llm_server) == [] and again.resumed == 5 and again.cost_usd == result.cost_usd


def test_every_label_language_and_provider_comes_up(llm_server, tmp_path):
    anthropic = AnthropicProvider("claude-haiku-4-5-20251001", api_key=KEY, api_base=llm_server.url)
    result = ClassificationDataset(concept_classification(tmp_path / "out.jsonl")).preview(
        [openai(llm_server), anthropic], n=4
    )
    rows = result.records + [d["record"] for d in result.dropped]
    assert {r["label"] for r in rows} == {"positive", "negative"}
    assert {r["language"] for r in rows} == {"en", "fr"}
    assert {r["model_id"] for r in rows} == {"gpt-4o-mini", "claude-haiku-4-5-20251001"}
    assert {r.protocol for r in llm_server.requests()} == {"openai", "anthropic"}


def test_a_preview_of_multi_step_chains_runs_them_to_their_end(llm_server, tmp_path):
    out = tmp_path / "chat.jsonl"
    result = UltrachatDataset(chat_config(out)).preview([openai(llm_server)], n=2)
    # Each first request asks 3 questions, each a conversation of its own turns.
    assert result.chains == 2 and result.requests > 6 and len(result.records) + len(result.dropped) == 6
    sent = len(llm_server.requests())
    llm_server.reset()
    dataset = UltrachatDataset(chat_config(out)).generate([openai(llm_server)], show_progress=False)
    assert dataset.stats.resumed == sent


def test_preview_drops_are_shown_with_their_reason(llm_server, tmp_path):
    llm_server.set_behavior(ServerBehavior(rate_junk=1.0))
    result = ClassificationDataset(concept_classification(tmp_path / "out.jsonl")).preview([openai(llm_server)], n=2)
    assert result.dropped and set(result.drop_reasons) and not result.records


def test_preview_refuses_a_bad_n(llm_server, tmp_path):
    with pytest.raises(ConfigError, match="n must be"):
        RawDataset(concept_raw(tmp_path / "out.jsonl")).preview([openai(llm_server)], n=0)
    assert llm_server.requests() == []


def test_the_preview_command(llm_server, tmp_path):
    config = tmp_path / "sentiment.yaml"
    config.write_text(
        "dataset_type: text_classification\n"
        "classes: [{name: positive, description: Positive}, {name: negative, description: Negative}]\n"
        "languages: {en: English, fr: French}\nnum_samples_per_prompt: 3\n"
        f"output_file: {tmp_path / 'out.jsonl'}\nllms: [{{provider: openai, model_id: gpt-4o-mini}}]\n"
    )
    env = {"OPENAI_BASE_URL": llm_server.openai_base, "OPENAI_API_KEY": KEY}
    shown = run_datafast("preview", config, "-n", "2", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "preview: 2 chains of 4, 2 requests" in shown.stdout
    assert "projected to the full run (4 chains)" in shown.stdout
    assert len(llm_server.requests()) == 2
    llm_server.reset()
    done = run_datafast("generate", config, "--no-progress", env=env)
    assert done.returncode == 0, done.stderr
    assert "2 resumed from an earlier run" in done.stdout and len(llm_server.requests()) == 2
    summary = json.loads((tmp_path / "out.datafast" / "summary.json").read_text())
    assert summary["requests_resumed"] == 2
