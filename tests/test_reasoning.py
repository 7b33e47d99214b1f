"""Reasoning traces (#15): records keep the reasoning a provider returned with their answer (`keep_reasoning`),
in every wire format the test server speaks, through LiteLLM over real HTTP; the run store keeps them for a
resume; runs without `keep_reasoning` write exactly what they wrote before."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_datafast, start_generate, stored_requests, wait_for_lines
from concept_examples import concept_classification
from conftest import FAST_RETRY
from test_mcq import QUESTIONS, mcq_config
from test_preference import pref_config
from test_ultrachat import chat_config

from datafast.datasets import (
    ClassificationDataset,
    GenericPipelineDataset,
    MCQDataset,
    PreferenceDataset,
    UltrachatDataset,
)
from datafast.engine.store import RunStore
from datafast.errors import ConfigError
from datafast.llms import AnthropicProvider, GeminiProvider, OllamaProvider, OpenAICompatibleProvider
from datafast.llms.providers import OpenRouterProvider
from datafast.llms.reasoning import split_reasoning
from datafast.schema.config import GenericPipelineDatasetConfig
from datafast.schema.data_rows import TextClassificationRow, with_reasoning
from datafast.testing import RequestRecord

KEY = "sk-test-0000"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def reasoning_by_text(log: list[RequestRecord]) -> dict[str, str | None]:
    """Each text the server answered with → the reasoning it sent with that answer."""
    found: dict[str, str | None] = {}
    for record in log:
        if record.outcome == "ok":
            for text in strings(json.loads(record.content)):
                found[text] = record.reasoning
    return found


def classification(path: Path, **overrides: Any):
    config = concept_classification(path)
    return type(config).model_validate({**config.model_dump(), **overrides})


# -- the answer's text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reasoning", "answer"),
    [
        ('<think>\nweigh it\n</think>\n\n{"a": 1}', "weigh it", '{"a": 1}'),
        ('\n  <thinking>two\nlines</thinking>{"a": 1}', "two\nlines", '{"a": 1}'),
        ("first this, then that\n</think>\n\nThe answer.", "first this, then that", "The answer."),
        ("<think></think>plain", None, "plain"),
        ('{"a": "a </think> in a string"}', None, '{"a": "a </think> in a string"}'),
        ("No reasoning here.", None, "No reasoning here."),
    ],
    ids=["think-block", "leading-whitespace", "opening-tag-in-the-prompt", "empty", "json-keeps-tag", "none"],
)
def test_a_think_block_is_split_from_the_answer(text, reasoning, answer):
    assert split_reasoning(text) == (reasoning, answer)


# -- every wire format -----------------------------------------------------------------------------------

PROVIDERS = [
    ("anthropic-output-format", lambda s: AnthropicProvider(api_key=KEY, api_base=s.url), "field"),
    (
        "anthropic-tool-call",
        lambda s: AnthropicProvider("claude-3-5-haiku-latest", api_key=KEY, api_base=s.url),
        "field",
    ),
    ("gemini", lambda s: GeminiProvider(api_key=KEY, api_base=s.url), "field"),
    ("ollama", lambda s: OllamaProvider(api_base=s.url), "field"),
    ("ollama-think-tags", lambda s: OllamaProvider(api_base=s.url), "think_tags"),
    ("openai-compatible", lambda s: OpenAICompatibleProvider("deepseek-r1", api_base=s.openai_base), "field"),
    (
        "openai-compatible-think-tags",
        lambda s: OpenAICompatibleProvider("deepseek-r1", api_base=s.openai_base),
        "think_tags",
    ),
    (
        "openrouter",
        lambda s: OpenRouterProvider("deepseek/deepseek-r1", api_key=KEY, api_base=s.openrouter_base),
        "field",
    ),
]


@pytest.mark.parametrize(("make_provider", "style"), [p[1:] for p in PROVIDERS], ids=[p[0] for p in PROVIDERS])
def test_records_keep_the_reasoning_each_wire_format_sent(llm_server, tmp_path, make_provider, style):
    llm_server.set_behavior(reasoning=True, reasoning_style=style)
    path = tmp_path / "out.jsonl"
    llm = make_provider(llm_server)
    dataset = ClassificationDataset(classification(path, keep_reasoning=True))
    dataset.generate(llm, show_progress=False)
    log = llm_server.requests()
    assert len(log) == 4 and all(r.outcome == "ok" and r.reasoning for r in log)
    sent = reasoning_by_text(log)
    rows = read_jsonl(path)
    assert len(rows) == 20
    for row in rows:
        assert list(row)[-1] == "reasoning"  # the record's own fields first, then the trace
        assert row["reasoning"] == sent[row["text"]]
    assert len({row["reasoning"] for row in rows}) == 4  # one per answer, shared by its five records
    assert {r.reasoning for r in dataset.data_rows} == {row["reasoning"] for row in rows}
    summary = json.loads((tmp_path / "out.datafast" / "summary.json").read_text())
    if style == "field" and "ollama" not in llm.name:  # Ollama reports no thinking tokens of its own
        assert 0 < summary["this_run"]["reasoning_tokens"] < summary["this_run"]["completion_tokens"]

    # Records lost from the output are rebuilt from the run store, reasoning included, without asking again.
    original = path.read_text()
    lines = original.splitlines(keepends=True)
    path.write_text("".join(lines[:7]))
    llm_server.reset()
    ClassificationDataset(classification(path, keep_reasoning=True)).generate(llm, show_progress=False)
    assert llm_server.requests() == []
    assert sorted(path.read_text().splitlines()) == sorted(original.splitlines())


@pytest.mark.parametrize("style", ["field", "think_tags"])
def test_without_keep_reasoning_records_are_what_they_were(llm_server, tmp_path, style):
    llm = OpenAICompatibleProvider("deepseek-r1", api_base=llm_server.openai_base)
    plain = tmp_path / "plain" / "out.jsonl"
    ClassificationDataset(classification(plain)).generate(llm, show_progress=False)
    llm_server.reset()
    llm_server.set_behavior(reasoning=True, reasoning_style=style)
    thinking = tmp_path / "thinking" / "out.jsonl"
    dataset = ClassificationDataset(classification(thinking)).generate(llm, show_progress=False)
    assert all(r.reasoning for r in llm_server.requests())
    # The same answers (JSON after a <think> block too), the same records, byte for byte: no `reasoning` key.
    assert sorted(thinking.read_bytes().splitlines()) == sorted(plain.read_bytes().splitlines())
    assert all("reasoning" not in row for row in read_jsonl(thinking))
    assert type(dataset.data_rows[0]) is TextClassificationRow
    assert "keep_reasoning" not in classification(plain).model_dump()  # earlier runs keep their fingerprint


def test_a_provider_that_sends_no_reasoning_gives_null(llm_server, tmp_path):
    path = tmp_path / "out.jsonl"
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    ClassificationDataset(classification(path, keep_reasoning=True)).generate(llm, show_progress=False)
    rows = read_jsonl(path)
    assert len(rows) == 20 and all(row["reasoning"] is None for row in rows)


def test_anthropic_reasoning_effort_asks_for_thinking_and_gets_its_blocks_back(llm_server, tmp_path):
    llm_server.set_behavior(reasoning=True)
    path = tmp_path / "out.jsonl"
    llm = AnthropicProvider(api_key=KEY, api_base=llm_server.url, reasoning_effort="low")
    ClassificationDataset(classification(path, keep_reasoning=True)).generate(llm, show_progress=False)
    log = llm_server.requests()
    assert [r.params.get("thinking") for r in log] == [{"type": "enabled", "budget_tokens": 1024}] * 4
    sent = reasoning_by_text(log)
    assert all(row["reasoning"] == sent[row["text"]] for row in read_jsonl(path))


def test_keep_reasoning_on_an_output_made_without_it_is_a_changed_config(llm_server, tmp_path):
    path = tmp_path / "out.jsonl"
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    ClassificationDataset(classification(path)).generate(llm, show_progress=False)
    with pytest.raises(ConfigError, match="holds records of a different config"):
        ClassificationDataset(classification(path, keep_reasoning=True)).generate(llm, show_progress=False)
    assert len(llm_server.requests()) == 4


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_a_batch_run_keeps_the_reasoning_an_online_run_keeps(llm_server, tmp_path, wire):
    from datafast.engine import BatchOptions

    llm_server.set_behavior(reasoning=True, batch_delay_s=0.05)
    if wire == "openai":
        llm = OpenAICompatibleProvider("deepseek-r1", api_base=llm_server.openai_base)
    else:
        llm = AnthropicProvider(api_key=KEY, api_base=llm_server.url)
    online, batched = tmp_path / "online.jsonl", tmp_path / "batched.jsonl"
    ClassificationDataset(classification(online, keep_reasoning=True)).generate(llm, show_progress=False)
    llm_server.reset()  # the server answers a prompt it has seen before differently
    batch = BatchOptions(poll_seconds=0.1, gather_seconds=0.1)
    ClassificationDataset(classification(batched, keep_reasoning=True)).generate(llm, show_progress=False, batch=batch)
    assert llm_server.requests() == []  # all of it in batches
    rows = sorted(read_jsonl(batched), key=lambda row: row["uuid"])
    assert rows == sorted(read_jsonl(online), key=lambda row: row["uuid"]) and all(row["reasoning"] for row in rows)


def test_a_judged_record_keeps_its_answers_reasoning_before_the_verdict(llm_server, tmp_path):
    llm_server.set_behavior(reasoning=True)
    path = tmp_path / "out.jsonl"
    rubric = [{"name": "fits_label", "description": "The text fits its label.", "scale": 5}]
    config = classification(path, keep_reasoning=True, judge={"rubric": rubric, "threshold": 1})
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    ClassificationDataset(config).generate(llm, show_progress=False)
    sent = reasoning_by_text(llm_server.requests())
    rows = read_jsonl(path)
    assert len(rows) == 20
    for row in rows:  # the trace of the answer that wrote the text, not the judge's
        assert list(row)[-3:] == ["reasoning", "judge_scores", "judge_reason"]
        assert row["reasoning"] == sent[row["text"]]


# -- types whose records come from several answers -------------------------------------------------------


def test_mcq_records_keep_the_question_steps_reasoning_also_after_a_resume(llm_server, tmp_path):
    config = mcq_config(
        tmp_path,
        keep_reasoning=True,
        distractor_prompt="Three wrong answers about: {document}\nQuestion: {question}\nAnswer: {correct_answer}",
    )
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    # The incorrect answers about one document fail in the first run: its questions are answered and stored.
    llm_server.set_behavior(
        reasoning=True, script=["500"] * 500, script_match="Three wrong answers about: The printing press"
    )
    MCQDataset(config).generate(llm, show_progress=False, retry=FAST_RETRY)
    first = llm_server.requests()
    assert len(read_jsonl(config.output_file)) == 4

    llm_server.reset()
    llm_server.set_behavior(reasoning=True, script=[], script_match=None)
    MCQDataset(config).generate(llm, show_progress=False, retry=FAST_RETRY)
    second = llm_server.requests()
    assert second and not any(QUESTIONS in r.prompt_text for r in second)  # the questions came from the store
    sent = reasoning_by_text(first + second)
    rows = read_jsonl(config.output_file)
    assert len(rows) == 6
    questions_steps = {r.reasoning for r in first if QUESTIONS in r.prompt_text}
    for row in rows:
        assert row["reasoning"] == sent[row["question"]] and row["reasoning"] in questions_steps


def test_preference_records_keep_the_chosen_responses_reasoning(llm_server, tmp_path):
    llm_server.set_behavior(reasoning=True)
    config = pref_config(tmp_path / "pref.jsonl", keep_reasoning=True, llm_as_judge=True, num_samples_per_prompt=4)
    dataset = PreferenceDataset(config)
    dataset.generate(
        question_gen_llm=OpenAICompatibleProvider("m", api_base=llm_server.openai_base),
        chosen_response_gen_llm=AnthropicProvider(api_key=KEY, api_base=llm_server.url),
        rejected_response_gen_llm=GeminiProvider(api_key=KEY, api_base=llm_server.url),
        judge_llm=OllamaProvider(api_base=llm_server.url),
        show_progress=False,
    )
    sent = reasoning_by_text(llm_server.requests())
    rows = read_jsonl(tmp_path / "pref.jsonl")
    assert len(rows) == 12
    # A judge that scores the rejected response higher swaps the pair: the trace follows the chosen response.
    assert {row["swapped_by_judge"] for row in rows} == {True, False}
    for row in rows:
        assert row["reasoning"] == sent[row["chosen_response"]] != sent[row["rejected_response"]]


def test_chat_records_keep_the_last_assistant_messages_reasoning(llm_server, tmp_path):
    llm_server.set_behavior(reasoning=True, reasoning_style="think_tags")
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    UltrachatDataset(chat_config(tmp_path / "chat.jsonl", keep_reasoning=True, languages={"en": "English"})).generate(
        llm, show_progress=False
    )
    sent = reasoning_by_text(llm_server.requests())
    rows = read_jsonl(tmp_path / "chat.jsonl")
    assert len(rows) == 9
    for row in rows:
        assert row["messages"][-1]["role"] == "assistant"
        assert row["reasoning"] == sent[row["messages"][-1]["content"]]
        assert all(set(m) == {"role", "content"} for m in row["messages"])  # messages stay as SFT tools read them


def test_generic_pipeline_records_keep_reasoning_and_a_column_of_that_name_is_refused(llm_server, tmp_path):
    llm_server.set_behavior(reasoning=True)
    rows = [{"review": f"The tent number {i} kept us dry all week."} for i in range(3)]
    base = {
        "input_rows": rows,
        "input_columns": ["review"],
        "forward_columns": ["review"],
        "output_columns": ["summary"],
        "prompts": ["Summarise in {num_samples} ways: {review}"],
        "num_samples_per_prompt": 2,
        "output_file": str(tmp_path / "p.jsonl"),
    }
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    GenericPipelineDataset(GenericPipelineDatasetConfig(**base, keep_reasoning=True)).generate(llm, show_progress=False)
    sent = reasoning_by_text(llm_server.requests())
    out = read_jsonl(tmp_path / "p.jsonl")
    assert len(out) == 6 and all(list(r)[-1] == "reasoning" and r["reasoning"] == sent[r["summary"]] for r in out)

    named = {**base, "output_columns": ["summary", "reasoning"]}
    assert GenericPipelineDatasetConfig(**named).output_columns == ["summary", "reasoning"]  # fine without it
    with pytest.raises(ValueError, match="keep_reasoning adds a 'reasoning' field"):
        GenericPipelineDatasetConfig(**named, keep_reasoning=True)


# -- store, config file, CLI -----------------------------------------------------------------------------

_EARLIER_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    key TEXT PRIMARY KEY, step TEXT NOT NULL, provider TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')), attempts INTEGER NOT NULL, error_kind TEXT,
    last_error TEXT, request TEXT NOT NULL, response TEXT, finish_reason TEXT, repaired INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL,
    started REAL, finished REAL NOT NULL, cached_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0
);
INSERT INTO items (key, step, provider, status, attempts, request, response, finished)
VALUES ('old', 'generate', 'p', 'done', 1, '[]', '{}', 0);
"""


def test_a_store_of_an_earlier_version_gets_the_reasoning_column(tmp_path):
    path = tmp_path / "store.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_EARLIER_SCHEMA)
    db.close()
    common = {"step": "generate", "provider": "p", "attempts": 1, "request": "[]", "started": None}
    answer = {"finish_reason": "stop", "repaired": False, "prompt_tokens": 1, "completion_tokens": 1, "cost_usd": None}
    with RunStore(path) as store:
        old = store.get("old")
        assert old is not None and old.reasoning is None
        asyncio.run(store.save_done("new", **common, **answer, response="{}", reasoning="first, this"))
        new = store.get("new")
        assert new is not None and new.reasoning == "first, this"
        # An answer that replaces a rejected one replaces its reasoning too.
        asyncio.run(store.save_done("new", **common, **answer, response="{}", reasoning=None))
        again = store.get("new")
        assert again is not None and again.reasoning is None


def test_with_reasoning_reads_a_keep_reasoning_record():
    model = with_reasoning(TextClassificationRow)
    assert with_reasoning(TextClassificationRow) is model and issubclass(model, TextClassificationRow)
    row = model.model_validate({"text": "Lovely.", "label": "positive", "reasoning": "Short and warm."})
    assert row.reasoning == "Short and warm." and list(row.model_dump())[-1] == "reasoning"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="reasoning"):
        TextClassificationRow.model_validate({"text": "Lovely.", "label": "positive", "reasoning": "x"})


CONFIG = """
dataset_type: mcq
text_column: text
min_document_length: 10
num_samples_per_prompt: 2
keep_reasoning: {keep}
output_file: {output}
input_rows:
{docs}
llms: [{{provider: openai_compatible, model_id: m, api_base: '{base}', max_concurrency: 4}}]
"""


def test_a_config_files_keep_reasoning_is_checked_before_anything_is_sent(llm_server, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.format(keep="perhaps", output=tmp_path / "o.jsonl", docs="  - Some text.", base="x"))
    result = run_datafast("generate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "keep_reasoning" in result.stderr and "boolean" in result.stderr
    assert llm_server.requests() == []


def test_a_killed_cli_run_resumes_with_the_reasoning_it_was_sent(llm_server, tmp_path):
    llm_server.set_behavior(latency_s=0.2, reasoning=True, reasoning_style="think_tags")
    output = tmp_path / "killed.jsonl"
    docs = "".join(f"  - The museum's room {i} holds {i * 7} paintings from the {1500 + i * 20}s.\n" for i in range(12))
    config = tmp_path / "k.yaml"
    config.write_text(CONFIG.format(keep="true", output=output, docs=docs.rstrip("\n"), base=llm_server.openai_base))
    proc = start_generate(config)
    wait_for_lines(output, 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    stored = stored_requests(tmp_path / "killed.datafast")
    before = len(llm_server.requests())
    llm_server.set_behavior(latency_s=0.0)

    result = run_datafast("generate", str(config), "--no-progress")
    assert result.returncode == 0, result.stderr
    log = llm_server.requests()
    assert not stored & {r.prompt_text for r in log[before:]}  # what the killed run stored was not asked again
    sent = reasoning_by_text(log)
    rows = read_jsonl(output)
    assert len(rows) == len({r["uuid"] for r in rows}) == 24
    assert all(r["reasoning"] and r["reasoning"] == sent[r["question"]] for r in rows)


def test_a_ray_run_keeps_the_reasoning_a_local_run_keeps(llm_server, tmp_path):
    ray = pytest.importorskip("ray")
    from datafast.engine import RayBackend

    llm_server.set_behavior(reasoning=True)
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=4)
    local = tmp_path / "local" / "mcq.jsonl"
    MCQDataset(mcq_config(tmp_path, keep_reasoning=True, output_file=str(local))).generate(llm, show_progress=False)
    llm_server.reset()  # the same answers again
    on_ray = tmp_path / "ray" / "mcq.jsonl"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        MCQDataset(mcq_config(tmp_path, keep_reasoning=True, output_file=str(on_ray))).generate(
            llm, show_progress=False, backend=RayBackend(shards=2), retry=FAST_RETRY
        )
    finally:
        ray.shutdown()
    rows = sorted(read_jsonl(on_ray), key=lambda row: row["uuid"])
    assert rows == sorted(read_jsonl(local), key=lambda row: row["uuid"]) and all(row["reasoning"] for row in rows)
