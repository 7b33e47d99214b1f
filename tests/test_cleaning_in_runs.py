"""Cleaning and the report as part of a run, through LiteLLM over real HTTP against the local server. The
server writes the language a prompt names; a language name it does not know ("français") gets English,
so those records are in the wrong language."""

import json

from datafast.datasets import ClassificationDataset
from datafast.llms import OpenAICompatibleProvider
from datafast.outputs import dropped_path
from datafast.schema.config import ClassificationDatasetConfig


def config(path, **cleaning):
    return ClassificationDatasetConfig(
        classes=[{"name": "praise", "description": "the writer is pleased"}, {"name": "complaint", "description": "x"}],
        num_samples_per_prompt=3,
        languages={"en": "English", "fr": "français"},
        prompts=["Write {num_samples} long customer messages in {language_name} of class {label_name}."],
        output_file=str(path),
        cleaning=cleaning,
    )


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_dropped_records_go_to_the_side_file_then_a_rerun_with_the_rule_off_keeps_them(llm_server, tmp_path):
    llm_server.set_behavior(default_array_items=3)
    path = tmp_path / "out.jsonl"
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    dataset = ClassificationDataset(config(path)).generate(llm, show_progress=False)
    kept, dropped = lines(path), lines(dropped_path(path))
    assert len(kept) + len(dropped) == 12 and len(dropped) >= 2
    assert {d["reason"] for d in dropped} == {"wrong_language"}
    # Only "fr" records are dropped (English text; short ones too, as the identifier is sure of them).
    assert all(d["record"]["language"] == "fr" for d in dropped)
    assert sum(r["language"] == "en" for r in kept) == 6
    folder = tmp_path / "out.datafast"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["records_written"] == len(kept) and summary["records_dropped"] == {"wrong_language": len(dropped)}
    # The report covers the kept records and is saved with its plots.
    assert dataset.report is not None and dataset.report["total"] == len(kept)
    assert json.loads((folder / "report.json").read_text())["total"] == len(kept)
    assert (folder / "lengths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A rerun asks for nothing and writes nothing twice, dropped records included.
    llm_server.reset()
    ClassificationDataset(config(path)).generate(llm, show_progress=False)
    assert llm_server.requests() == [] and lines(path) == kept and lines(dropped_path(path)) == dropped

    # Cleaning settings do not change what is asked: with the rule off, the same run resumes and the
    # dropped records are rebuilt from the run store into the output, without a request.
    again = ClassificationDataset(config(path, wrong_language=False)).generate(llm, show_progress=False)
    assert llm_server.requests() == []
    assert len(lines(path)) == 12 and len(again.data_rows) == 12
    assert {r["uuid"] for r in lines(path)} >= {d["record"]["uuid"] for d in dropped}
    assert lines(dropped_path(path)) == dropped


def test_cleaning_can_be_switched_off(llm_server, tmp_path):
    llm_server.set_behavior(default_array_items=3)
    path = tmp_path / "out.jsonl"
    off = dict(exact_duplicates=False, near_duplicates=False, drop_empty=False, drop_truncated=False)
    off |= dict(wrong_language=False, label_restatement=False, drop_non_text=False)
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    ClassificationDataset(config(path, **off)).generate(llm, show_progress=False)
    assert len(lines(path)) == 12 and lines(dropped_path(path)) == []


def english_config(path, **cleaning):
    return config(path, **cleaning).model_copy(update={"languages": {"en": "English"}})


def asked(server, label):
    return [r for r in server.requests() if f"class {label}." in r.prompt_text]


def test_an_answer_with_no_usable_record_is_asked_again_in_the_same_run(llm_server, tmp_path):
    # The server answers "praise" with dates and product codes twice, then with prose.
    llm_server.set_behavior(default_array_items=3, script=["junk", "junk"], script_match="class praise.")
    path = tmp_path / "out.jsonl"
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    dataset = ClassificationDataset(english_config(path)).generate(llm, show_progress=False)
    assert [r.outcome for r in asked(llm_server, "praise")] == ["junk", "junk", "ok"]
    assert len(asked(llm_server, "complaint")) == 1
    assert not dataset.failures and dataset.stats.asked_again == 2 and dataset.stats.succeeded == 2
    kept = lines(path)
    assert len(kept) == 6 and sum(r["label"] == "praise" for r in kept) == 3
    assert lines(dropped_path(path)) == []  # the junk answers were replaced, not kept
    # They were paid for: the run store's totals count their tokens, as the server does.
    summary = json.loads((tmp_path / "out.datafast" / "summary.json").read_text())
    served = sum(r.completion_tokens for r in llm_server.requests())
    assert summary["whole_run"]["completion_tokens"] == summary["this_run"]["completion_tokens"] == served


def test_an_answer_still_unusable_after_the_last_ask_is_taken_and_its_records_dropped(llm_server, tmp_path):
    llm_server.set_behavior(default_array_items=3, script=["junk"] * 3, script_match="class praise.")
    path = tmp_path / "out.jsonl"
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    dataset = ClassificationDataset(english_config(path)).generate(llm, show_progress=False)
    assert [r.outcome for r in asked(llm_server, "praise")] == ["junk"] * 3
    assert not dataset.failures and dataset.stats.asked_again == 2
    dropped = lines(dropped_path(path))
    assert len(dropped) == 3 and {d["reason"] for d in dropped} == {"not_text"}
    assert {d["record"]["label"] for d in dropped} == {"praise"} and len(lines(path)) == 3
    # Taken, not failed: a rerun asks nothing again.
    llm_server.reset()
    ClassificationDataset(english_config(path)).generate(llm, show_progress=False)
    assert llm_server.requests() == []


def test_unusable_answers_are_not_asked_again_when_rejections_are_off_or_sampling_would_not_help(
    llm_server, tmp_path
):
    from datafast.engine import RetryPolicy

    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    llm_server.set_behavior(default_array_items=3, script=["junk"], script_match="class praise.")
    path = tmp_path / "off.jsonl"
    ClassificationDataset(english_config(path)).generate(llm, show_progress=False, retry=RetryPolicy(max_rejections=0))
    assert len(asked(llm_server, "praise")) == 1 and len(lines(dropped_path(path))) == 3

    # English text where French is asked for: a model that ignores the language tends to do so again.
    llm_server.reset()
    path = tmp_path / "language.jsonl"
    dataset = ClassificationDataset(config(path)).generate(llm, show_progress=False)
    assert len(llm_server.requests()) == 4 and dataset.stats.asked_again == 0
    assert {d["reason"] for d in lines(dropped_path(path))} == {"wrong_language"}


def test_an_answer_with_no_record_at_all_is_asked_again_then_taken(llm_server, tmp_path):
    llm_server.set_behavior(rate_empty=1.0)  # every text is "", which the dataset type skips
    path = tmp_path / "out.jsonl"
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    dataset = ClassificationDataset(english_config(path)).generate(llm, show_progress=False)
    assert len(llm_server.requests()) == 2 * 3 and dataset.stats.asked_again == 4
    assert not dataset.failures and lines(path) == [] and lines(dropped_path(path)) == []
    llm_server.reset()
    ClassificationDataset(english_config(path)).generate(llm, show_progress=False)
    assert llm_server.requests() == []
