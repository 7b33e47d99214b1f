"""Multi-step chains in the engine, with a small two-step dataset type defined here: each raw text is
followed by a request that summarises it. Through LiteLLM over real HTTP against the local server."""

import json
from typing import Any, ClassVar

from conftest import FAST_RETRY
from pydantic import BaseModel, Field

from datafast.datasets.base import Ask, Outcome
from datafast.datasets.raw import RawDataset
from datafast.engine import RetryPolicy
from datafast.llms import OpenAICompatibleProvider
from datafast.outputs import dropped_path
from datafast.schema.config import RawDatasetConfig
from datafast.schema.data_rows import TextRow


class Summary(BaseModel):
    summary: str = Field(max_length=200)


class SummarisedRow(TextRow):
    summary: str


class SummarisedDataset(RawDataset):
    """Step 1 writes texts; step 2 summarises each text; a record holds both."""

    record_class: ClassVar[type[SummarisedRow]] = SummarisedRow
    rejected: ClassVar[set[str]] = set()
    rejected_once: ClassVar[set[str]] = set()

    def num_requests(self) -> int:
        return self.num_requests_per_provider() * (1 + self.config.num_samples_per_prompt)

    def on_answer(self, ask: Ask, answer: Any, model_id: str) -> Outcome:
        if ask.step == "generate":
            texts = [t for t in answer.entries if t.strip()][: self.config.num_samples_per_prompt]
            then = [
                Ask("summarise", [{"role": "user", "content": f"Summarise: {t}"}], Summary, ask.origin, state=t)
                for t in texts
            ]
            return Outcome(then=then)
        if ask.state in self.rejected:
            raise ValueError("this summary is not wanted")
        if ask.state in self.rejected_once:
            self.rejected_once.discard(ask.state)
            raise ValueError("not this time")
        return Outcome(records=[{"text": ask.state, "summary": answer.summary, **ask.origin.fields}])


def config(path, n_topics=6):
    return RawDatasetConfig(
        document_types=["memo"],
        topics=[f"topic {i}" for i in range(n_topics)],
        num_samples_per_prompt=2,
        output_file=str(path),
    )


def provider(server, concurrency=4):
    return OpenAICompatibleProvider("m", api_base=server.openai_base, max_concurrency=concurrency)


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_chain_moves_on_as_soon_as_its_step_is_answered(llm_server, tmp_path):
    llm_server.set_behavior(latency_s=0.1, default_array_items=2)
    dataset = SummarisedDataset(config(tmp_path / "out.jsonl")).generate(provider(llm_server, 2), show_progress=False)
    log = llm_server.requests()
    first_steps = [r for r in log if "Summarise:" not in r.prompt_text]
    second_steps = [r for r in log if "Summarise:" in r.prompt_text]
    assert len(first_steps) == 6 and len(second_steps) == 12
    # With 2 workers, a summary is asked for long before the last text request goes out.
    assert min(r.start for r in second_steps) < max(r.start for r in first_steps)
    out = rows(tmp_path / "out.jsonl")
    assert len(out) == len({r["uuid"] for r in out}) == 12 == len(dataset.data_rows)
    for row in dataset.data_rows:
        assert isinstance(row, SummarisedRow) and row.summary and row.topic.startswith("topic")
    # A record's request is its chain's last step; every chain's texts are the ones step 1 wrote.
    texts = {t for r in first_steps for t in json.loads(r.content)["entries"]}
    assert {r["text"] for r in out} == texts


def test_a_failed_later_step_is_retried_by_a_rerun_without_repeating_earlier_steps(llm_server, tmp_path):
    path = tmp_path / "out.jsonl"
    llm_server.set_behavior(script=["500"] * 4, script_match="Summarise:", default_array_items=2)
    once = RetryPolicy(max_attempts=1)
    first = SummarisedDataset(config(path)).generate(provider(llm_server), show_progress=False, retry=once)
    assert len(first.failures) == 4 and len(rows(path)) == 8
    assert {f.kind for f in first.failures} == {"transient"}
    llm_server.reset()
    llm_server.set_behavior(default_array_items=2)
    second = SummarisedDataset(config(path)).generate(provider(llm_server), show_progress=False)
    log = llm_server.requests()
    assert len(log) == 4 and all("Summarise:" in r.prompt_text for r in log)
    out = rows(path)
    assert len(out) == len({r["uuid"] for r in out}) == 12 == len(second.data_rows)
    assert second.stats is not None and second.stats.succeeded == 4


def test_an_answer_the_dataset_rejects_is_failed_then_asked_again(llm_server, tmp_path):
    path = tmp_path / "out.jsonl"
    llm_server.set_behavior(default_array_items=2)
    SummarisedDataset(config(path, n_topics=2)).generate(provider(llm_server), show_progress=False, retry=FAST_RETRY)
    wanted = rows(path)
    assert len(wanted) == 4
    # The same config with another output file: the server answers the same prompts the same way, and
    # this time the dataset rejects one text's summary.
    path2 = tmp_path / "again.jsonl"
    SummarisedDataset.rejected = {wanted[0]["text"]}
    try:
        llm_server.reset()
        rejected_run = SummarisedDataset(config(path2, n_topics=2)).generate(provider(llm_server), show_progress=False)
        assert len(rejected_run.failures) == 1 and "not wanted" in rejected_run.failures[0].reason
        assert len(rows(path2)) == 3
        # Asked again at once, twice (RetryPolicy.max_rejections), before it is given up until a rerun.
        asked = [r.prompt_text for r in llm_server.requests()]
        assert asked.count(f"Summarise: {wanted[0]['text']}") == 3 and len(asked) == 2 + 4 + 2
        assert rejected_run.stats.asked_again == 2 and rejected_run.stats.succeeded == 2 + 3
    finally:
        SummarisedDataset.rejected = set()
    llm_server.reset()
    SummarisedDataset(config(path2, n_topics=2)).generate(provider(llm_server), show_progress=False)
    assert [r.prompt_text for r in llm_server.requests()] == [f"Summarise: {wanted[0]['text']}"]
    assert len(rows(path2)) == 4


def test_an_answer_rejected_once_is_asked_again_in_the_same_run(llm_server, tmp_path):
    llm_server.set_behavior(default_array_items=2)
    path = tmp_path / "out.jsonl"
    first = SummarisedDataset(config(tmp_path / "first.jsonl", n_topics=2)).generate(
        provider(llm_server), show_progress=False
    )
    text = first.data_rows[0].text
    llm_server.reset()
    SummarisedDataset.rejected_once = {text}
    try:
        dataset = SummarisedDataset(config(path, n_topics=2)).generate(provider(llm_server), show_progress=False)
    finally:
        SummarisedDataset.rejected_once = set()
    assert not dataset.failures and len(rows(path)) == 4
    asked = [r.prompt_text for r in llm_server.requests()]
    assert asked.count(f"Summarise: {text}") == 2 and len(asked) == 2 + 4 + 1
    assert dataset.stats.asked_again == 1 and dataset.stats.succeeded == 6


def test_records_of_a_later_step_that_cleaning_drops_are_not_asked_again(llm_server, tmp_path):
    # Every answer is dates and product codes: the records' text comes from the first step, so asking the
    # summary step again could not fix it. The first step makes no records of its own.
    llm_server.set_behavior(default_array_items=2, rate_junk=1.0)
    path = tmp_path / "out.jsonl"
    dataset = SummarisedDataset(config(path, n_topics=3)).generate(provider(llm_server), show_progress=False)
    assert len(llm_server.requests()) == 3 + 6 and dataset.stats.asked_again == 0
    dropped = [json.loads(line) for line in dropped_path(path).read_text().splitlines()]
    assert len(dropped) == 6 and {d["reason"] for d in dropped} == {"not_text"}
