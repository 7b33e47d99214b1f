"""The record judge (`judge:`) and validators (`validators:`) of any dataset type, over real HTTP against the
test server, whose answers to a judge's rubric (an integer score per criterion, 1 to its scale) are drawn
from the request's schema, deterministically per prompt: they decide which records are dropped."""

import json
import signal
from pathlib import Path

import pytest
from cli_run import run_datafast, start_generate, stored_requests, wait_for_lines
from pydantic import ValidationError

from datafast.datasets import (
    ClassificationDataset,
    GenericPipelineDataset,
    MCQDataset,
    PreferenceDataset,
    RawDataset,
    UltrachatDataset,
)
from datafast.errors import ConfigError
from datafast.llms import OpenAICompatibleProvider
from datafast.planning import plan_run
from datafast.schema.config import (
    ClassificationDatasetConfig,
    GenericPipelineDatasetConfig,
    MCQDatasetConfig,
    PreferenceDatasetConfig,
    RawDatasetConfig,
    UltrachatDatasetConfig,
)

JUDGE_MARK = "You review the records of a synthetic"
CLASSES = [
    {"name": "positive", "description": "a happy review"},
    {"name": "negative", "description": "an unhappy review"},
    {"name": "neutral", "description": "a review neither happy nor unhappy"},
]
RUBRIC = [{"name": "fits_label", "description": "The text fits its label.", "scale": 5}]


def not_bad(record):
    """A validator of the tests (`python: test_judge:not_bad`): drops the records labelled 'bad'."""
    return record["label"] != "bad"


def lines(path):
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def summary(output):
    return json.loads((Path(output).with_suffix(".datafast") / "summary.json").read_text())


def is_judge(request):
    return request.prompt_text.startswith(JUDGE_MARK)


def config(tmp_path, **overrides):
    values = {
        "classes": CLASSES,
        "num_samples_per_prompt": 4,
        "output_file": str(tmp_path / "out.jsonl"),
        "judge": {"rubric": RUBRIC, "threshold": 3},
    }
    return ClassificationDatasetConfig(**{**values, **overrides})


@pytest.fixture
def llm(llm_server):
    return OpenAICompatibleProvider("m", api_base=llm_server.openai_base)


def test_the_judge_scores_every_record_and_drops_those_under_the_threshold(llm_server, llm, tmp_path):
    cfg = config(tmp_path)
    ClassificationDataset(cfg).generate(llm, show_progress=False)
    kept, dropped = lines(cfg.output_file), lines(tmp_path / "out.dropped.jsonl")
    judged_out = [d["record"] for d in dropped if d["reason"] == "judge"]
    assert kept and judged_out, "the server's scores (1-5, per prompt) keep some records and drop others"
    for record in kept:
        assert record["judge_scores"]["fits_label"] >= 3 and record["judge_reason"]
        assert list(record)[-2:] == ["judge_scores", "judge_reason"]  # written last
    assert all(record["judge_scores"]["fits_label"] < 3 for record in judged_out)
    assert summary(cfg.output_file)["records_dropped"]["judge"] == len(judged_out)

    # The scores are the judge's answers: one judge request per record, answered by the server.
    requests = llm_server.requests()
    judges = [r for r in requests if is_judge(r)]
    assert len(requests) - len(judges) == 3  # one generation request per class
    answers = {r.prompt_text.split("text: ", 1)[1].split("\nlabel: ")[0]: json.loads(r.content) for r in judges}
    assert len(answers) == len(judges) == len(kept) + len(dropped)
    for record in kept + judged_out:
        answer = answers[record["text"]]
        assert record["judge_scores"] == {"fits_label": answer["fits_label"]}
        assert record["judge_reason"] == answer["reason"].strip()
    assert f"label: {kept[0]['label']}\n</record>" in next(
        r.prompt_text for r in judges if kept[0]["text"] in r.prompt_text
    )


def test_a_rerun_asks_nothing_and_judge_answers_are_replayed_from_the_store(llm_server, llm, tmp_path):
    cfg = config(tmp_path)
    ClassificationDataset(cfg).generate(llm, show_progress=False)
    output, dropped = Path(cfg.output_file), tmp_path / "out.dropped.jsonl"
    before = (output.read_text(), dropped.read_text())
    llm_server.reset()
    ClassificationDataset(cfg).generate(llm, show_progress=False)
    assert llm_server.requests() == [] and (output.read_text(), dropped.read_text()) == before

    # Without the files, every record comes back from the run store: the judge's answers too, unasked.
    output.unlink()
    dropped.unlink()
    ClassificationDataset(cfg).generate(llm, show_progress=False)
    assert llm_server.requests() == []
    assert sorted(output.read_text().splitlines()) == sorted(before[0].splitlines())
    assert sorted(dropped.read_text().splitlines()) == sorted(before[1].splitlines())


def test_a_lower_threshold_brings_back_judged_records_without_a_request(llm_server, llm, tmp_path):
    ClassificationDataset(config(tmp_path)).generate(llm, show_progress=False)
    dropped = [d for d in lines(tmp_path / "out.dropped.jsonl") if d["reason"] == "judge"]
    kept = lines(tmp_path / "out.jsonl")
    llm_server.reset()
    lenient = config(tmp_path, judge={"rubric": RUBRIC, "threshold": 1})
    ClassificationDataset(lenient).generate(llm, show_progress=False)
    assert llm_server.requests() == []
    assert len(lines(tmp_path / "out.jsonl")) == len(kept) + len(dropped)
    # A changed rubric asks other questions: the same output is refused.
    other = config(tmp_path, judge={"rubric": [{**RUBRIC[0], "scale": 10}], "threshold": 1})
    with pytest.raises(ConfigError, match="different config"):
        ClassificationDataset(other).generate(llm, show_progress=False)


def test_the_judge_llm_of_the_config_judges_and_plan_counts_its_requests(llm_server, llm, tmp_path):
    judge_llm = {"provider": "openai_compatible", "model_id": "judge-model", "api_base": llm_server.openai_base}
    cfg = config(tmp_path, judge={"rubric": RUBRIC, "threshold": 1, "llm": judge_llm})
    dataset = ClassificationDataset(cfg)
    plan = plan_run(dataset, [llm])
    assert plan.requests_by_role == {"llms": 3, "judge": 12} and plan.total_requests == 15
    assert plan.requests_per_provider == 15 and plan.total_rows == 12
    by_name = {p.name: p for p in plan.providers}
    assert by_name["openai_compatible/judge-model"].roles == ["judge"]
    assert by_name["openai_compatible/judge-model"].requests == 12
    assert by_name["openai_compatible/m"].requests == 3
    assert llm_server.requests() == []

    dataset.generate(llm, show_progress=False)
    models = {r.model for r in llm_server.requests() if is_judge(r)}
    assert models == {"judge-model"} and len(lines(cfg.output_file)) == 12
    assert {r.model for r in llm_server.requests() if not is_judge(r)} == {"m"}


def test_plan_without_a_judge_is_as_before_and_with_one_adds_judge_tokens(llm, tmp_path):
    plain = plan_run(ClassificationDataset(config(tmp_path, judge=None)), [llm])
    judged = plan_run(ClassificationDataset(config(tmp_path)), [llm])
    assert plain.requests_by_role == {} and plain.providers[0].roles == [] and plain.total_requests == 3
    assert judged.total_requests == 3 + 12 and judged.providers[0].roles == ["llms", "judge"]
    assert judged.providers[0].prompt_tokens > plain.providers[0].prompt_tokens + 12 * 100
    assert judged.providers[0].completion_tokens == plain.providers[0].completion_tokens + 12 * (8 + 60)


def test_validators_of_each_kind_drop_with_their_name_and_before_the_judge(llm_server, llm, tmp_path):
    classes = [{"name": n, "description": f"a {n} review"} for n in ("good", "bad", "meh", "odd", "terrible")]
    validators = [
        {"name": "not_bad", "python": "test_judge:not_bad"},
        {"name": "no_meh", "regex": "^(good|bad|odd|terrible)$", "field": "label"},
        {"name": "no_odd", "json_schema": {"properties": {"label": {"not": {"const": "odd"}}}}},
        {"name": "short_label", "max_length": 4, "field": "label"},
        {"name": "has_text", "min_length": 1},
    ]
    cfg = config(tmp_path, classes=classes, validators=validators, judge={"rubric": RUBRIC, "threshold": 1})
    ClassificationDataset(cfg).generate(llm, show_progress=False)
    dropped = lines(tmp_path / "out.dropped.jsonl")
    reasons = {d["record"]["label"]: d["reason"] for d in dropped}
    assert reasons == {
        "bad": "validator:not_bad",
        "meh": "validator:no_meh",
        "odd": "validator:no_odd",
        "terrible": "validator:short_label",
    }
    assert all("judge_scores" not in d["record"] for d in dropped)  # not judged
    kept = lines(cfg.output_file)
    assert {r["label"] for r in kept} == {"good"} and all(r["judge_scores"] for r in kept)
    assert len([r for r in llm_server.requests() if is_judge(r)]) == len(kept)
    counts = summary(cfg.output_file)["records_dropped"]
    assert counts == {"validator:not_bad": 4, "validator:no_meh": 4, "validator:no_odd": 4, "validator:short_label": 4}

    # Validators are rules like the cleaning ones: without one, a rerun brings its records back, judged first.
    llm_server.reset()
    fewer = config(tmp_path, classes=classes, validators=validators[1:], judge={"rubric": RUBRIC, "threshold": 1})
    ClassificationDataset(fewer).generate(llm, show_progress=False)
    back = [r for r in lines(cfg.output_file) if r["label"] == "bad"]
    assert len(back) == 4 and all(r["judge_scores"] for r in back)
    assert len(llm_server.requests()) == 4 and all(is_judge(r) for r in llm_server.requests())


def test_bad_validators_and_judges_are_config_errors_before_any_request(llm_server, llm, tmp_path):
    cases = {
        "validators.0.python": [{"name": "v", "python": "no_such_module_xyz.checks:keep"}],
        "validators.0.regex": [{"name": "v", "regex": "(unclosed"}],
        "validators.0.json_schema": [{"name": "v", "json_schema": {"type": "no-such-type"}}],
    }
    messages = {
        "validators.0.python": "cannot import 'no_such_module_xyz.checks'",
        "validators.0.regex": "is not a valid regular expression",
        "validators.0.json_schema": "is not a valid JSON schema",
    }
    for where, validators in cases.items():
        with pytest.raises(ValidationError) as error:
            config(tmp_path, validators=validators)
        assert where in str(error.value).replace("\n  ", " ") and messages[where] in str(error.value)
    with pytest.raises(ValidationError, match="exactly one of python, regex"):
        config(tmp_path, validators=[{"name": "v", "regex": "x", "max_length": 3}])
    with pytest.raises(ValidationError, match="name 'v' twice"):
        config(tmp_path, validators=[{"name": "v", "regex": "x"}, {"name": "v", "regex": "y"}])
    with pytest.raises(ValidationError, match="threshold 6 is above the scale of criterion 'fits_label'"):
        config(tmp_path, judge={"rubric": RUBRIC, "threshold": 6})
    with pytest.raises(ConfigError, match="threshold 7 is above the scale of criterion 'fits_label'"):
        ClassificationDataset(config(tmp_path, judge={"threshold": 7})).generate(llm, show_progress=False)
    with pytest.raises(ConfigError, match=r"validators\[0\] \('v'\): field 'txt' is not a field of"):
        ClassificationDataset(config(tmp_path, validators=[{"name": "v", "regex": "x", "field": "txt"}])).generate(
            llm, show_progress=False
        )
    with pytest.raises(ConfigError, match=r"judge\.llm: provider 'nope' is unknown"):
        ClassificationDataset(config(tmp_path, judge={"llm": {"provider": "nope"}})).generate(llm, show_progress=False)
    assert llm_server.requests() == []

    # From a config file, through the command line: the file and the field are named.
    path = tmp_path / "c.yaml"
    path.write_text(
        f"dataset_type: text_classification\noutput_file: {tmp_path / 'o.jsonl'}\n"
        "classes: [{name: a, description: b}]\n"
        "validators:\n  - {name: v, regex: '(unclosed'}\n"
        f"llms:\n  - {{provider: openai_compatible, model_id: m, api_base: {llm_server.openai_base}}}\n"
    )
    result = run_datafast("generate", path)
    assert result.returncode == 2 and f"{path}: validators.0.regex: regex '(unclosed'" in result.stderr
    assert llm_server.requests() == []


CLI_CONFIG = """
dataset_type: text_classification
classes:
  - {{name: positive, description: a happy review}}
  - {{name: negative, description: an unhappy review}}
num_samples_per_prompt: 5
prompts: ["Write {{num_samples}} reviews of class {{label_name}} about {{{{product}}}}."]
expansion:
  placeholders:
    product: [a tent, a kayak, a lamp, a stove, a map, a rope]
output_file: {output}
judge:
  rubric: [{{name: fits_label, description: The text fits its label.}}]
  threshold: 2
llms:
  - {{provider: openai_compatible, model_id: m, api_base: {base}, max_concurrency: 2}}
"""


def test_a_killed_run_resumes_without_judging_a_record_twice(llm_server, tmp_path):
    llm_server.set_behavior(latency_s=0.1)  # 72 requests, 2 at a time: a loaded machine still stops it part-way
    output = tmp_path / "out.jsonl"
    path = tmp_path / "c.yaml"
    path.write_text(CLI_CONFIG.format(output=output, base=llm_server.openai_base))
    proc = start_generate(path)
    wait_for_lines(output, 6, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    done = stored_requests(tmp_path / "out.datafast")
    written_before = {r["text"] for r in lines(output)}
    seen_before = len(llm_server.requests())
    llm_server.set_behavior(latency_s=0.0)

    result = run_datafast("generate", path, "--no-progress")
    assert result.returncode == 0, result.stderr
    second = llm_server.requests()[seen_before:]
    assert done and not {r.prompt_text for r in second} & done  # no stored answer asked again
    assert not any(text in r.prompt_text for r in second if is_judge(r) for text in written_before)
    kept, dropped = lines(output), lines(tmp_path / "out.dropped.jsonl")
    judged = [r for r in kept + [d["record"] for d in dropped] if "judge_scores" in r]
    assert len(kept) + len(dropped) == 60 and len(judged) == 60 and len({r["uuid"] for r in judged}) == 60
    done_judges = {p for p in done if p.startswith(JUDGE_MARK)}
    assert len([r for r in second if is_judge(r)]) == 60 - len(done_judges)
    assert summary(output)["interrupted"] is False


DOCS = [
    "The Danube flows through ten countries and four capital cities before it reaches the Black Sea.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen inside the chloroplasts.",
]


def every_type(tmp_path, judge):
    common = {"judge": judge, "output_file": str(tmp_path / "o.jsonl")}
    return [
        RawDataset(
            RawDatasetConfig(document_types=["blog post"], topics=["rivers"], num_samples_per_prompt=2, **common)
        ),
        MCQDataset(
            MCQDatasetConfig(
                input_rows=DOCS, text_column="text", num_samples_per_prompt=2, min_document_length=10, **common
            )
        ),
        UltrachatDataset(
            UltrachatDatasetConfig(
                topics_and_subtopics={"Science": ["rivers"]}, personas=["a curious student"], num_samples=2, **common
            )
        ),
        GenericPipelineDataset(
            GenericPipelineDatasetConfig(
                input_rows=[{"text": d} for d in DOCS],
                input_columns=["text"],
                output_columns=["summary"],
                prompts=["Summarise in one sentence: {text}"],
                num_samples_per_prompt=1,
                **common,
            )
        ),
    ]


@pytest.mark.parametrize("index", range(4), ids=["raw", "mcq", "chat", "pipeline"])
def test_every_type_is_judged_with_its_own_rubric(llm_server, llm, tmp_path, index):
    dataset = every_type(tmp_path, {"threshold": 1})[index]
    expected = dataset.get_num_expected_rows([llm])
    assert plan_run(dataset, [llm]).requests_by_role["judge"] == expected
    dataset.generate(llm, show_progress=False)
    names = {c.name for c in type(dataset).judge_rubric}
    records = lines(dataset.config.output_file) + [d["record"] for d in lines(tmp_path / "o.dropped.jsonl")]
    assert records and all(set(r["judge_scores"]) == names and r["judge_reason"] for r in records)
    judges = [r for r in llm_server.requests() if is_judge(r)]
    assert len(judges) == len(records) <= expected
    if isinstance(dataset, MCQDataset):
        assert "source_document: " in judges[0].prompt_text and "incorrect_answer_3: " in judges[0].prompt_text
    if isinstance(dataset, GenericPipelineDataset):  # whether an output is right depends on the request
        assert "<request>\nSummarise in one sentence:" in judges[0].prompt_text


def test_preference_keeps_its_own_judge_and_the_record_judge_scores_the_pair(llm_server, llm, tmp_path):
    values = {"input_documents": DOCS[:1], "num_samples_per_prompt": 2, "output_file": str(tmp_path / "p.jsonl")}
    pref = PreferenceDatasetConfig(**values, llm_as_judge=True, judge={"threshold": 1})
    dataset = PreferenceDataset(pref)
    roles = {"question": llm, "chosen": llm, "rejected": llm, "judge": llm}
    plan = plan_run(dataset, roles)
    assert plan.requests_by_role["judge"] == 2 * 2 + 2  # each response, then each pair
    dataset.generate(roles, show_progress=False)
    records = lines(pref.output_file)
    assert len(records) == 2
    assert all(
        r["chosen_response_score"] and set(r["judge_scores"]) == {"clear_question", "chosen_better"} for r in records
    )
    assert "rejected_response: " in next(r.prompt_text for r in llm_server.requests() if is_judge(r))
    # judge.llm and the judge role both name the judge: one must go.
    judge_llm = {"provider": "openai_compatible", "model_id": "j", "api_base": llm_server.openai_base}
    named = PreferenceDatasetConfig(**values, llm_as_judge=True, judge={"threshold": 1, "llm": judge_llm})
    with pytest.raises(ConfigError, match=r"judge\.llm names the record judge, and so does"):
        PreferenceDataset(named).generate(roles, show_progress=False)
    # Without llm_as_judge, a judge LLM is welcome when there is a judge: (else it is refused, as before).
    assert PreferenceDataset(PreferenceDatasetConfig(**values, judge={})).bindings(roles)[0]["judge"] is llm
    with pytest.raises(ConfigError, match="llm_as_judge is false"):
        PreferenceDataset(PreferenceDatasetConfig(**values)).bindings(roles)
    assert llm_server.requests() and all(r.model == "m" for r in llm_server.requests())


def test_records_without_a_judge_have_no_judge_fields(llm_server, llm, tmp_path):
    cfg = config(tmp_path, judge=None)
    ClassificationDataset(cfg).generate(llm, show_progress=False)
    records = lines(cfg.output_file)
    assert records and not any({"judge_scores", "judge_reason"} & set(r) for r in records)
    assert not {"judge", "validators"} & set(cfg.model_dump(mode="json"))  # and the config's dump is as before
