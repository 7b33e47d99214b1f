"""The synchronous `generate()` calls also work where an event loop already runs (a Jupyter cell, an async
app), and Ctrl+C there stops the run with what it finished kept."""

import _thread
import asyncio
import json
import threading
import time

import pytest
from cli_run import stored_requests
from conftest import FAST_RETRY
from pydantic import BaseModel

from datafast.datasets import ClassificationDataset
from datafast.llms import OpenAIProvider
from datafast.schema.config import ClassificationDatasetConfig, PromptExpansionConfig


def config(output, things=3):
    return ClassificationDatasetConfig(
        classes=[{"name": "a", "description": "first"}, {"name": "b", "description": "second"}],
        num_samples_per_prompt=2,
        output_file=str(output),
        prompts=["Write {num_samples} texts of class {label_name} about {{thing}}"],
        expansion=PromptExpansionConfig(placeholders={"thing": [f"thing{i}" for i in range(things)]}),
    )


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_inside_a_running_event_loop(openai_env, tmp_path):
    output = tmp_path / "out.jsonl"

    async def notebook_cell():
        dataset = ClassificationDataset(config(output))
        return dataset.generate(OpenAIProvider(), show_progress=False, retry=FAST_RETRY)

    dataset = asyncio.run(notebook_cell())
    assert len(dataset.data_rows) == 12 and len(lines(output)) == 12
    assert len(openai_env.requests()) == 6


def test_provider_generate_inside_a_running_event_loop(openai_env):
    class Answer(BaseModel):
        city: str

    async def cell():
        return OpenAIProvider().generate("Name a city.", response_format=Answer)

    assert isinstance(asyncio.run(cell()), Answer)


def test_errors_inside_a_running_event_loop_reach_the_caller(openai_env, tmp_path):
    async def cell():
        ClassificationDataset(config(tmp_path / "out.jsonl")).generate([], show_progress=False)

    with pytest.raises(Exception, match="give at least one LLM provider"):
        asyncio.run(cell())


def test_ctrl_c_inside_a_running_event_loop_stops_the_run_and_a_rerun_resumes(openai_env, tmp_path):
    openai_env.set_behavior(latency_s=0.1)
    output = tmp_path / "out.jsonl"

    def interrupt_after_some_answers():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if output.exists() and len(output.read_text().splitlines()) >= 20:
                break
            time.sleep(0.02)
        _thread.interrupt_main()  # what Ctrl+C (or a notebook's "interrupt kernel") does

    async def cell():
        ClassificationDataset(config(output, things=40)).generate(
            OpenAIProvider(max_concurrency=4), show_progress=False, retry=FAST_RETRY
        )

    threading.Thread(target=interrupt_after_some_answers, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(cell())
    done_before = stored_requests(tmp_path / "out.datafast")
    assert 10 <= len(done_before) < 80
    seen_before = len(openai_env.requests())

    openai_env.set_behavior(latency_s=0.0)
    dataset = ClassificationDataset(config(output, things=40)).generate(
        OpenAIProvider(), show_progress=False, retry=FAST_RETRY
    )
    assert len(dataset.data_rows) == 160 and len({r["uuid"] for r in lines(output)}) == 160
    second_run = openai_env.requests()[seen_before:]
    assert not {r.prompt_text for r in second_run} & done_before  # nothing finished was asked again
    assert len(second_run) == 80 - len(done_before)


SYNC_CALLS_ONE_AFTER_ANOTHER = """
import sys
caught = []
sys.unraisablehook = lambda u: caught.append(repr(u.exc_value))
from datafast.datasets import ClassificationDataset
from datafast.llms import OpenAICompatibleProvider
from datafast.schema.config import ClassificationDatasetConfig
base, folder = sys.argv[1], sys.argv[2]
llm = OpenAICompatibleProvider("m", api_base=base)
for i in range(2):
    config = ClassificationDatasetConfig(
        classes=[{"name": "a", "description": "x"}, {"name": "b", "description": "y"}],
        num_samples_per_prompt=2, output_file=f"{folder}/out{i}.jsonl",
    )
    ClassificationDataset(config).generate(llm, show_progress=False)
    llm.generate("Say hi.")
import gc
gc.collect()
print("unraisable:", caught)
"""


def test_sync_calls_one_after_another_leave_no_litellm_task_behind(llm_server, tmp_path):
    """Each synchronous call runs on its own event loop; LiteLLM's logging worker must not be left on a
    closed one (LiteLLM would warn "event loop changed" on the next call)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", SYNC_CALLS_ONE_AFTER_ANOTHER, llm_server.openai_base, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "unraisable: []" in result.stdout
    assert "LoggingWorker" not in result.stderr and "event loop" not in result.stderr
    assert len(llm_server.requests()) == 2 * (2 + 1)
