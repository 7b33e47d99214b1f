"""Datafast 0.0.36's import paths and names (issue #13 items 1 and 5): 0.0.36-style scripts run as they were
written, in their own process, against the local LLM server; each adapter checked on its own; an output file
0.0.36 wrote is adopted (its lines untouched, its records counted) or refused with the line that is not."""

import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from concept_examples import concept_classification
from conftest import FAST_RETRY

from datafast.datasets import ClassificationDataset, RawDataset
from datafast.engine.folder import run_folder
from datafast.errors import ConfigError
from datafast.llms import OpenAIProvider
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.config import RawDatasetConfig

# -- 0.0.36-style scripts, run as scripts ---------------------------------------------------------------

NAMES_SCRIPT = """
import json
import logging

import datafast
from datafast import configure_logger as top_configure_logger, get_version
from datafast.datasets import (
    Answer, ClassificationDataset, EvolveInstructOutput, Example, JudgeLLMOutput, QAEntries, QAEntry, RawDataset,
    ReformulatedUserQuestion, TextEntries, TextExamples, UserQuestions,
)
from datafast.expanders import expand_prompts
from datafast.inspectors import inspect_classification_dataset, inspect_raw_dataset
from datafast.llms import OpenAIProvider
from datafast.logger_config import configure_logger
from datafast.schema.config import (
    ClassificationDatasetConfig, GenericPipelineDatasetConfig, PromptExpansionConfig, RawDatasetConfig,
)
from datafast.schema.data_rows import (
    ChatRow, GenericPipelineRow, GenericPipelineSource, LabelSource, MCQRow, MCQSource, PreferenceRow,
    PreferenceSource, TextClassificationRow, TextRow, TextSource,
)
from datafast.utils import (
    calculate_num_prompt_expansions, create_generic_pipeline_row_model, create_response_model,
    load_dataset_from_source, log_generation_progress,
)

configure_logger(level="INFO", log_file="datafast.log")
out = {"version": get_version(), "same_logger": top_configure_logger is configure_logger}

# quickstart_example.py
config = ClassificationDatasetConfig(
    classes=[
        {"name": "positive", "description": "Text expressing positive emotions or approval"},
        {"name": "negative", "description": "Text expressing negative emotions or criticism"},
    ],
    num_samples_per_prompt=3,
    output_file="outdoor_activities_sentiments.jsonl",
    languages={"en": "English"},
    prompts=[
        "Generate {num_samples} reviews in {language_name} which are diverse and representative of a "
        "'{label_name}' sentiment class. {label_description}. The reviews should be brief and in the "
        "context of {{context}}."
    ],
    expansion=PromptExpansionConfig(
        placeholders={"context": ["hike review", "speedboat tour review"]}, combinatorial=True
    ),
)
providers = [OpenAIProvider(model_id="gpt-4.1-mini")]
dataset = ClassificationDataset(config)
out["expected"] = dataset.get_num_expected_rows(providers)
out["expansions"] = calculate_num_prompt_expansions(config.prompts, config.expansion)
dataset.generate(providers)
out["rows"] = len(dataset.data_rows)
out["row_types"] = sorted({type(r).__name__ for r in dataset.data_rows})
out["label_sources"] = sorted({r.label_source for r in dataset.data_rows})
out["page"] = str(inspect_classification_dataset(dataset, random=True))
log_generation_progress(len(dataset.data_rows), "openai", "gpt-4.1-mini", 1.5)

# raw_text_space_engineering_example.py, cut down
raw = RawDataset(RawDatasetConfig(
    document_types=["personal blog of a space engineer"],
    topics=["Electrostatic Charging", "Propellant Boil-off"],
    num_samples_per_prompt=1,
    output_file="space.jsonl",
    languages={"en": "English"},
    prompts=["Generate {num_samples} section of a {document_type} in {language_name} about the topic of "
             "{topic} in Space Engineering. Target the content for {{expertise_level}} level readers."],
    expansion=PromptExpansionConfig(placeholders={"expertise_level": ["executives", "PhD candidates"]}),
))
raw.generate(providers)
out["raw_rows"] = len(raw.data_rows)
out["raw_sources"] = sorted({r.text_source for r in raw.data_rows})
inspect_raw_dataset(raw)

# show_dataset_examples.py: rows built as 0.0.36 built them, shown from data_rows set by hand
row = TextClassificationRow(
    text="The trail is blocked by a fallen tree.", label="trail_obstruction", model_id="gpt-4.1-nano", language="en"
)
shown = ClassificationDataset(ClassificationDatasetConfig(
    classes=[{"name": "trail_obstruction", "description": "Obstacles on the trail"}],
    output_file="not_generated.jsonl",
))
shown.data_rows = [row]
out["hand_made_page"] = str(inspect_classification_dataset(shown))
rows = [
    row,
    TextRow(text="Solar panels degrade.", text_source=TextSource.SYNTHETIC, model_id="m", language="en",
            metadata={"document_type": "blog", "topic": "Solar"}),
    ChatRow(opening_question="What is a rover?", messages=[{"role": "user", "content": "What is a rover?"},
            {"role": "assistant", "content": "A vehicle that explores a planet."}], model_id="m", language="en",
            metadata={"domain": "Space", "topic": "Rovers", "subtopic": "Wheels"}, persona="a student"),
    MCQRow(source_document="Mars has two moons.", question="How many moons has Mars?", correct_answer="Two",
           incorrect_answer_1="One", incorrect_answer_2="Three", incorrect_answer_3="None",
           mcq_source=MCQSource.SYNTHETIC, model_id="m", language="en", metadata={"source_dataset": "local"}),
    PreferenceRow(input_document="Doc", question="Why?", chosen_response="Because.", rejected_response="No.",
                  preference_source=PreferenceSource.SYNTHETIC, chosen_model_id="a", rejected_model_id="b",
                  language="en", metadata={"instruction_model": "q"}),
    GenericPipelineRow(model_id="m", pipeline_source=GenericPipelineSource.SYNTHETIC, language="fr",
                       metadata={"prompt_index": "0", "source_row_index": "3"}, summary="Short."),
]
out["built"] = [json.loads(r.model_dump_json()) for r in rows]
out["label_source"] = row.label_source == LabelSource.SYNTHETIC

# expand_prompts as 0.0.36 datasets called it
out["expanded"] = expand_prompts(
    prompt_templates=["The {color} {animal} jumps", "I love {food}"],
    **PromptExpansionConfig(placeholders={"color": ["red", "blue"], "animal": ["fox"], "food": ["pizza"]}).model_dump(),
)

# generic_pipeline_response_format_example.py and generic_pipeline_row_model_example.py
generic = GenericPipelineDatasetConfig(
    input_rows=[{"text": "This movie was amazing!", "label": "positive"}],
    input_columns=["text"],
    forward_columns=["label"],
    output_columns=["translation", "question"],
    prompts=["Analyze: {text}. Generate {num_samples} translation in {language_name} and a question."],
    num_samples_per_prompt=1,
    languages={"fr": "French", "es": "Spanish"},
)
ResponseModel = create_response_model(generic)
out["response_fields"] = sorted(ResponseModel.model_json_schema()["properties"])
DynamicRowModel = create_generic_pipeline_row_model(generic)
example_row = DynamicRowModel(text="This movie was amazing!", label="positive", translation="Ce film etait super",
                              question="Pourquoi ?", model_id="gpt-5-mini-2025-08-07", language="fr")
out["dynamic_row"] = json.loads(example_row.model_dump_json())
out["loaded"] = load_dataset_from_source(local_file_path="docs.jsonl", sample_count=2)

# the answer models 0.0.36 exported from datafast.datasets
out["answers"] = [
    TextEntries(entries=["a"]).entries, TextExamples(list_of_text_examples=[Example(text="t")]).model_dump(),
    QAEntries(entries=[QAEntry(question="q", answer="a")]).model_dump(), UserQuestions(questions=["q"]).questions,
    ReformulatedUserQuestion(question="q").question, Answer(answer="a").answer,
    EvolveInstructOutput(improved_question="q", improved_answer="a").model_dump(),
    JudgeLLMOutput(assessment="fine", score=7).score,
]
logging.getLogger("datafast").info("script done")
print(json.dumps(out))
"""

QUICKSTART_SCRIPT = """
import json
from datafast.datasets import ClassificationDataset
from datafast.llms import OpenAIProvider
from datafast.logger_config import configure_logger
from datafast.schema.config import ClassificationDatasetConfig

configure_logger(log_file="run.log")
config = ClassificationDatasetConfig(
    classes=[
        {"name": "positive", "description": "Text expressing positive emotions"},
        {"name": "negative", "description": "Text expressing negative emotions"},
    ],
    num_samples_per_prompt=5,
    output_file="sentiment.jsonl",
    languages={"en": "English", "fr": "French"},
)
dataset = ClassificationDataset(config)
dataset.generate([OpenAIProvider()])
print(json.dumps({"rows": len(dataset.data_rows), "uuids": [r.uuid for r in dataset.data_rows],
                  "types": sorted({r.dataset_type for r in dataset.data_rows})}))
"""


def run_script(source: str, folder: Path, server, timeout: float = 180) -> subprocess.CompletedProcess:
    """`source` saved as a script in `folder` and run there with Python, its OpenAI provider pointed at the
    test server. `BROWSER=true` makes opening a page in a browser a no-op that succeeds."""
    script = folder / "script.py"
    script.write_text(source)
    env = {
        **os.environ,
        "OPENAI_BASE_URL": server.openai_base,
        "OPENAI_API_KEY": "sk-test-0000",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "BROWSER": "true",
    }
    return subprocess.run(
        [sys.executable, str(script)], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout
    )


def last_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_0036_script_using_every_name_runs_against_the_local_server(llm_server, tmp_path):
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(3)))
    out = last_json(run_script(NAMES_SCRIPT, tmp_path, llm_server))

    assert out["version"] == __import__("datafast").__version__ and out["same_logger"]
    assert out["expected"] == out["rows"] == 2 * 2 * 3 and out["expansions"] == 2
    assert out["row_types"] == ["TextClassificationRow"] and out["label_sources"] == ["synthetic"]
    assert out["raw_rows"] == 4 and out["raw_sources"] == ["synthetic"]
    assert len(llm_server.requests()) == 4 + 4
    # The inspectors wrote the viewer pages: the run's, and one of the rows set by hand.
    assert Path(out["page"]) == tmp_path / "outdoor_activities_sentiments.datafast" / "viewer.html"
    assert Path(out["page"]).is_file() and (tmp_path / "space.datafast" / "viewer.html").is_file()
    hand_made = Path(out["hand_made_page"])
    assert hand_made.is_file() and "The trail is blocked by a fallen tree." in hand_made.read_text()
    assert not (tmp_path / "not_generated.jsonl").exists()

    text, raw, chat, mcq, preference, generic = out["built"]
    assert (text["label"], text["label_source"], text["confidence_scores"]) == ("trail_obstruction", "synthetic", {})
    assert uuid.UUID(text["uuid"]) and text["dataset_type"] == "text_classification" and out["label_source"]
    assert (raw["document_type"], raw["topic"], raw["text_source"]) == ("blog", "Solar", "synthetic")
    assert (chat["domain"], chat["topic"], chat["subtopic"], chat["num_turns"]) == ("Space", "Rovers", "Wheels", 1)
    assert mcq["mcq_source"] == "synthetic" and mcq["metadata"] == {"source_dataset": "local"}
    assert (preference["question_model_id"], preference["model_id"]) == ("q", "a")
    assert (generic["document_id"], generic["summary"], generic["pipeline_source"]) == ("3", "Short.", "synthetic")

    assert out["expanded"] == [
        ["The red fox jumps", {"color": "red", "animal": "fox"}],
        ["The blue fox jumps", {"color": "blue", "animal": "fox"}],
        ["I love pizza", {"food": "pizza"}],
    ]
    assert out["response_fields"] == ["entries"]
    assert {k: out["dynamic_row"][k] for k in ("text", "label", "translation", "language")} == {
        "text": "This movie was amazing!",
        "label": "positive",
        "translation": "Ce film etait super",
        "language": "fr",
    }
    assert out["loaded"] == [{"text": "doc 0"}, {"text": "doc 1"}]
    assert out["answers"][0] == ["a"] and out["answers"][-1] == 7

    log = (tmp_path / "datafast.log").read_text()
    assert "| INFO     | datafast:log_generation_progress - Generated and saved 12 examples total" in log
    assert "script done" in log


def v0036_classification_lines(n: int = 4, labels=("positive", "negative"), languages=("en", "fr")) -> bytes:
    """An output as Datafast 0.0.36 wrote it: `model_dump_json()` of its TextClassificationRow, one a line."""
    lines = []
    for i in range(n):
        row = {
            "text": f"Review number {i}: the tent kept us dry through two nights of heavy rain.",
            "label": labels[i % len(labels)],
            "model_id": "gpt-5-nano-2025-08-07",
            "label_source": "synthetic",
            "confidence_scores": {},
            "language": languages[i % len(languages)],
            "uuid": str(uuid.UUID(int=i + 1)),
            "metadata": {},
        }
        lines.append(json.dumps(row, separators=(",", ":")) + "\n")
    return "".join(lines).encode()


def test_a_0036_script_pointed_at_its_0036_output_adopts_it(llm_server, tmp_path):
    old = v0036_classification_lines(4)
    (tmp_path / "sentiment.jsonl").write_bytes(old)
    out = last_json(run_script(QUICKSTART_SCRIPT, tmp_path, llm_server))

    assert out["rows"] == 4 + 20 and out["types"] == ["text_classification"]
    assert out["uuids"][:4] == [str(uuid.UUID(int=i + 1)) for i in range(4)]
    assert len(llm_server.requests()) == 4  # the run's own requests are all asked
    data = (tmp_path / "sentiment.jsonl").read_bytes()
    assert data.startswith(old) and data.count(b"\n") == 24
    assert "is a Datafast 0.0.36 output: its 4 records stay as they are" in (tmp_path / "run.log").read_text()

    # Run again: nothing asked, nothing written, the same 24 records.
    llm_server.reset()
    again = last_json(run_script(QUICKSTART_SCRIPT, tmp_path, llm_server))
    assert again["rows"] == 24 and llm_server.requests() == []
    assert (tmp_path / "sentiment.jsonl").read_bytes() == data


# -- item 5: an output file 0.0.36 wrote, in process ----------------------------------------------------


def test_0036_records_count_and_stay_first_even_after_the_run_folder_is_deleted(openai_env, tmp_path):
    path = tmp_path / "sentiment.jsonl"
    old = v0036_classification_lines(6)
    path.write_bytes(old)
    dataset = ClassificationDataset(concept_classification(path))
    dataset.generate(OpenAIProvider(), show_progress=False, retry=FAST_RETRY)
    assert len(dataset.data_rows) == 26 and dataset.data_rows[0].model_id == "gpt-5-nano-2025-08-07"
    assert [r.label for r in dataset.data_rows[:6]] == ["positive", "negative"] * 3
    assert dataset.to_hf_dataset().num_rows == 26  # exports take them too
    written = path.read_bytes()

    shutil.rmtree(run_folder(path))  # adopted again: 0.0.36's lines and datafast's records both
    openai_env.reset()
    again = ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    assert openai_env.requests() == [] and path.read_bytes() == written and len(again.data_rows) == 26


def test_changed_cleaning_rules_never_rewrite_0036_lines(openai_env, tmp_path, caplog):
    path = tmp_path / "sentiment.jsonl"
    old = v0036_classification_lines(4)
    path.write_bytes(old)
    ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    stricter = concept_classification(path).model_copy(update={"cleaning": CleaningConfig(min_words=30)})
    with caplog.at_level(logging.WARNING, logger="datafast"):
        dataset = ClassificationDataset(stricter).generate(OpenAIProvider(), show_progress=False)
    assert path.read_bytes().startswith(old) and len(dataset.data_rows) == 24
    assert "begins with Datafast 0.0.36 records, which datafast never rewrites" in caplog.text


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            v0036_classification_lines(3, labels=("positive", "spam")),
            r"line 2 is a Datafast 0\.0\.36 record of another config: its label 'spam' is not one this config "
            r"asks for \(negative, positive\)",
        ),
        (
            v0036_classification_lines(3, languages=("en", "de")),
            r"line 2 is a Datafast 0\.0\.36 record of another config: its language 'de'",
        ),
        (
            v0036_classification_lines(2) + b'{"text": "a note", "label": "positive"}\n',
            r"line 3 is not a datafast record, nor one Datafast 0\.0\.36 wrote",
        ),
        (
            v0036_classification_lines(2) + b'{"text": "cut off by a cra',
            r"ends with an incomplete line \(no line end\) after 2 Datafast 0\.0\.36 records",
        ),
    ],
    ids=["other-label", "other-language", "not-0.0.36", "incomplete-last-line"],
)
def test_a_0036_output_that_is_not_this_configs_is_refused_untouched(openai_env, tmp_path, lines, message):
    path = tmp_path / "sentiment.jsonl"
    path.write_bytes(lines)
    with pytest.raises(ConfigError, match=message):
        ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    assert path.read_bytes() == lines and openai_env.requests() == []


def test_another_types_0036_output_is_refused_with_the_field_at_fault(openai_env, tmp_path):
    path = tmp_path / "raw.jsonl"
    lines = v0036_classification_lines(2)
    path.write_bytes(lines)
    config = RawDatasetConfig(document_types=["blog post"], topics=["tents"], output_file=str(path))
    with pytest.raises(
        ConfigError, match=r"line 1 is a Datafast 0\.0\.36 record but not a RawDataset record: label: Extra inputs"
    ):
        RawDataset(config).generate(OpenAIProvider(), show_progress=False)
    assert path.read_bytes() == lines and openai_env.requests() == []
    assert RawDataset(config).data_rows == []  # not this type's records


def test_a_0036_raw_text_output_is_adopted_with_its_metadata_fields(openai_env, tmp_path):
    path = tmp_path / "raw.jsonl"
    row = {
        "text": "Camping in the rain needs a good tent and dry socks.",
        "text_source": "synthetic",
        "model_id": "gpt-4.1-nano",
        "language": "en",
        "uuid": str(uuid.uuid4()),
        "metadata": {"document_type": "blog post", "topic": "tents"},
    }
    path.write_text(json.dumps(row) + "\n")
    config = RawDatasetConfig(document_types=["blog post"], topics=["tents"], output_file=str(path))
    dataset = RawDataset(config).generate(OpenAIProvider(), show_progress=False)
    first = dataset.data_rows[0]
    assert (first.document_type, first.topic, first.uuid) == ("blog post", "tents", row["uuid"])
    assert len(dataset.data_rows) == 1 + dataset.get_num_expected_rows([OpenAIProvider()])


# -- item 1: each adapter on its own --------------------------------------------------------------------


@pytest.fixture
def restore_logger():
    logger = logging.getLogger("datafast")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_configure_logger_replaces_its_handlers_and_checks_its_arguments(restore_logger, tmp_path, capsys):
    from datafast.logger_config import configure_logger

    configure_logger(level="WARNING", log_file=str(tmp_path / "a.log"))
    configure_logger(level="SUCCESS", log_file=str(tmp_path / "b.log"), format_string="<red>{level}</red>:{message}")
    assert len([h for h in restore_logger.handlers if getattr(h, "_datafast_configured", False)]) == 2
    logging.getLogger("datafast.engine").info("answered %d", 3)
    assert (tmp_path / "b.log").read_text() == "INFO:answered 3\n" and (tmp_path / "a.log").read_text() == ""
    assert "INFO:answered 3" in capsys.readouterr().err
    configure_logger(serialize=True, log_file=str(tmp_path / "c.log"))
    logging.getLogger("datafast").warning("as json")
    entry = json.loads((tmp_path / "c.log").read_text())
    assert (entry["level"], entry["message"], entry["name"]) == ("WARNING", "as json", "datafast")
    with pytest.raises(ValueError, match=r"\{when\}, which is not a log field"):
        configure_logger(format_string="{when} {message}")
    with pytest.raises(ValueError, match="'LOUD' is not a log level"):
        configure_logger(level="LOUD")
    assert len([h for h in restore_logger.handlers if getattr(h, "_datafast_configured", False)]) == 2


def test_expand_prompts_is_literal_and_follows_the_expansion_rules():
    from datafast.expanders import expand_prompts

    combos = expand_prompts(['{"a": 1} {0.__class__} {x} {{y}} {z}'], {"x": ["1", "2"], "y": ["{x}"]})
    assert combos == [
        ('{"a": 1} {0.__class__} 1 {x} {z}', {"x": "1", "y": "{x}"}),
        ('{"a": 1} {0.__class__} 2 {x} {z}', {"x": "2", "y": "{x}"}),
    ]
    with pytest.raises(ValueError, match="expand to 4 prompts, above max_samples=3"):
        expand_prompts(["{a}{b}"], {"a": ["1", "2"], "b": ["1", "2"]}, max_samples=3)
    drawn = expand_prompts(["A {a}", "B {a}"], {"a": list("pqrs")}, combinatorial=False, num_random_samples=8, seed=1)
    assert [p[0] for p in drawn[::2]] == [p[0] for p in drawn[::2] if p[0].startswith("A")]
    assert sorted(p[1]["a"] for p in drawn[::2]) == list("pqrs")  # no repeat before every value is drawn
    assert drawn == expand_prompts(["A {a}", "B {a}"], {"a": list("pqrs")}, False, 8, seed=1)


def test_utils_count_like_the_run_and_read_sources(tmp_path):
    from datafast.utils import calculate_num_prompt_expansions, create_response_model, load_dataset_from_source

    config = concept_classification(tmp_path / "x.jsonl").model_copy(
        update={
            "prompts": [
                "{num_samples} {language_name} {label_name} {{a}} {{b}}",
                "{num_samples} {language_name} {label_name}",
            ]
        }
    )
    from datafast.schema.config import PromptExpansionConfig

    expansion = PromptExpansionConfig(placeholders={"a": ["1", "2"], "b": ["1", "2", "3"]})
    assert calculate_num_prompt_expansions(config.prompts, expansion) == 6 + 1
    random_draws = expansion.model_copy(update={"combinatorial": False, "num_random_samples": 4})
    assert calculate_num_prompt_expansions(config.prompts, random_draws) == 8

    (tmp_path / "lines.txt").write_text("first\n\nsecond\n")
    (tmp_path / "rows.csv").write_text("id,body\n7,hello\n8,world\n")
    (tmp_path / "rows.json").write_text('{"body": "one"}\n{"body": "two"}\n')  # 0.0.36 read .json as JSONL
    assert load_dataset_from_source(local_file_path=str(tmp_path / "rows.json")) == [{"body": "one"}, {"body": "two"}]
    assert load_dataset_from_source(local_file_path=str(tmp_path / "lines.txt"), text_column="doc") == [
        {"doc": "first"},
        {"doc": "second"},
    ]
    assert load_dataset_from_source(local_file_path=str(tmp_path / "rows.csv"), sample_count=1) == [
        {"id": "7", "body": "hello"}
    ]
    with pytest.raises(ValueError, match="file not found"):
        load_dataset_from_source(local_file_path=str(tmp_path / "missing.jsonl"))

    from datafast.schema.config import GenericPipelineDatasetConfig

    generic = GenericPipelineDatasetConfig(
        input_rows=["x"], input_columns=["text"], output_columns=["summary"], prompts=["{text} {num_samples}"]
    )
    answer = create_response_model(generic).model_validate({"entries": [{"summary": "s"}, {"summary": "t"}]})
    assert [e.summary for e in answer.entries] == ["s", "t"]


def test_inspectors_call_the_viewer_and_say_when_it_is_missing(openai_env, tmp_path, monkeypatch):
    import datafast.inspectors as inspectors
    from datafast.outputs import viewer

    path = tmp_path / "sentiment.jsonl"
    dataset = ClassificationDataset(concept_classification(path)).generate(OpenAIProvider(), show_progress=False)
    calls = []
    monkeypatch.setattr(viewer, "inspect_dataset", lambda d, open_browser: calls.append((d, open_browser)) or path)
    for name in ("classification", "raw", "ultrachat", "mcq", "preference", "generic_pipeline"):
        assert getattr(inspectors, f"inspect_{name}_dataset")(dataset, random=True) == path
    assert calls == [(dataset, True)] * 6

    monkeypatch.setitem(sys.modules, "datafast.outputs.viewer", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"the dataset viewer \(datafast.outputs.viewer\) is not part of this"):
        inspectors.inspect_classification_dataset(dataset)


def test_the_top_level_package_keeps_0036s_names():
    import datafast
    from datafast.logger_config import configure_logger

    assert datafast.configure_logger is configure_logger and datafast.get_version() == datafast.__version__
    assert {"configure_logger", "get_version"} <= set(datafast.__all__) <= set(dir(datafast))
