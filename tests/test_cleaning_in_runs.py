"""Cleaning and the report as part of a run, through LiteLLM over real HTTP against the local server. The
server writes the language a prompt names; a language name it does not know ("français") gets English,
so those records are in the wrong language."""

import json

from datafast.datasets import ClassificationDataset
from datafast.llms import OpenAICompatibleProvider
from datafast.quality import dropped_path
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
    # Only "fr" records are dropped (English text); the rule leaves alone texts too short or too unsure to judge.
    assert all(d["record"]["language"] == "fr" and len(d["record"]["text"]) >= 40 for d in dropped)
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
