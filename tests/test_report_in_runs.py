"""A run's report: tallied while the records are written, in the run folder when `generate()` returns, and
right even when the run ends before the cleaning libraries have loaded in the background."""

import json
import threading
import time

from datafast.datasets import ClassificationDataset
from datafast.engine.sink import RecordSink
from datafast.llms import OpenAICompatibleProvider
from datafast.quality import build_report, preload
from datafast.quality.report import read_records
from datafast.schema.config import ClassificationDatasetConfig


def config(path, topics=4):
    return ClassificationDatasetConfig(
        classes=[{"name": "praise", "description": "pleased"}, {"name": "complaint", "description": "not pleased"}],
        num_samples_per_prompt=2,
        prompts=["Write {num_samples} customer messages in English of class {label_name} about {{topic}}."],
        expansion={"placeholders": {"topic": [f"topic {i}" for i in range(topics)]}},
        output_file=str(path),
    )


def test_the_report_files_are_there_when_generate_returns(llm_server, tmp_path):
    path = tmp_path / "out.jsonl"
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    dataset = ClassificationDataset(config(path)).generate(llm, show_progress=False)
    folder = tmp_path / "out.datafast"
    saved = json.loads((folder / "report.json").read_text())
    assert saved == dataset.report
    assert saved == build_report(read_records(path), ["text"])
    assert saved["total"] == len(path.read_text().splitlines()) > 0
    for name in ("lengths.png", "counts.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A rerun writes nothing new; its report still covers the whole file, from the records it scanned.
    again = ClassificationDataset(config(path)).generate(llm, show_progress=False)
    assert again.report == saved


def test_a_run_that_ends_before_the_libraries_load(llm_server, tmp_path, monkeypatch):
    # The libraries load in threads held back until every answer is in: the run's records must wait for
    # them, and the run must still end with everything written and reported.
    answers_in = threading.Event()

    def held_back(part):
        done = threading.Event()

        def load():
            answers_in.wait(timeout=30)
            time.sleep(0.05)
            preload.LOADERS[part]()
            done.set()

        threading.Thread(target=load, daemon=True).start()
        return done

    monkeypatch.setattr(preload, "_start", held_back)
    requests = 4 * 2  # topics x classes
    writes, waiting_at_first_write = [], []
    original_write, original_write_waiting = RecordSink.write, RecordSink._write_waiting

    def write(self, judged):
        original_write(self, judged)
        writes.append(len(judged))
        if len(writes) == requests:
            answers_in.set()

    def write_waiting(self, count):
        if not waiting_at_first_write:
            waiting_at_first_write.append(len(self._waiting))
        original_write_waiting(self, count)

    monkeypatch.setattr(RecordSink, "write", write)
    monkeypatch.setattr(RecordSink, "_write_waiting", write_waiting)

    path = tmp_path / "out.jsonl"
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    dataset = ClassificationDataset(config(path)).generate(llm, show_progress=False)

    assert len(writes) == requests and waiting_at_first_write == [sum(writes)]  # all of them waited
    lines = path.read_text().splitlines()
    summary = json.loads((tmp_path / "out.datafast" / "summary.json").read_text())
    assert summary["records_written"] == len(lines) == dataset.report["total"] > 0
    assert dataset.report == build_report(read_records(path), ["text"])
    assert (tmp_path / "out.datafast" / "lengths.png").is_file()


class Loading:
    """A stand-in for the background loading, ready when the test says so."""

    def __init__(self) -> None:
        self.done = False

    def ready(self) -> bool:
        return self.done

    def wait(self) -> None:
        self.done = True


def test_records_wait_for_the_libraries_then_are_written_a_slice_at_a_time(tmp_path):
    from datafast.engine import sink as sink_module
    from datafast.schema.cleaning import CleaningConfig
    from datafast.schema.data_rows import TextClassificationRow

    def row(i):
        text = f"Message number {i} says the garden was lovely in the morning."
        return TextClassificationRow(
            uuid=f"u{i}", request_id=f"r{i}", dataset_type="text_classification", model_id="m", language="en",
            prompt_template="T", text=text, label="praise",
        )  # fmt: skip

    path = tmp_path / "out.jsonl"
    sink = RecordSink(path, CleaningConfig(), ["text"], TextClassificationRow)
    sink._loading = loading = Loading()
    sink.scan()
    with sink:
        for i in range(100):
            sink.write(sink.judge([row(i)], truncated=False))
        sink.output.close()
        assert path.read_text() == ""  # nothing written while loading
        sink.output.open()
        loading.done = True
        sink.write(sink.judge([row(100)], truncated=False))
        sink.output.close()
        assert len(path.read_text().splitlines()) == 1 + sink_module.BACKLOG_PER_WRITE
        sink.output.open()
        assert sink.kept == 101  # counting writes the rest
    assert [json.loads(line)["uuid"] for line in path.read_text().splitlines()] == [f"u{i}" for i in range(101)]
