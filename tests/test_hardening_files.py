"""Items of the hardening issue (#11) about the run's files: two processes on one output, records only partly
in the output, a full disk, a deleted store or write-ahead log, files datafast did not write, corrupt files,
cleaning tightened on a finished run. Each test is named after its item; runs go over real HTTP to the local
LLM server, and the processes, locks and disks involved are real."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest
from cli_run import start_generate

from datafast.datasets import ClassificationDataset, RawDataset
from datafast.engine.folder import RunInUseError, RunLock, run_folder
from datafast.errors import ConfigError
from datafast.llms import OpenAICompatibleProvider
from datafast.outputs import JsonlFile
from datafast.schema.config import ClassificationDatasetConfig, RawDatasetConfig

CONFIG = """
dataset_type: raw_text
document_types: [memo, story]
topics: [{topics}]
num_samples_per_prompt: 2
output_file: {output}
llms:
  - provider: openai_compatible
    model_id: m
    api_base: {base}
    max_concurrency: 4
"""


def raw_config(path, n_topics=3, **cleaning):
    return RawDatasetConfig(
        document_types=["memo", "story"],
        topics=[f"topic {i}" for i in range(n_topics)],
        num_samples_per_prompt=2,
        output_file=str(path),
        cleaning=cleaning,
    )


def write_config(tmp_path, llm_server, output, n_topics):
    path = tmp_path / "run.yaml"
    topics = ", ".join(f'"topic {i}"' for i in range(n_topics))
    path.write_text(CONFIG.format(topics=topics, output=output, base=llm_server.openai_base))
    return path


def llm(llm_server):
    return OpenAICompatibleProvider("m", api_base=llm_server.openai_base, max_concurrency=4)


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def answered_prompts(llm_server):
    """How many times each prompt was answered (a prompt answered twice was paid for twice)."""
    return Counter(r.prompt_text for r in llm_server.requests() if r.outcome == "ok")


def wait_for(condition, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the run did not get there")


def test_item_1_a_second_process_on_the_same_output_is_refused_naming_the_first(llm_server, tmp_path):
    llm_server.set_behavior(latency_s=0.2)
    output = tmp_path / "out.jsonl"
    first = start_generate(write_config(tmp_path, llm_server, output, 15))
    lock = run_folder(output) / "lock"
    wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.pid), first)
    # The same file under another name (a symlink) is the same run.
    alias = tmp_path / "alias.jsonl"
    alias.symlink_to(output)
    for name in (output, alias):
        with pytest.raises(RunInUseError, match=rf"another datafast process \(pid {first.pid}"):
            RawDataset(raw_config(name, 15)).generate(llm(llm_server), show_progress=False)
    assert first.wait(60) == 0, first.communicate()
    records = lines(output)
    assert len(records) == 60 and len({r["uuid"] for r in records}) == 60
    assert max(answered_prompts(llm_server).values()) == 1  # nothing paid twice


def test_item_1_a_killed_run_leaves_no_stale_lock(llm_server, tmp_path):
    llm_server.set_behavior(latency_s=0.2)
    output = tmp_path / "out.jsonl"
    proc = start_generate(write_config(tmp_path, llm_server, output, 15))
    wait_for(lambda: output.exists() and output.read_text().count("\n") >= 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    llm_server.set_behavior(latency_s=0.0)
    dataset = RawDataset(raw_config(output, 15)).generate(llm(llm_server), show_progress=False)
    assert len(dataset.data_rows) == 60 and dataset.stats.resumed > 0
    twice = [prompt for prompt, n in answered_prompts(llm_server).items() if n > 1]
    assert len(twice) <= 4  # at most those in flight at the kill, their answers never received


def test_item_1_the_lock_is_held_by_open_file_so_two_runs_in_one_process_are_refused_too(tmp_path):
    first, second = (RunLock(tmp_path / "x.datafast", tmp_path / "x.jsonl") for _ in range(2))
    with first, pytest.raises(RunInUseError, match=f"pid {os.getpid()}"):
        second.__enter__()
    with RunLock(tmp_path / "x.datafast", tmp_path / "x.jsonl"):
        pass  # released


@pytest.mark.parametrize("cut", ["last_line", "half_line", "a_middle_line"])
def test_item_2_records_missing_from_the_output_are_written_again_on_resume(llm_server, tmp_path, cut):
    output = tmp_path / "out.jsonl"
    RawDataset(raw_config(output)).generate(llm(llm_server), show_progress=False)
    text = output.read_text().splitlines(keepends=True)
    assert len(text) == 12
    if cut == "last_line":
        missing = [text.pop()]
    elif cut == "half_line":
        missing = [text[-1]]
        text[-1] = text[-1][:40]
    else:
        missing = [text.pop(5)]
    output.write_text("".join(text))
    llm_server.reset()
    RawDataset(raw_config(output)).generate(llm(llm_server), show_progress=False)
    assert llm_server.requests() == []  # nothing asked again
    records = lines(output)
    assert len(records) == 12 and len({r["uuid"] for r in records}) == 12
    assert json.loads(missing[0])["uuid"] in {r["uuid"] for r in records}


SMALL_DISK = """
set -e
mount -t tmpfs -o size={size} tmpfs {small}
cp {config} {small}/run.yaml
set +e
{python} -m datafast generate {small}/run.yaml --no-progress
echo "exit=$?"
cp -a {small}/. {big}/
"""


# The smaller disk fills up while answers still arrive; the larger one once every answer is stored.
@pytest.mark.parametrize("size", ["150k", "260k"])
def test_item_3_a_full_disk_stops_with_one_line_and_a_rerun_finishes_without_rebuying(llm_server, tmp_path, size):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a small disk without privileges")
    small, big = tmp_path / "small", tmp_path / "big"
    small.mkdir()
    big.mkdir()
    config = write_config(tmp_path, llm_server, small / "out.jsonl", 60)
    script = SMALL_DISK.format(size=size, small=small, big=big, config=config, python=sys.executable)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    if "mount:" in result.stderr and "exit=" not in result.stdout:
        pytest.skip(f"cannot mount a small disk here: {result.stderr.strip()}")
    assert "exit=2" in result.stdout, result.stdout + result.stderr  # the CLI's status for datafast's errors
    errors = [line for line in result.stderr.splitlines() if "cannot write" in line]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "MB free on that disk" in errors[0]
    assert "Traceback" not in result.stderr
    written = (big / "out.jsonl").read_bytes()
    assert written == b"" or written.endswith(b"\n")  # never a half line
    first_run = answered_prompts(llm_server)
    with sqlite3.connect(big / "out.datafast" / "store.sqlite") as db:
        stored = db.execute("SELECT COUNT(*) FROM items WHERE status = 'done'").fetchone()[0]
    assert 0 < stored <= 120
    print(f"disk {size}: {stored} answers stored, {len(written.splitlines())} records written")
    # The rerun, with room: every record, and nothing stored bought again.
    llm_server.reset()
    dataset = RawDataset(raw_config(big / "out.jsonl", 60)).generate(llm(llm_server), show_progress=False)
    rebought = set(first_run) & set(answered_prompts(llm_server))
    assert dataset.stats.resumed == stored and len(rebought) <= 4  # at most the answers in flight at the crash
    records = lines(big / "out.jsonl")
    assert len(records) == 240 and len({r["uuid"] for r in records}) == 240


def test_item_4_a_deleted_store_is_rebuilt_from_the_records_and_nothing_is_paid_again(llm_server, tmp_path):
    output = tmp_path / "out.jsonl"
    RawDataset(raw_config(output)).generate(llm(llm_server), show_progress=False)
    shutil.rmtree(run_folder(output))
    llm_server.reset()
    dataset = RawDataset(raw_config(output)).generate(llm(llm_server), show_progress=False)
    assert llm_server.requests() == [] and dataset.stats.resumed == 6 and len(lines(output)) == 12


def test_item_4_committed_answers_survive_a_deleted_write_ahead_log(llm_server, tmp_path):
    llm_server.set_behavior(latency_s=0.1)
    output = tmp_path / "out.jsonl"
    proc = start_generate(write_config(tmp_path, llm_server, output, 15))
    # A record in the output means its answer was committed and counted.
    wait_for(lambda: output.exists() and output.read_text().count("\n") >= 12, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    counted = {r["request_id"] for r in JsonlFile(output).read()}  # the kill may have cut the last line
    store = run_folder(output) / "store.sqlite"
    for suffix in ("-wal", "-shm"):
        (store.parent / (store.name + suffix)).unlink(missing_ok=True)
    first_run = answered_prompts(llm_server)
    llm_server.reset()
    llm_server.set_behavior(latency_s=0.0)
    dataset = RawDataset(raw_config(output, 15)).generate(llm(llm_server), show_progress=False)
    assert len(dataset.data_rows) == 60
    assert dataset.stats.resumed >= len(counted) >= 6
    rebought = set(first_run) & set(answered_prompts(llm_server))
    assert len(rebought) <= 4  # only the answers in flight at the kill, never counted ones


@pytest.mark.parametrize("how", ["plain", "symlink"])
def test_item_5_a_file_datafast_did_not_write_is_refused_and_left_as_it_was(llm_server, tmp_path, how):
    foreign = tmp_path / "notes.jsonl"
    foreign.write_bytes(b'{"id": 1, "text": "mine"}\n{"id": 2, "text": "unfinished')
    output = foreign
    if how == "symlink":
        output = tmp_path / "link.jsonl"
        output.symlink_to(foreign)
    with pytest.raises(ConfigError, match=r"was not written by datafast \(line 1 .*never modifies a file"):
        RawDataset(raw_config(output)).generate(llm(llm_server), show_progress=False)
    assert foreign.read_bytes() == b'{"id": 1, "text": "mine"}\n{"id": 2, "text": "unfinished'
    assert llm_server.requests() == []


def test_item_5_an_output_copied_without_its_folder_and_run_with_another_config_is_refused(llm_server, tmp_path):
    output = tmp_path / "out.jsonl"
    RawDataset(raw_config(output)).generate(llm(llm_server), show_progress=False)
    copy = tmp_path / "copy.jsonl"
    shutil.copy(output, copy)
    llm_server.reset()
    other = ClassificationDatasetConfig(
        classes=[{"name": "a", "description": "x"}], num_samples_per_prompt=1, output_file=str(copy)
    )
    with pytest.raises(ConfigError, match=r"has no run folder .* were not made by this config's requests"):
        ClassificationDataset(other).generate(llm(llm_server), show_progress=False)
    with pytest.raises(ConfigError, match="were not made by this config's requests"):
        RawDataset(raw_config(copy, n_topics=2)).generate(llm(llm_server), show_progress=False)
    assert copy.read_bytes() == output.read_bytes() and llm_server.requests() == []


def test_item_11_a_corrupt_store_is_named_in_one_line(llm_server, tmp_path):
    output = tmp_path / "out.jsonl"
    RawDataset(raw_config(output)).generate(llm(llm_server), show_progress=False)
    store = run_folder(output) / "store.sqlite"
    store.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=rf"the run store {store} cannot be read .*Move its folder"):
        RawDataset(raw_config(output)).generate(llm(llm_server), show_progress=False)


def test_item_11_a_corrupt_jsonl_line_is_named_with_its_number(llm_server, tmp_path):
    output = tmp_path / "out.jsonl"
    RawDataset(raw_config(output)).generate(llm(llm_server), show_progress=False)
    text = output.read_text().splitlines(keepends=True)
    text[3] = "{not json\n"
    output.write_text("".join(text))
    with pytest.raises(ConfigError, match=rf"{output} line 4 is not valid JSON .*fix or delete that line"):
        RawDataset(raw_config(output)).generate(llm(llm_server), show_progress=False)


def test_item_11_the_cli_says_it_in_one_line(llm_server, tmp_path):
    output = tmp_path / "out.jsonl"
    config = write_config(tmp_path, llm_server, output, 2)
    output.write_text('{"request_id": "x", "uuid": "y", "dataset_type": "raw_text"}\n[1, 2]\n')
    result = subprocess.run(
        [sys.executable, "-m", "datafast", "generate", str(config), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{output} line 2 is not a JSON object" in result.stderr


def test_item_15_a_tightened_cleaning_rule_moves_failing_records_to_the_dropped_file(llm_server, tmp_path):
    output = tmp_path / "out.jsonl"
    RawDataset(raw_config(output, min_words=1)).generate(llm(llm_server), show_progress=False)
    records = lines(output)
    counts = sorted(len(r["text"].split()) for r in records)
    threshold = counts[len(counts) // 2]  # about half the records are shorter
    llm_server.reset()
    dataset = RawDataset(raw_config(output, min_words=threshold))
    dataset.generate(llm(llm_server), show_progress=False)
    assert llm_server.requests() == []
    kept = lines(output)
    dropped = [json.loads(line) for line in (tmp_path / "out.dropped.jsonl").read_text().splitlines()]
    assert all(len(r["text"].split()) >= threshold for r in kept)
    assert {d["reason"] for d in dropped} == {"too_short"}
    assert len(kept) + len(dropped) == 12 and dropped
    assert {r["uuid"] for r in kept} | {d["record"]["uuid"] for d in dropped} == {r["uuid"] for r in records}
    # Loosened again: they come back.
    RawDataset(raw_config(output, min_words=1)).generate(llm(llm_server), show_progress=False)
    assert len(lines(output)) == 12 and llm_server.requests() == []
