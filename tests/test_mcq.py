"""MCQDataset end to end: datafast → LiteLLM → real HTTP → the local LLM server; sources, counts, errors,
resume after a failed second step, and the CLI."""

import json
from pathlib import Path

import pytest
from cli_run import run_datafast, start_generate, stored_requests, wait_for_lines
from conftest import FAST_RETRY
from pydantic import ValidationError

from datafast.datasets import MCQDataset
from datafast.datasets.mcq import distinct_answers
from datafast.errors import ConfigError
from datafast.llms import OpenAICompatibleProvider, OpenAIProvider
from datafast.schema.config import MCQDatasetConfig, PromptExpansionConfig
from datafast.schema.data_rows import MCQRow

EXAMPLE = Path(__file__).parent.parent / "examples" / "mcq.yaml"
DOCS = [
    {"id": "doc-a", "body": "The Danube flows through ten countries " * 4, "topic": "rivers"},
    {"id": "doc-b", "body": "Photosynthesis turns light into chemical energy " * 4, "topic": "biology"},
    {"id": "doc-c", "body": "too short", "topic": "none"},
    {"id": "doc-d", "body": "The printing press spread across Europe after 1450 " * 4, "topic": "history"},
]
# Markers of the two steps in the default prompts.
QUESTIONS, DISTRACTORS = "multiple-choice exam questions", "Write three incorrect answers"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def mcq_config(tmp_path, **overrides):
    values = {
        "local_file_path": str(write_jsonl(tmp_path / "docs.jsonl", DOCS)),
        "text_column": "body",
        "num_samples_per_prompt": 2,
        "min_document_length": 50,
        "output_file": str(tmp_path / "mcq.jsonl"),
    }
    return MCQDatasetConfig(**{**values, **overrides})


def rows_of(path):
    return [MCQRow.model_validate(json.loads(line)) for line in Path(path).read_text().splitlines()]


def test_questions_then_incorrect_answers_end_to_end(openai_env, tmp_path):
    config = mcq_config(tmp_path, languages={"en": "English", "fr": "French"})
    dataset = MCQDataset(config)
    assert [r.document_id for r in dataset.rows] == ["doc-a", "doc-b", "doc-d"]  # doc-c is under 50 characters
    llm = OpenAIProvider()
    assert dataset.get_num_expected_rows([llm]) == 3 * 2 * 2  # documents × languages × questions
    assert dataset.num_requests() == 6 + 12  # question requests + one per question
    dataset.generate([llm], show_progress=False)

    rows = rows_of(config.output_file)
    assert len(rows) == len({r.uuid for r in rows}) == len(dataset.data_rows) == 12
    log = openai_env.requests()
    assert len(log) == dataset.num_requests()
    assert sum(QUESTIONS in r.prompt_text for r in log) == 6
    assert sum(DISTRACTORS in r.prompt_text for r in log) == 12
    by_doc = {d["id"]: d["body"].strip() for d in DOCS}
    for row in rows:
        assert row.dataset_type == "mcq" and row.model_id == llm.model_id
        assert row.source_document == by_doc[row.document_id]
        assert row.context is None
        assert row.placeholders["language_name"] == {"en": "English", "fr": "French"}[row.language]
        # the second step was asked about this very question and answer, for this document
        asked = [r.prompt_text for r in log if row.question in r.prompt_text and DISTRACTORS in r.prompt_text]
        assert asked and row.correct_answer in asked[0] and row.source_document in asked[0]
    assert {(r.document_id, r.language) for r in rows} == {
        (d, lang) for d in by_doc if d != "doc-c" for lang in ["en", "fr"]
    }


def test_context_column_sample_count_and_optional_placeholders(openai_env, tmp_path):
    config = mcq_config(
        tmp_path,
        context_column="topic",
        sample_count=2,
        num_samples_per_prompt=1,
        prompts=[
            "About {context}, for {{audience}}: write {num_samples} question with its answer on {text}",
            "Quiz ({context}, {{audience}}), {num_samples} question: {document}",
        ],
        expansion=PromptExpansionConfig(placeholders={"audience": ["kids", "experts"]}),
        distractor_prompt="Wrong answers to {question} (right: {correct_answer}) on {context}",
    )
    dataset = MCQDataset(config)
    assert [r.document_id for r in dataset.rows] == ["doc-a", "doc-b"]  # the first 2 that pass the filter
    assert dataset.get_num_expected_rows(OpenAIProvider()) == 2 * 2 * 2
    dataset.generate(OpenAIProvider(), show_progress=False)
    rows = rows_of(config.output_file)
    assert len(rows) == 8
    assert {(r.context, r.placeholders["audience"]) for r in rows} == {
        (t, a) for t in ("rivers", "biology") for a in ("kids", "experts")
    }
    log = openai_env.requests()
    assert sum(r.prompt_text.startswith("Wrong answers to ") for r in log) == 8
    assert any("on rivers" in r.prompt_text for r in log if r.prompt_text.startswith("Wrong answers"))


@pytest.mark.parametrize(
    ("correct", "incorrect", "message"),
    [
        ("Paris", ["Lyon", "paris", "Nice"], "incorrect answer 2 .* repeats the correct answer"),
        ("Paris", ["Lyon", "Nice", " LYON "], "incorrect answer 3 .* repeats incorrect answer 1"),
        ("Paris", ["Lyon", "", "Nice"], "incorrect answer is empty"),
    ],
)
def test_repeated_or_empty_incorrect_answers_are_rejected(correct, incorrect, message):
    with pytest.raises(ValueError, match=message):
        distinct_answers(correct, incorrect)
    assert distinct_answers("Paris", [" Lyon", "Nice", "Lille"]) == ["Lyon", "Nice", "Lille"]


def test_record_model_refuses_repeated_answers():
    common = {"uuid": "u", "request_id": "r", "dataset_type": "mcq", "model_id": "m", "language": "en"}
    fields = {"prompt_template": "t", "source_document": "d", "document_id": "0", "question": "q"}
    answers = {"correct_answer": "A", "incorrect_answer_1": "B", "incorrect_answer_2": "C"}
    assert MCQRow(**common, **fields, **answers, incorrect_answer_3="D")
    with pytest.raises(ValidationError, match="must all differ"):
        MCQRow(**common, **fields, **answers, incorrect_answer_3="a")


def test_on_answer_fans_out_one_ask_per_question_and_rejects_repeats(tmp_path):
    from datafast.datasets.mcq import IncorrectAnswers, questions_model

    dataset = MCQDataset(mcq_config(tmp_path, sample_count=1))
    first = next(dataset.first_asks())
    answer = questions_model(2).model_validate(
        {"questions": [{"question": "Q1?", "correct_answer": "A1"}, {"question": "Q2?", "correct_answer": "A2"}]}
    )
    outcome = dataset.on_answer(first, answer, "m")
    assert outcome.records == [] and [a.step for a in outcome.then] == ["distractors", "distractors"]
    assert [a.origin.draw for a in outcome.then] == [0, 1]  # two chains, two keys
    assert "Q2?" in outcome.then[1].messages[0]["content"] and "A2" in outcome.then[1].messages[0]["content"]
    good = IncorrectAnswers(incorrect_answer_1="B", incorrect_answer_2="C", incorrect_answer_3="D")
    record = dataset.on_answer(outcome.then[0], good, "m").records[0]
    assert (record["question"], record["correct_answer"], record["incorrect_answer_3"]) == ("Q1?", "A1", "D")
    assert record["document_id"] == "doc-a"
    bad = IncorrectAnswers(incorrect_answer_1="B", incorrect_answer_2="a1", incorrect_answer_3="D")
    with pytest.raises(ValueError, match="repeats the correct answer"):
        dataset.on_answer(outcome.then[0], bad, "m")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"text_column": "content"}, "text_column 'content' is not a column of .*; its columns are: id, body, topic"),
        ({"context_column": "ctx"}, "context_column 'ctx' is not a column"),
        ({"min_document_length": 5000, "max_document_length": 9000}, "no row of .* is left after the length filters"),
    ],
)
def test_bad_source_is_refused_before_any_request(openai_env, tmp_path, overrides, message):
    dataset = MCQDataset(mcq_config(tmp_path, **overrides))  # reads nothing yet, as in 0.0.36
    with pytest.raises(ConfigError, match=message):
        dataset.generate(OpenAIProvider(), show_progress=False)
    assert openai_env.requests() == []


def test_empty_or_missing_source_is_refused(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"is empty \(0 rows\)"):
        MCQDataset(mcq_config(tmp_path, local_file_path=str(tmp_path / "empty.jsonl"))).get_num_expected_rows()
    missing = MCQDataset(mcq_config(tmp_path, local_file_path=str(tmp_path / "nope.csv")))
    with pytest.raises(ConfigError, match="file not found"):
        missing.get_num_expected_rows()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"prompts": ["Write {num_samples} questions."]}, r"missing the document: use \{document\}"),
        ({"prompts": ["{num_samples} on {document} and {title}"]}, r"unknown placeholder \{title\}"),
        ({"prompts": ["{num_samples} {document} {context}"]}, r"uses \{context\} but context_column is not set"),
        ({"prompts": ["Questions on {document}"]}, r"missing the mandatory placeholder \{num_samples\}"),
        (
            {"distractor_prompt": "Wrong answers for {question}"},
            r"missing the mandatory placeholder \{correct_answer\}",
        ),
        ({"distractor_prompt": "{question} {correct_answer} {{tone}}"}, "optional placeholders are only filled"),
        ({"min_document_length": 10, "max_document_length": 5}, "min_document_length .* is above max"),
        ({"local_file_path": None}, "no input source"),
        ({"input_rows": ["x"]}, "give only one input source"),
        ({"context_column": "body"}, "context_column and text_column are both 'body'"),
        ({"sample_count": 0}, "sample_count"),
    ],
)
def test_bad_config_is_refused_naming_the_field(tmp_path, overrides, message):
    with pytest.raises(ValidationError, match=message):
        mcq_config(tmp_path, **overrides)


def test_a_hugging_face_dataset_on_disk_and_a_list_of_strings(openai_env, tmp_path):
    import datasets

    datasets.Dataset.from_list(DOCS).save_to_disk(str(tmp_path / "hf"))
    config = mcq_config(tmp_path, local_file_path=None, hf_dataset_name=str(tmp_path / "hf"), num_samples_per_prompt=1)
    dataset = MCQDataset(config).generate(OpenAIProvider(), show_progress=False)
    assert sorted(r.document_id for r in dataset.data_rows) == ["doc-a", "doc-b", "doc-d"]

    texts = [d["body"] for d in DOCS]
    config = mcq_config(
        tmp_path,
        local_file_path=None,
        input_rows=texts,
        text_column="text",
        num_samples_per_prompt=1,
        output_file=str(tmp_path / "list.jsonl"),
    )
    dataset = MCQDataset(config).generate(OpenAIProvider(), show_progress=False)
    assert sorted(r.document_id for r in rows_of(tmp_path / "list.jsonl")) == ["0", "1", "3"]


def test_failed_second_step_resumes_without_resending_question_prompts(llm_server, tmp_path):
    config = mcq_config(
        tmp_path,
        num_samples_per_prompt=3,
        output_file=str(tmp_path / "r.jsonl"),
        distractor_prompt="Three wrong answers about: {document}\nQuestion: {question}\nAnswer: {correct_answer}",
    )
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    # Every incorrect-answer request about the printing-press document fails; its questions do not.
    llm_server.set_behavior(script=["500"] * 500, script_match="Three wrong answers about: The printing press")
    dataset = MCQDataset(config)
    dataset.generate(llm, show_progress=False, retry=FAST_RETRY)
    first = [r for r in llm_server.requests() if r.outcome == "ok"]
    first_rows = rows_of(config.output_file)
    assert len(dataset.failures) == 3 and len(first_rows) == 6
    assert {r.document_id for r in first_rows} == {"doc-a", "doc-b"}

    llm_server.reset()
    llm_server.set_behavior(script=[], script_match=None)
    again = MCQDataset(config).generate(llm, show_progress=False, retry=FAST_RETRY)
    second = llm_server.requests()
    assert not again.failures
    assert len(second) == 3 and all("The printing press" in r.prompt_text for r in second)
    assert not any(QUESTIONS in r.prompt_text for r in second)  # no first-step prompt sent again
    rows = rows_of(config.output_file)
    assert len(rows) == len({r.uuid for r in rows}) == 9
    assert {r.uuid for r in first_rows} <= {r.uuid for r in rows}
    assert len(first) + len(second) == dataset.num_requests()


def example_for_server(tmp_path, server):
    text = EXAMPLE.read_text()
    text = text.replace("output_file: mcq.jsonl", f"output_file: {tmp_path / 'mcq.jsonl'}")
    text = text.replace(
        "  - provider: openai\n    model_id: gpt-4.1-mini",
        f"  - provider: openai_compatible\n    model_id: m\n    api_base: {server.openai_base}",
    )
    assert "openai_compatible" in text and str(tmp_path) in text
    path = tmp_path / "mcq.yaml"
    path.write_text(text)
    return path


def test_example_config_plans_and_runs_through_the_cli(llm_server, tmp_path):
    path = example_for_server(tmp_path, llm_server)
    root = EXAMPLE.parent.parent  # the example names its data file from the repository root
    plan = run_datafast("plan", str(path), cwd=root)
    assert plan.returncode == 0, plan.stderr
    assert "mcq:" in plan.stdout and "18 rows in all" in plan.stdout
    assert "24 requests per provider" in plan.stdout
    assert llm_server.requests() == []
    result = run_datafast("generate", str(path), "--no-progress", cwd=root)
    assert result.returncode == 0, result.stderr
    rows = rows_of(tmp_path / "mcq.jsonl")
    assert len(rows) == len({r.uuid for r in rows}) == 18
    assert {r.document_id for r in rows} == {"volcano", "penicillin", "tcp"}
    assert {r.language for r in rows} == {"en", "de"} and all(r.context for r in rows)
    assert len(llm_server.requests()) == 24


def test_cli_names_a_missing_text_column_before_any_request(llm_server, tmp_path):
    path = example_for_server(tmp_path, llm_server)
    path.write_text(path.read_text().replace("text_column: text", "text_column: body"))
    result = run_datafast("generate", str(path), "--no-progress", cwd=EXAMPLE.parent.parent)
    assert result.returncode == 2, result.stderr
    error = " ".join(result.stderr.split())  # the terminal may wrap it
    assert (
        "text_column 'body' is not a column of examples/data/documents.jsonl; its columns are: id, title, text" in error
    )
    assert llm_server.requests() == []


def test_killed_cli_run_resumes_with_every_step_exactly_once(llm_server, tmp_path):
    import signal

    # Long enough for the first records to be written mid-run: a fresh process writes them once cleaning's
    # libraries have loaded, a second or so after LiteLLM.
    llm_server.set_behavior(latency_s=0.2)
    output = tmp_path / "killed.jsonl"
    docs = "".join(f"  - The museum's room {i} holds {i * 7} paintings from the {1500 + i * 20}s.\n" for i in range(12))
    config = tmp_path / "k.yaml"
    config.write_text(
        "dataset_type: mcq\ntext_column: text\nmin_document_length: 10\nnum_samples_per_prompt: 2\n"
        f"output_file: {output}\ninput_rows:\n{docs}"
        f"llms: [{{provider: openai_compatible, model_id: m, api_base: '{llm_server.openai_base}', "
        "max_concurrency: 4}]\n"
    )
    proc = start_generate(config)
    wait_for_lines(output, 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    done = stored_requests(tmp_path / "killed.datafast")
    seen_before = len(llm_server.requests())
    llm_server.set_behavior(latency_s=0.0)

    result = run_datafast("generate", str(config), "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = rows_of(output)
    assert len(rows) == len({r.uuid for r in rows}) == 24
    second = llm_server.requests()[seen_before:]
    assert 0 < len(done) < 36  # killed mid-run
    assert not {r.prompt_text for r in second} & done  # no stored answer paid for twice
    assert len(second) == 12 + 24 - len(done)
