"""The Ray backend (#16) on a real local Ray cluster (`ray.init(num_cpus=2)`, once for the module) and the local
LLM server over real HTTP: the same records as the local backend, resume and switching backends, a worker killed
mid-run, and the command line. Skipped where Ray is not installed (`pip install "datafast[ray]"`)."""

import json
import logging
import os
import signal
import sqlite3
import threading
import time
from collections import Counter

import pytest
from cli_run import run_datafast, stored_requests
from conftest import FAST_RETRY

from datafast.datasets import MCQDataset, RawDataset
from datafast.engine import RayBackend, RetryPolicy
from datafast.engine.folder import run_folder
from datafast.engine.shards import ShardLayout
from datafast.llms import OpenAICompatibleProvider
from datafast.schema.config import MCQDatasetConfig, RawDatasetConfig

ray = pytest.importorskip("ray")

DOCS = [
    {"id": f"doc-{i}", "body": f"Document {i} tells of the river {name} and the towns along its banks. " * 3}
    for i, name in enumerate(["Danube", "Rhine", "Loire", "Elbe"])
]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def mcq_config(tmp_path, output):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    return MCQDatasetConfig(
        local_file_path=str(docs),
        text_column="body",
        num_samples_per_prompt=2,
        min_document_length=50,
        languages={"en": "English", "fr": "French"},
        output_file=str(output),
    )


def stored_so_far(folder):
    """What a shard's store holds, or nothing while it is being made."""
    try:
        return stored_requests(folder) if (folder / "store.sqlite").exists() else set()
    except sqlite3.OperationalError:
        return set()


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_both_backends_give_the_same_records_and_each_resumes_the_others_run(ray_cluster, llm_server, tmp_path):
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=4)
    local = MCQDataset(mcq_config(tmp_path, tmp_path / "local.jsonl")).generate(llm, show_progress=False)
    sent_by_local = len(llm_server.requests())
    llm_server.reset()  # the server answers a prompt it saw before otherwise, and a chain's next prompt differs
    on_ray = MCQDataset(mcq_config(tmp_path, tmp_path / "ray.jsonl"))
    on_ray.generate(llm, show_progress=False, backend=RayBackend(shards=2), retry=FAST_RETRY)
    # 4 documents × 2 languages ask for 2 questions each, then 3 incorrect answers per question.
    assert sent_by_local == len(llm_server.requests()) == 8 + 16
    assert on_ray.stats.succeeded == local.stats.succeeded == 24
    assert sorted(r.uuid for r in on_ray.data_rows) == sorted(r.uuid for r in local.data_rows)
    assert len(on_ray.data_rows) == 16
    ray_lines = lines(tmp_path / "ray.jsonl")
    assert len({r["uuid"] for r in ray_lines}) == len(ray_lines) == 16

    summary = json.loads((run_folder(tmp_path / "ray.jsonl") / "summary.json").read_text())
    assert summary["backend"] == "ray" and summary["shard_count"] == 2 and summary["records_written"] == 16
    assert summary["whole_run"]["done"] == 24 and sum(s["this_run"]["succeeded"] for s in summary["shards"]) == 24
    assert sorted(s["records_written"] for s in summary["shards"]) != [] and not summary["interrupted"]

    # Run again on Ray, then on the local backend: both resume, nothing is asked again or written twice.
    seen = len(llm_server.requests())
    again = MCQDataset(mcq_config(tmp_path, tmp_path / "ray.jsonl")).generate(llm, show_progress=False, backend="ray")
    assert again.stats.resumed == 24 and again.stats.succeeded == 0
    local_after = MCQDataset(mcq_config(tmp_path, tmp_path / "ray.jsonl")).generate(llm, show_progress=False)
    assert local_after.stats.resumed == 24 and local_after.stats.succeeded == 0
    assert len(llm_server.requests()) == seen
    assert lines(tmp_path / "ray.jsonl") == ray_lines


def test_a_local_run_cut_short_is_finished_on_ray_without_paying_twice(ray_cluster, llm_server, tmp_path):
    output = tmp_path / "out.jsonl"
    config = RawDatasetConfig(
        document_types=["memo", "story"],
        topics=[f"topic {i}" for i in range(6)],
        num_samples_per_prompt=2,
        output_file=str(output),
    )
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=2)
    llm_server.set_behavior(rate_500=0.5, seed=3)  # about half the requests fail for good on the local backend
    once = RetryPolicy(max_attempts=1)
    first = RawDataset(config).generate(llm, show_progress=False, retry=once)
    answered = {r.prompt_text for r in llm_server.requests() if r.outcome == "ok"}
    assert 0 < first.stats.succeeded < 12 and len(answered) == first.stats.succeeded
    llm_server.set_behavior(rate_500=0.0)
    seen = len(llm_server.requests())
    # Three shards: the local run's answers are handed to the shards whose chains they start.
    dataset = RawDataset(config).generate(llm, show_progress=False, backend=RayBackend(shards=3))
    second = llm_server.requests()[seen:]
    assert not {r.prompt_text for r in second} & answered and len(second) == 12 - len(answered)
    assert dataset.stats.resumed == len(answered)
    records = lines(output)
    assert len(records) == 24 and len({r["uuid"] for r in records}) == 24
    # Split another way, the run moves its answers to the new shards and asks nothing again.
    seen = len(llm_server.requests())
    again = RawDataset(config).generate(llm, show_progress=False, backend=RayBackend(shards=2))
    assert again.stats.resumed == 12 and len(llm_server.requests()) == seen
    assert sorted(r["uuid"] for r in lines(output)) == sorted(r["uuid"] for r in records)
    shards = sorted(p.name for p in (run_folder(output) / "shards").iterdir())
    assert not [name for name in shards if "-of-03" in name] and "01-of-02.jsonl" in shards  # the old layout is gone


def test_a_killed_worker_shard_is_run_again_and_resumes_every_record_once(ray_cluster, llm_server, tmp_path):
    llm_server.set_behavior(latency_s=0.2)
    output = tmp_path / "out.jsonl"
    config = RawDatasetConfig(
        document_types=["memo", "story"],
        topics=[f"topic {i}" for i in range(30)],
        num_samples_per_prompt=2,
        output_file=str(output),
    )
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=4)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["dataset"] = RawDataset(config).generate(llm, show_progress=False, backend=RayBackend(shards=2))
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    shard = ShardLayout(run_folder(output), 2).store(0).parent
    deadline = time.monotonic() + 90
    while len(stored_so_far(shard)) < 8:
        assert time.monotonic() < deadline and thread.is_alive(), outcome
        time.sleep(0.05)
    worker = int((shard / "lock").read_text())  # the shard's process holds its run folder's lock
    assert worker != os.getpid()
    os.kill(worker, signal.SIGKILL)
    stored_at_kill = stored_requests(shard)
    sent_at_kill = len(llm_server.requests())
    thread.join(120)
    assert "error" not in outcome, outcome.get("error")

    records = lines(output)
    assert len(records) == 120 and len({r["uuid"] for r in records}) == 120  # every record exactly once
    after_kill = llm_server.requests()[sent_at_kill:]
    assert not {r.prompt_text for r in after_kill} & stored_at_kill  # no stored answer asked again
    answered = Counter(r.prompt_text for r in llm_server.requests() if r.outcome == "ok")
    # At most those the killed shard had in flight (2 of the provider's 4) were answered and never received.
    assert sum(n - 1 for n in answered.values()) <= 2 and len(answered) == 60
    summary = json.loads((run_folder(output) / "summary.json").read_text())
    assert summary["whole_run"]["done"] == 60 and summary["records_written"] == 120
    # The shard was cut short, and Ray ran it again in another worker, which took up what the first had stored.
    killed = summary["shards"][0]
    assert len(stored_at_kill) < 30 and killed["worker"].rsplit(":", 1)[1] != str(worker)
    assert killed["this_run"]["resumed"] >= len(stored_at_kill) and killed["whole_run"]["done"] == 30


def test_command_line_runs_on_a_cluster_by_its_address_and_status_sees_the_shards(ray_cluster, llm_server, tmp_path):
    output = tmp_path / "out.jsonl"
    config = tmp_path / "run.yaml"
    config.write_text(
        "dataset_type: raw_text\ndocument_types: [memo, story]\ntopics: [a, b, c]\nnum_samples_per_prompt: 2\n"
        f"output_file: {output}\nllms:\n  - provider: openai_compatible\n    model_id: m\n"
        f"    api_base: {llm_server.openai_base}\n"
    )
    result = run_datafast(
        "generate", config, "--no-progress", "--backend", "ray", "--address", ray_cluster, "--shards", "2"
    )
    assert result.returncode == 0, result.stderr
    assert "12 records" in result.stdout and len(lines(output)) == 12
    status = run_datafast("status", config)
    assert status.returncode == 0, status.stderr
    assert "12 records" in status.stdout and "6 requests answered" in status.stdout and "2 stores" in status.stdout
