"""A planted API key, used for a real generation through the local LLM server, appears in no file of the run
folder or the exports, and not in the dataset card."""

from conftest import FAST_RETRY

from datafast.datasets import ClassificationDataset
from datafast.engine.run import run_folder
from datafast.llms import OpenAIProvider
from datafast.outputs import dropped_path, to_csv, to_parquet
from datafast.outputs.hub import hub_files
from datafast.quality import build_report, save_report
from datafast.quality.report import read_records
from datafast.schema.config import ClassificationDatasetConfig
from datafast.testing import key_hash

PLANTED_KEY = "sk-planted-0123456789abcdef"


def test_planted_key_is_nowhere(llm_server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base)
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    output = tmp_path / "out" / "sentiment.jsonl"
    config = ClassificationDatasetConfig(
        classes=[{"name": "positive", "description": "good"}, {"name": "negative", "description": "bad"}],
        num_samples_per_prompt=3,
        output_file=str(output),
        languages={"en": "English", "fr": "French"},
    )
    dataset = ClassificationDataset(config)
    dataset.generate([OpenAIProvider(api_key=PLANTED_KEY)], show_progress=False, retry=FAST_RETRY)
    assert len(dataset.data_rows) == 12
    # The server saw the key, so it was really used.
    assert {r.api_key_sha256 for r in llm_server.requests()} == {key_hash(PLANTED_KEY)}

    folder = run_folder(output)
    save_report(build_report(read_records(output)), folder)
    to_parquet(dataset.data_rows, tmp_path / "out" / "sentiment.parquet")
    to_csv(dataset.data_rows, tmp_path / "out" / "sentiment.csv")
    dataset.to_jsonl(tmp_path / "out" / "copy.jsonl")
    config_with_key = {**config.model_dump(mode="json"), "llms": [{"provider": "openai", "api_key": PLANTED_KEY}]}
    upload = hub_files(dataset.data_rows, "me/sentiment", config=config_with_key, train_size=0.5)

    assert PLANTED_KEY not in upload.card
    for data in upload.files.values():
        assert PLANTED_KEY.encode() not in data
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert folder / "store.sqlite" in files and folder / "report.json" in files and folder / "lengths.png" in files
    for path in files:
        assert PLANTED_KEY.encode() not in path.read_bytes(), path
    assert not dropped_path(output).exists() or PLANTED_KEY.encode() not in dropped_path(output).read_bytes()
