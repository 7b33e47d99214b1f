"""PreferenceDataset end to end through the local LLM server (OpenAI, Anthropic and Gemini wire formats),
the DPO export, role errors, config errors and resume."""

import asyncio
import json
from pathlib import Path

import pytest
from cli_run import run_datafast
from conftest import FAST_RETRY
from pydantic import ValidationError

from datafast.datasets import PreferenceDataset
from datafast.errors import ConfigError
from datafast.llms import AnthropicProvider, GeminiProvider, OpenAICompatibleProvider, OpenAIProvider
from datafast.schema.config import PreferenceDatasetConfig, PromptExpansionConfig
from datafast.schema.data_rows import PreferenceRow

EXAMPLE = Path(__file__).parent.parent / "examples" / "preference.yaml"
DOCS = [
    "Doc-A. Honey never spoils because its low water content and acidity stop microbes from growing.",
    "Doc-B. The Rhine flows from the Swiss Alps to the North Sea through six countries.",
    "Doc-C. Sourdough rises thanks to wild yeasts and lactic acid bacteria living in the starter.",
]
KEY = "sk-test-0000"


def pref_config(path, **overrides):
    values = {"input_documents": DOCS, "num_samples_per_prompt": 2, "output_file": str(path)}
    return PreferenceDatasetConfig(**{**values, **overrides})


def rows_of(path):
    return [PreferenceRow.model_validate(json.loads(line)) for line in Path(path).read_text().splitlines()]


@pytest.fixture
def all_env(llm_server, monkeypatch):
    """Every hosted provider's base URL and key in the environment, so providers are built with no arguments."""
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llm_server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_API_BASE", llm_server.url)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    return llm_server


def test_concept_page_call_works_as_written(all_env, tmp_path):
    dataset = PreferenceDataset(pref_config(tmp_path / "pref.jsonl"))
    assert dataset.get_num_expected_rows() == 3 * 2
    dataset.generate(
        question_gen_llm=OpenAIProvider(),
        chosen_response_gen_llm=AnthropicProvider(),
        rejected_response_gen_llm=GeminiProvider(),
    )
    rows = rows_of(tmp_path / "pref.jsonl")
    assert len(rows) == len(dataset.data_rows) == 6 and len({r.uuid for r in rows}) == 6
    assert {r.document_id for r in rows} == {"0", "1", "2"}
    for row in rows:
        assert row.input_document == DOCS[int(row.document_id)]
        assert row.question_model_id == "gpt-4.1-mini"
        assert row.chosen_model_id == row.model_id == AnthropicProvider().model_id
        assert row.rejected_model_id == GeminiProvider().model_id
        assert row.chosen_response_score is None and not row.swapped_by_judge and row.original_question is None
    log = all_env.requests()
    assert len(log) == dataset.num_requests() == 3 + 6 + 6
    by_protocol = {p: [r for r in log if r.protocol == p] for p in ("openai", "anthropic", "gemini")}
    assert [len(v) for v in by_protocol.values()] == [3, 6, 6]
    assert all("Write 2 such questions" in r.prompt_text for r in by_protocol["openai"])
    # Each response request carries its question and its document; the rejected one asks for a weaker answer.
    for row in rows:
        assert any(row.question in r.prompt_text and row.input_document in r.prompt_text for r in by_protocol["gemini"])
    assert all("weaker answer" in r.prompt_text for r in by_protocol["gemini"])


def test_agenerate_with_evol_instruct_and_judge_through_api_base(llm_server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    config = pref_config(
        tmp_path / "judged.jsonl", evol_instruct=True, llm_as_judge=True, languages={"en": "English", "de": "German"}
    )
    dataset = PreferenceDataset(config)
    judge = OpenAIProvider("gpt-4.1")
    chosen = AnthropicProvider(api_key=KEY, api_base=llm_server.url)
    rejected = GeminiProvider(api_key=KEY, api_base=llm_server.url)

    async def main():
        return await dataset.agenerate(
            question_gen_llm=OpenAIProvider(),
            chosen_response_gen_llm=chosen,
            rejected_response_gen_llm=rejected,
            judge_llm=judge,
            show_progress=False,
        )

    asyncio.run(main())
    rows = rows_of(tmp_path / "judged.jsonl")
    assert len(rows) == dataset.get_num_expected_rows() == 3 * 2 * 2
    by_role = dataset.num_requests_by_role()
    assert by_role == {"question": 6 + 12, "chosen": 12, "rejected": 12, "judge": 24}
    log = llm_server.requests()
    assert len(log) == sum(by_role.values())
    assert sum(r.model == "gpt-4.1" for r in log) == 24 and sum(r.model == "gpt-4.1-mini" for r in log) == 18
    for row in rows:
        assert row.original_question and row.original_question != row.question
        assert row.judge_model_id == "gpt-4.1"
        assert 1 <= row.rejected_response_score <= row.chosen_response_score <= 10  # swapped when the judge disagreed
        assert row.chosen_response_assessment and row.rejected_response_assessment
        models = {row.chosen_model_id, row.rejected_model_id}
        assert models == {chosen.model_id, rejected.model_id}
        assert row.swapped_by_judge == (row.chosen_model_id == rejected.model_id)
    assert {r.language for r in rows} == {"en", "de"}
    evolved = [r.prompt_text for r in log if "harder version" in r.prompt_text]
    assert len(evolved) == 12
    # The responses answer the evolved question, never the original one.
    response_prompts = [r.prompt_text for r in log if r.protocol in ("anthropic", "gemini")]
    for row in rows:
        assert sum(f"Question: {row.question}" in t for t in response_prompts) == 2
        assert not any(f"Question: {row.original_question}" in t for t in response_prompts)
    judged = [r.prompt_text for r in log if r.model == "gpt-4.1"]
    assert all("<response>" in t and "Score the response" in t for t in judged)


def test_dpo_export_in_both_trl_formats(all_env, tmp_path):
    dataset = PreferenceDataset(pref_config(tmp_path / "p.jsonl", input_documents=DOCS[:1]))
    dataset.generate(OpenAIProvider(), AnthropicProvider(), GeminiProvider(), show_progress=False)
    assert dataset.to_dpo_jsonl(tmp_path / "dpo.jsonl") == 2
    records = [json.loads(line) for line in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    rows = dataset.data_rows
    for record, row in zip(records, rows, strict=True):
        assert set(record) == {"prompt", "chosen", "rejected"}
        assert record["prompt"] == [{"role": "user", "content": row.question}]
        assert record["chosen"] == [{"role": "assistant", "content": row.chosen_response}]
        assert record["rejected"] == [{"role": "assistant", "content": row.rejected_response}]
    assert dataset.to_dpo_jsonl(tmp_path / "plain.jsonl", conversational=False) == 2
    plain = [json.loads(line) for line in (tmp_path / "plain.jsonl").read_text().splitlines()]
    assert plain == [{"prompt": r.question, "chosen": r.chosen_response, "rejected": r.rejected_response} for r in rows]
    assert dataset.to_dpo_records(conversational=False) == plain


def test_optional_placeholders_in_question_prompts(all_env, tmp_path):
    config = pref_config(
        tmp_path / "o.jsonl",
        num_samples_per_prompt=1,
        question_generation_prompts=["Ask {num_samples} {{level}} question about: {document}"],
        expansion=PromptExpansionConfig(placeholders={"level": ["easy", "tricky"]}),
        chosen_response_generation_prompt="Answer well: {question}",
        rejected_response_generation_prompt="Answer badly: {question}",
    )
    dataset = PreferenceDataset(config)
    dataset.generate(OpenAIProvider(), OpenAIProvider("gpt-4.1"), OpenAIProvider("gpt-4o-mini"), show_progress=False)
    rows = rows_of(tmp_path / "o.jsonl")
    assert len(rows) == 6 and {r.placeholders["level"] for r in rows} == {"easy", "tricky"}
    sent = [r.prompt_text for r in all_env.requests()]
    assert f"Ask 1 tricky question about: {DOCS[1]}" in sent
    assert sum(t.startswith("Answer badly: ") for t in sent) == 6


def test_role_errors_before_anything_is_sent(all_env, tmp_path):
    judged = PreferenceDataset(pref_config(tmp_path / "j.jsonl", llm_as_judge=True))
    with pytest.raises(ConfigError, match="no LLM for the role 'judge' \\(llm_as_judge is true\\): give judge_llm"):
        judged.generate(OpenAIProvider(), AnthropicProvider(), GeminiProvider())
    plain = PreferenceDataset(pref_config(tmp_path / "p.jsonl"))
    with pytest.raises(ConfigError, match="give rejected_response_gen_llm"):
        plain.generate(question_gen_llm=OpenAIProvider(), chosen_response_gen_llm=AnthropicProvider())
    with pytest.raises(ConfigError, match="judge_llm is given but llm_as_judge is false"):
        plain.generate(OpenAIProvider(), AnthropicProvider(), GeminiProvider(), judge_llm=OpenAIProvider())
    with pytest.raises(ConfigError, match="chosen_response_gen_llm is a str"):
        plain.generate(OpenAIProvider(), "claude", GeminiProvider())
    with pytest.raises(ConfigError, match="needs one LLM per role"):
        plain.bindings([OpenAIProvider()])
    with pytest.raises(ConfigError, match="no role 'teacher'"):
        plain.bindings({"question": OpenAIProvider(), "teacher": OpenAIProvider()})
    assert all_env.requests() == []
    assert not Path(tmp_path / "j.jsonl").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"input_documents": []}, "input_documents is empty"),
        ({"input_documents": ["ok", " "]}, "input_documents\\[1\\] is empty"),
        ({"num_samples_per_prompt": 0}, "num_samples_per_prompt"),
        (
            {"question_generation_prompts": ["Ask {num_samples} questions"]},
            "missing the mandatory placeholder {document}",
        ),
        ({"prompts": ["{num_samples} {document}"]}, "question_generation_prompts, not prompts"),
        ({"chosen_response_generation_prompt": "Answer {query}"}, "chosen_response_generation_prompt uses unknown"),
        ({"rejected_response_generation_prompt": "Answer badly"}, "missing the mandatory placeholder {question}"),
        ({"judge_prompt": "Score {question}", "llm_as_judge": True}, "judge_prompt is missing .*{response}"),
        ({"judge_prompt": "Score {question}: {response}"}, "llm_as_judge is false"),
        ({"evolution_prompt": "Harder: {question}"}, "evol_instruct is false"),
        ({"evolution_prompt": "{question} {answer}", "evol_instruct": True}, "evolved before they are answered"),
        ({"judge_prompt": "{question} {response} {{x}}", "llm_as_judge": True}, "judge_prompt uses the optional"),
    ],
)
def test_bad_config_is_refused_naming_the_field(overrides, message, tmp_path):
    with pytest.raises(ValidationError, match=message):
        pref_config(tmp_path / "x.jsonl", **overrides)


def test_a_failed_rejected_step_resumes_without_repeating_finished_steps(llm_server, tmp_path):
    config = pref_config(
        tmp_path / "r.jsonl",
        rejected_response_generation_prompt="Weak answer for {document} :: {question}",
        llm_as_judge=True,
    )
    question, chosen, rejected, judge = (
        OpenAICompatibleProvider(m, api_base=llm_server.openai_base) for m in ("q", "c", "r", "j")
    )
    llm_server.set_behavior(script=["500"] * 200, script_match="Weak answer for Doc-B")
    dataset = PreferenceDataset(config)
    dataset.generate(question, chosen, rejected, judge, show_progress=False, retry=FAST_RETRY)
    first = [r for r in llm_server.requests() if r.outcome == "ok"]
    first_rows = rows_of(tmp_path / "r.jsonl")
    assert len(first_rows) == 4 and {r.document_id for r in first_rows} == {"0", "2"}
    assert len(dataset.failures) == 2

    llm_server.reset()
    llm_server.set_behavior(script=[], script_match=None)
    again = PreferenceDataset(config).generate(question, chosen, rejected, judge, show_progress=False)
    second = llm_server.requests()
    assert not again.failures
    assert {r.model for r in second} == {"r", "j"}  # questions and chosen answers are not asked again
    assert len(second) == 2 + 4 and all("Doc-B" in r.prompt_text for r in second)
    assert not {r.prompt_text for r in second} & {r.prompt_text for r in first}
    rows = rows_of(tmp_path / "r.jsonl")
    assert len(rows) == len({r.uuid for r in rows}) == 6
    assert len(first) + len(second) == dataset.num_requests()


def cli(*args, env=None):
    return run_datafast(*args, env={"ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY, **(env or {})})


def example_for_server(server, tmp_path):
    text = EXAMPLE.read_text().replace("output_file: preference.jsonl", f"output_file: {tmp_path / 'p.jsonl'}")
    text = text.replace("provider: openai\n", f"provider: openai_compatible\n    api_base: {server.openai_base}\n")
    for name in ("anthropic", "gemini"):
        text = text.replace(f"provider: {name}\n", f"provider: {name}\n    api_base: {server.url}\n")
    path = tmp_path / "preference.yaml"
    path.write_text(text)
    return path


def test_example_config_runs_through_the_cli_with_roles(llm_server, tmp_path):
    path = example_for_server(llm_server, tmp_path)
    plan = cli("plan", str(path))
    assert plan.returncode == 0, plan.stderr
    assert "preference: 33 requests by role (question 9, chosen 6, rejected 6, judge 12)" in plan.stdout
    assert "6 rows in all" in plan.stdout
    assert "anthropic/claude-sonnet-4-5 (chosen)" in plan.stdout and "(judge)" in plan.stdout
    assert "Photosynthesis converts light energy" in plan.stdout
    assert llm_server.requests() == []

    result = cli("generate", str(path), "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = rows_of(tmp_path / "p.jsonl")
    assert len(rows) == 6 and all(r.chosen_response_score is not None for r in rows)
    assert {r.question_model_id for r in rows} == {"gpt-4.1-mini"} and {r.judge_model_id for r in rows} == {"gpt-4.1"}
    log = llm_server.requests()
    assert len(log) == 33
    assert sum(r.protocol == "anthropic" for r in log) == 6 and sum(r.protocol == "gemini" for r in log) == 6


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("role: judge", "role: teacher"), "role 'teacher' is unknown for preference"),
        (lambda t: t.replace("    role: judge\n", ""), "llms\\[3\\]: role is missing"),
        (lambda t: t.replace("role: judge", "role: chosen"), "role 'chosen' is already given to llms\\[1\\]"),
        (
            lambda t: t[: t.index("  - provider: openai_compatible", t.index("role: rejected"))],
            "no LLM for the role 'judge' \\(llm_as_judge is true\\): give an llms: entry with role: judge",
        ),
        (lambda t: t[: t.index("llms:")], "preference needs llms: entries with a role each"),
    ],
)
def test_role_mistakes_in_a_config_file_are_clear_errors(llm_server, tmp_path, edit, message):
    path = example_for_server(llm_server, tmp_path)
    path.write_text(edit(path.read_text()))
    for command in ("generate", "plan"):
        result = cli(command, str(path))
        assert result.returncode == 2, result.stdout
        assert __import__("re").search(message, " ".join(result.stderr.split())), result.stderr
    assert llm_server.requests() == []


@pytest.mark.parametrize(("chosen_score", "rejected_score", "swapped"), [(3, 8, True), (8, 3, False), (5, 5, False)])
def test_the_judge_swaps_a_pair_it_scores_the_other_way(tmp_path, chosen_score, rejected_score, swapped):
    from datafast.datasets.preference import JudgeVerdict, Pair

    dataset = PreferenceDataset(pref_config(tmp_path / "s.jsonl", llm_as_judge=True, input_documents=DOCS[:1]))
    origin = next(dataset.prompt_requests())
    pair = Pair("Why does honey keep?", "q", chosen="good", chosen_model_id="c", rejected="bad", rejected_model_id="r")
    first = dataset._judge(origin, pair, "chosen")
    assert first.role == "judge" and "<response>\ngood\n</response>" in first.messages[0]["content"]
    [second] = dataset.on_answer(first, JudgeVerdict(score=chosen_score, assessment="on good"), "j").then
    assert second.step == "judge_rejected" and "<response>\nbad\n</response>" in second.messages[0]["content"]
    [record] = dataset.on_answer(second, JudgeVerdict(score=rejected_score, assessment="on bad"), "j").records
    assert record["swapped_by_judge"] is swapped
    winner, loser = ("bad", "good") if swapped else ("good", "bad")
    assert (record["chosen_response"], record["rejected_response"]) == (winner, loser)
    assert record["chosen_model_id"] == record["model_id"] == ("r" if swapped else "c")
    assert record["chosen_response_score"] == max(chosen_score, rejected_score)
    assert record["chosen_response_assessment"] == ("on bad" if swapped else "on good")


def test_documents_from_a_jsonl_csv_or_parquet_file(all_env, tmp_path):
    rows = [
        {"id": "a1", "body": DOCS[0], "n": 1},
        {"id": "a2", "body": "too short", "n": 2},
        {"id": "a3", "body": DOCS[1], "n": 3},
        {"id": "a4", "body": DOCS[2], "n": 4},
    ]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = pref_config(
        tmp_path / "f.jsonl",
        input_documents=None,
        local_file_path=str(tmp_path / "docs.jsonl"),
        text_column="body",
        min_document_length=20,
        sample_count=2,
        num_samples_per_prompt=1,
    )
    dataset = PreferenceDataset(config)
    assert dataset.documents() == [("a1", DOCS[0]), ("a3", DOCS[1])]
    dataset.generate(OpenAIProvider(), AnthropicProvider(), GeminiProvider(), show_progress=False)
    got = rows_of(tmp_path / "f.jsonl")
    assert sorted((r.document_id, r.input_document) for r in got) == [("a1", DOCS[0]), ("a3", DOCS[1])]

    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    with (tmp_path / "docs.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "body", "n"])
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "docs.parquet")
    for name in ("docs.csv", "docs.parquet"):
        other = PreferenceDataset(config.model_copy(update={"local_file_path": str(tmp_path / name)}))
        assert other.documents() == dataset.documents()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text('{"body": "x"}\n'), "text_column 'text' is not a column of .*; its columns are: body"),
        (lambda p: p.write_text(""), "is empty \\(0 rows\\)"),
        (lambda p: p.write_text('{"text": "tiny"}\n'), "no row of .* is left after the length filters"),
    ],
)
def test_a_bad_document_file_is_refused_before_anything_is_sent(llm_server, tmp_path, make, message):
    path = tmp_path / "docs.jsonl"
    make(path)
    config = pref_config(tmp_path / "o.jsonl", input_documents=None, local_file_path=str(path), min_document_length=10)
    with pytest.raises(ConfigError, match=message):
        PreferenceDataset(config).documents()
    assert llm_server.requests() == []


def test_exactly_one_document_source(tmp_path):
    with pytest.raises(ValidationError, match="no documents: give input_documents"):
        pref_config(tmp_path / "o.jsonl", input_documents=None)
    with pytest.raises(ValidationError, match="only one source of documents, not input_documents and local_file_path"):
        pref_config(tmp_path / "o.jsonl", local_file_path="docs.jsonl")
    with pytest.raises(ValidationError, match="min_document_length is above max_document_length"):
        pref_config(tmp_path / "o.jsonl", min_document_length=50, max_document_length=10)


def test_documents_from_a_hugging_face_dataset_saved_to_disk(all_env, tmp_path):
    import datasets

    folder = tmp_path / "hf"
    datasets.Dataset.from_list([{"content": d, "id": f"hf-{i}"} for i, d in enumerate(DOCS)]).save_to_disk(str(folder))
    config = pref_config(
        tmp_path / "hf.jsonl", input_documents=None, hf_dataset_name=str(folder), text_column="content", sample_count=2
    )
    dataset = PreferenceDataset(config)
    assert dataset.documents() == [("hf-0", DOCS[0]), ("hf-1", DOCS[1])]
    dataset.generate(OpenAIProvider(), AnthropicProvider(), GeminiProvider(), show_progress=False)
    rows = rows_of(tmp_path / "hf.jsonl")
    assert len(rows) == 4 and {r.document_id for r in rows} == {"hf-0", "hf-1"}
    with pytest.raises(ConfigError, match="text_column 'text' is not a column of Hugging Face dataset"):
        PreferenceDataset(config.model_copy(update={"text_column": "text"})).documents()
