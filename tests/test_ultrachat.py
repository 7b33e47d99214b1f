"""UltrachatDataset end to end: datafast → LiteLLM → real HTTP → the local LLM server; config errors; resume."""

import json
import signal
from pathlib import Path

import pytest
from cli_run import run_datafast, start_generate, stored_requests, wait_for_lines
from conftest import FAST_RETRY
from pydantic import ValidationError

from datafast.datasets import UltrachatDataset
from datafast.llms import OpenAICompatibleProvider, OpenAIProvider
from datafast.schema.config import PromptExpansionConfig, UltrachatDatasetConfig
from datafast.schema.data_rows import ChatRow

EXAMPLE = Path(__file__).parent.parent / "examples" / "ultrachat.yaml"
TOPICS = {"Astronomy": ["black holes", "exoplanets"], "Cooking": ["fermentation"]}
PERSONAS = ["p-alpha", "p-beta", "p-gamma"]

# Markers of each step in the default prompts, to tell the logged requests apart.
QUESTIONS, REWORD, ASSISTANT, FOLLOWUP = (
    "Write different questions",
    "Rewrite the question at the end",
    "Reply to the user's latest message",
    "Write your next message to the assistant",
)


def step_of(prompt_text):
    for marker in (FOLLOWUP, ASSISTANT, REWORD, QUESTIONS):
        if marker in prompt_text:
            return marker
    raise AssertionError(prompt_text[:200])


def chat_config(path, **overrides):
    values = {
        "topics_and_subtopics": TOPICS,
        "personas": PERSONAS,
        "num_samples": 3,
        "min_turns": 1,
        "max_turns": 3,
        "languages": {"en": "English", "fr": "French"},
        "output_file": str(path),
    }
    return UltrachatDatasetConfig(**{**values, **overrides})


def rows_of(path):
    return [ChatRow.model_validate(json.loads(line)) for line in Path(path).read_text().splitlines()]


def test_conversations_end_to_end_with_turn_ranges_personas_and_languages(openai_env, tmp_path):
    dataset = UltrachatDataset(chat_config(tmp_path / "chat.jsonl"))
    llm = OpenAIProvider()
    expected_rows = dataset.get_num_expected_rows([llm])
    assert expected_rows == 3 * 2 * 3  # subtopics × languages × num_samples
    planned = dataset.num_requests()
    dataset.generate([llm], show_progress=False)

    rows = rows_of(tmp_path / "chat.jsonl")
    assert len(rows) == len(dataset.data_rows) == expected_rows
    assert len({r.uuid for r in rows}) == expected_rows
    log = openai_env.requests()
    assert len(log) == planned  # num_requests is exact: 6 + Σ 2 × turns
    assert planned == 6 + sum(2 * r.num_turns for r in rows)
    assert {r.num_turns for r in rows} == {1, 2, 3}
    assert {r.persona for r in rows} <= set(PERSONAS) and len({r.persona for r in rows}) > 1
    assert {(r.topic, r.subtopic, r.language) for r in rows} == {
        (t, s, lang) for t, subs in TOPICS.items() for s in subs for lang in ("en", "fr")
    }
    for row in rows:
        assert row.messages[0]["role"] == "user" and row.messages[-1]["role"] == "assistant"
        assert len(row.messages) == 2 * row.num_turns
        assert row.opening_question == row.messages[0]["content"]
        assert row.dataset_type == "ultrachat" and row.model_id == "gpt-4.1-mini"
    steps = [step_of(r.prompt_text) for r in log]
    assert steps.count(QUESTIONS) == 6 and steps.count(REWORD) == expected_rows
    assert steps.count(ASSISTANT) == sum(r.num_turns for r in rows)
    assert steps.count(FOLLOWUP) == sum(r.num_turns - 1 for r in rows)
    # The assistant sees the whole conversation: a last answer's request holds every earlier message.
    longest = max(rows, key=lambda r: r.num_turns)
    last_ask = [r.prompt_text for r in log if all(m["content"] in r.prompt_text for m in longest.messages[:-1])]
    assert any(ASSISTANT in text for text in last_ask)
    assert any("French" in r.prompt_text and step_of(r.prompt_text) == FOLLOWUP for r in log)


def test_persona_and_turn_count_are_seeded_and_fixed_turns_are_fixed(openai_env, tmp_path):
    a = UltrachatDataset(chat_config(tmp_path / "a.jsonl"))
    b = UltrachatDataset(chat_config(tmp_path / "b.jsonl"))
    assert a.num_requests() == b.num_requests()
    requests = list(a.prompt_requests())
    assert [a._choices(r, i) for r in requests for i in range(3)] == [
        b._choices(r, i) for r in requests for i in range(3)
    ]
    other_seed = UltrachatDataset(chat_config(tmp_path / "c.jsonl", expansion=PromptExpansionConfig(seed=7)))
    assert [a._choices(r, i) for r in requests for i in range(3)] != [
        other_seed._choices(r, i) for r in other_seed.prompt_requests() for i in range(3)
    ]

    fixed = UltrachatDataset(
        chat_config(tmp_path / "fixed.jsonl", min_turns=2, max_turns=2, languages={"en": "English"})
    )
    fixed.generate(OpenAIProvider(), show_progress=False)
    rows = rows_of(tmp_path / "fixed.jsonl")
    assert len(rows) == 9 and {r.num_turns for r in rows} == {2}
    assert len(openai_env.requests()) == fixed.num_requests() == 3 + 9 * 4


def test_optional_placeholders_and_custom_prompts(openai_env, tmp_path):
    config = chat_config(
        tmp_path / "opt.jsonl",
        languages={"en": "English"},
        num_samples=1,
        max_turns=2,
        min_turns=2,
        question_generation_prompts=["Give {num_samples} {{tone}} questions about {subtopic}."],
        expansion=PromptExpansionConfig(placeholders={"tone": ["naive", "expert"]}),
        persona_question_reformulation_prompt="As {persona}, reword: {question}",
        simulated_assistant_prompt="You help with {subtopic} in {language_name}.",
        user_system_prompt="You are {persona}.",
        user_followup_prompt="So far:\n{dialog_summary}\nAsk a follow-up.",
    )
    dataset = UltrachatDataset(config)
    dataset.generate(OpenAIProvider(), show_progress=False)
    rows = rows_of(tmp_path / "opt.jsonl")
    assert len(rows) == dataset.get_num_expected_rows([OpenAIProvider()]) == 3 * 2
    assert {r.placeholders["tone"] for r in rows} == {"naive", "expert"}
    sent = [r.prompt_text for r in openai_env.requests()]
    assert "Give 1 expert questions about exoplanets." in sent
    assert sum(t.startswith("As p-") for t in sent) == 6
    followups = [t for t in sent if "Ask a follow-up." in t]
    assert len(followups) == 6 and all("So far:\nUser: " in t and "\nAssistant: " in t for t in followups)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_turns": 0}, "max_turns"),
        ({"min_turns": 0}, "min_turns"),
        ({"min_turns": 3, "max_turns": 2}, "min_turns \\(3\\) is above max_turns \\(2\\)"),
        ({"topics_and_subtopics": {"Astronomy": []}}, "'Astronomy' has no subtopics"),
        ({"personas": []}, "personas is empty"),
        ({"num_samples": 0}, "num_samples"),
        ({"prompts": ["{num_samples} about {subtopic}"]}, "question_generation_prompts, not prompts"),
        ({"question_generation_prompts": ["Write {num_samples} questions"]}, "missing the mandatory placeholder"),
        ({"question_generation_prompts": ["{num_samples} on {subtopic} {persona}"]}, "unknown placeholder"),
        ({"user_followup_prompt": "Continue as {persona}"}, "user_followup_prompt is missing .*dialog_summary"),
        ({"simulated_assistant_prompt": "Help with {{style}}"}, "simulated_assistant_prompt uses the optional"),
        ({"persona_question_reformulation_prompt": "Reword {question}"}, "missing the mandatory placeholder {persona}"),
        ({"user_system_prompt": "You are {name}"}, "user_system_prompt uses unknown placeholder {name}"),
    ],
)
def test_bad_config_is_refused_naming_the_field(overrides, message, tmp_path):
    with pytest.raises(ValidationError, match=message):
        chat_config(tmp_path / "x.jsonl", **overrides)


def test_a_failed_follow_up_step_resumes_without_repeating_finished_steps(llm_server, tmp_path):
    # Follow-ups of the p-beta conversations fail; everything else completes.
    config = chat_config(
        tmp_path / "r.jsonl",
        min_turns=2,
        max_turns=3,
        languages={"en": "English"},
        user_system_prompt="You are {persona}, writing a follow-up.",
    )
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    llm_server.set_behavior(script=["500"] * 500, script_match="p-beta, writing a follow-up")
    dataset = UltrachatDataset(config)
    dataset.generate(llm, show_progress=False, retry=FAST_RETRY)
    first = [r for r in llm_server.requests() if r.outcome == "ok"]
    first_rows = rows_of(tmp_path / "r.jsonl")
    assert 0 < len(first_rows) < 9 and dataset.failures
    assert all(r.persona != "p-beta" for r in first_rows)

    llm_server.reset()
    llm_server.set_behavior(script=[], script_match=None)
    again = UltrachatDataset(config).generate(llm, show_progress=False, retry=FAST_RETRY)
    second = llm_server.requests()
    assert not again.failures
    assert not {r.prompt_text for r in second} & {r.prompt_text for r in first}  # nothing answered is re-sent
    assert {step_of(r.prompt_text) for r in second} <= {FOLLOWUP, ASSISTANT}
    assert all("p-beta" in r.prompt_text for r in second if step_of(r.prompt_text) == FOLLOWUP)
    rows = rows_of(tmp_path / "r.jsonl")
    assert len(rows) == len({r.uuid for r in rows}) == 9
    assert {r.uuid for r in first_rows} <= {r.uuid for r in rows}
    assert len(first) + len(second) == dataset.num_requests()


CLI_CONFIG = """
dataset_type: ultrachat
domain: Gardening
topics_and_subtopics:
  Vegetables: [{subtopics}]
personas: [a beginner, an expert]
num_samples: 2
min_turns: 2
max_turns: 3
output_file: {output}
llms:
  - {{provider: openai_compatible, model_id: m, api_base: "{base}", max_concurrency: 4}}
"""


def test_killed_cli_run_resumes_with_every_step_exactly_once(llm_server, tmp_path):
    llm_server.set_behavior(latency_s=0.05)
    output = tmp_path / "out.jsonl"
    config = tmp_path / "c.yaml"
    subtopics = ", ".join(f"plant{i}" for i in range(12))
    config.write_text(CLI_CONFIG.format(output=output, subtopics=subtopics, base=llm_server.openai_base))
    proc = start_generate(config)
    wait_for_lines(output, 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    done = stored_requests(tmp_path / "out.datafast")
    seen_before = len(llm_server.requests())
    llm_server.set_behavior(latency_s=0.0)

    result = run_datafast("generate", config, "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = rows_of(output)
    assert len(rows) == len({r.uuid for r in rows}) == 24
    second = llm_server.requests()[seen_before:]
    assert done and not {r.prompt_text for r in second} & done  # no stored answer paid for twice
    total = 12 + sum(2 * r.num_turns for r in rows)
    assert len(second) == total - len(done)


def test_example_config_runs_through_the_cli(llm_server, tmp_path):
    text = EXAMPLE.read_text()
    text = text.replace("output_file: ultrachat.jsonl", f"output_file: {tmp_path / 'u.jsonl'}")
    text = text.replace(
        "  - provider: openai\n    model_id: gpt-4.1-mini",
        f"  - provider: openai_compatible\n    model_id: m\n    api_base: {llm_server.openai_base}",
    )
    assert "openai_compatible" in text
    path = tmp_path / "ultrachat.yaml"
    path.write_text(text)
    plan = run_datafast("plan", path)
    assert plan.returncode == 0, plan.stderr
    assert "ultrachat:" in plan.stdout and "16 rows in all" in plan.stdout
    assert "beginner questions, in English" in plan.stdout or "a beginner could ask" in plan.stdout
    assert llm_server.requests() == []
    result = run_datafast("generate", path, "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = rows_of(tmp_path / "u.jsonl")
    assert len(rows) == 16 and {r.language for r in rows} == {"en"}
    assert {r.num_turns for r in rows} <= {2, 3}
    requests = int(plan.stdout.split(" requests per provider")[0].split()[-1])
    assert len(llm_server.requests()) == requests


def test_a_role_in_the_llms_of_a_single_role_type_is_refused(llm_server, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        CLI_CONFIG.format(output=tmp_path / "o.jsonl", subtopics="tomatoes", base=llm_server.openai_base).replace(
            "max_concurrency: 4}", "max_concurrency: 4, role: chosen}"
        )
    )
    result = run_datafast("generate", path)
    assert result.returncode == 2
    assert "role 'chosen' given, but ultrachat has no roles" in result.stderr
    assert llm_server.requests() == []


def test_every_provider_runs_its_own_conversations_each_moving_on_as_its_turn_ends(llm_server, tmp_path):
    config = chat_config(tmp_path / "two.jsonl", languages={"en": "English"}, num_samples=1, min_turns=3, max_turns=3)
    llms = [OpenAICompatibleProvider(m, api_base=llm_server.openai_base, max_concurrency=1) for m in ("a", "b")]
    dataset = UltrachatDataset(config)
    dataset.generate(llms, show_progress=False)
    rows = rows_of(tmp_path / "two.jsonl")
    assert len(rows) == dataset.get_num_expected_rows(llms) == 3 * 2
    assert sorted(r.model_id for r in rows) == ["a", "a", "a", "b", "b", "b"]
    log = llm_server.requests()
    assert len(log) == 2 * dataset.num_requests() == 2 * (3 + 3 * 6)
    for model in ("a", "b"):
        steps = [step_of(r.prompt_text) for r in log if r.model == model]
        # One request at a time per provider: a conversation is carried to its end before the next opens.
        assert steps[:8] == [QUESTIONS, REWORD, ASSISTANT, FOLLOWUP, ASSISTANT, FOLLOWUP, ASSISTANT, QUESTIONS]
