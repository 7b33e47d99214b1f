"""The report's figures against hand-computed values on a small fixed file, the PNGs, and `datafast inspect`."""

import json

import pyarrow.parquet as pq
import pytest
from PIL import Image

from datafast.cli import main
from datafast.errors import ConfigError
from datafast.outputs import to_csv, to_hf_dataset, to_parquet
from datafast.quality import build_report, save_report
from datafast.quality.report import read_records

RECORDS = [
    {"uuid": "u1", "request_id": "r1", "text": "The cat sat on the mat.", "label": "pos", "language": "en",
     "model_id": "m1", "prompt_template": "T1", "placeholders": {"product": "tent"}, "metadata": {}},
    {"uuid": "u2", "request_id": "r2", "text": "the cat sat on the mat", "label": "pos", "language": "en",
     "model_id": "m2", "prompt_template": "T1", "placeholders": {"product": "kayak"}, "metadata": {}},
    {"uuid": "u3", "request_id": "r3", "text": "A dog ran.", "label": "neg", "language": "fr",
     "model_id": "m1", "prompt_template": "T2", "placeholders": {"product": "tent"}, "metadata": {}},
    {"uuid": "u4", "request_id": "r4", "text": "Dogs and cats", "label": "neg", "language": "en",
     "model_id": "m2", "prompt_template": "T2", "placeholders": {"product": "tent"}, "metadata": {"k": 1}},
]  # fmt: skip


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


def test_figures_match_hand_computed_values(jsonl):
    report = build_report(read_records(jsonl))
    assert report["total"] == 4
    assert report["text_fields"] == ["text"]
    assert report["counts"] == {
        "label": {"pos": 2, "neg": 2},
        "language": {"en": 3, "fr": 1},
        "model_id": {"m1": 2, "m2": 2},
        "prompt_template": {"T1": 2, "T2": 2},
    }
    assert report["placeholders"] == {"product": {"tent": 3, "kayak": 1}}
    # Words: [the cat sat on the mat] x2, [a dog ran], [dogs and cats]: 18 tokens.
    # Distinct words: the cat sat on mat a dog ran dogs and cats = 11.
    # Bigrams: 5 + 5 + 2 + 2 = 14, distinct 5 + 2 + 2 = 9. Trigrams: 4 + 4 + 1 + 1 = 10, distinct 4 + 1 + 1 = 6.
    diversity = report["diversity"]
    assert diversity["distinct_1"] == round(11 / 18, 6)
    assert diversity["distinct_2"] == round(9 / 14, 6)
    assert diversity["distinct_3"] == round(6 / 10, 6)
    # Record 2 is record 1 after normalisation: the one near duplicate.
    assert (diversity["near_duplicates"], diversity["near_duplicate_rate"]) == (1, 0.25)
    chars = report["length"]["chars"]  # 23, 22, 10, 13
    assert (chars["min"], chars["max"], chars["mean"], chars["median"]) == (10, 23, 17.0, 17.5)
    assert chars["p25"] == 12.25  # numpy linear: 10 + 0.75 * (13 - 10)
    assert sum(chars["histogram"]["counts"]) == 4
    assert chars["histogram"]["edges"][0] == 10 and chars["histogram"]["edges"][-1] > 23
    words = report["length"]["words"]  # 6, 6, 3, 3
    assert (words["min"], words["max"], words["mean"], words["median"]) == (3, 6, 4.5, 4.5)
    assert words["histogram"] == {"edges": [3, 4, 5, 6, 7], "counts": [2, 0, 0, 2]}
    m1, m2 = report["per_model"]["m1"], report["per_model"]["m2"]
    assert (m1["records"], m1["words"]["mean"], m1["near_duplicate_rate"]) == (2, 4.5, 0.0)
    assert (m2["records"], m2["near_duplicate_rate"]) == (2, 0.5)
    assert m1["distinct_1"] == round(8 / 9, 6)  # the cat sat on mat a dog ran / 9 tokens
    assert m2["distinct_2"] == 1.0  # 5 + 2 bigrams, all distinct
    json.dumps(report)


def test_chat_records_use_their_messages():
    chat = [
        {"messages": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello you"}],
         "model_id": "m", "persona": "p"},
    ]  # fmt: skip
    report = build_report(chat)
    assert report["text_fields"] == ["messages"]
    assert report["length"]["words"]["max"] == 4
    assert build_report(chat, text_field="persona")["length"]["chars"]["max"] == 1


def test_saved_report_and_pngs(jsonl, tmp_path):
    report = build_report(read_records(jsonl))
    written = save_report(report, tmp_path / "out")
    assert {p.name for p in written} == {"report.json", "lengths.png", "counts.png", "models.png"}
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == report
    for png in written[1:]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as image:
            image.load()
            assert image.width >= 400 and image.height >= 300


def test_inspect_command_saves_into_the_run_folder(jsonl, capsys):
    assert main(["inspect", str(jsonl)]) == 0
    out = capsys.readouterr().out
    assert "distinct-1" in out and "0.611" in out and "kayak" in out
    folder = jsonl.with_name("data.datafast")
    assert json.loads((folder / "report.json").read_text())["total"] == 4
    assert (folder / "lengths.png").is_file()


def test_printed_report_leaves_out_placeholders_that_repeat_a_counted_field(tmp_path, capsys):
    records = [
        {**r, "placeholders": {**r["placeholders"], "label_name": r["label"], "label_description": r["label"] + "!"}}
        for r in RECORDS
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Counts: label" in out and "Counts: placeholder product" in out
    assert "placeholder label_name" not in out and "placeholder label_description" not in out
    saved = json.loads((tmp_path / "data.datafast" / "report.json").read_text())
    assert saved["placeholders"]["label_name"] == {"pos": 2, "neg": 2}


def test_inspect_errors(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing.jsonl")]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    assert main(["inspect", str(bad)]) == 2
    assert "bad.jsonl, line 2: not valid JSON" in " ".join(capsys.readouterr().err.split())


def test_parquet_csv_and_hf_exports(tmp_path):
    to_parquet(RECORDS, tmp_path / "d.parquet")
    table = pq.read_table(tmp_path / "d.parquet")
    assert table.column("placeholders").to_pylist()[1] == {"product": "kayak"}
    assert json.loads(table.column("metadata").to_pylist()[3]) == {"k": 1}
    assert table.column("text").to_pylist() == [r["text"] for r in RECORDS]
    to_csv(RECORDS, tmp_path / "d.csv")
    import csv

    with open(tmp_path / "d.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert json.loads(rows[0]["placeholders"]) == {"product": "tent"}
    assert rows[2]["text"] == "A dog ran."
    dataset = to_hf_dataset(RECORDS, class_names=["neg", "pos"])
    assert dataset.features["label"].names == ["neg", "pos"]
    assert dataset["label"] == [1, 1, 0, 0]
    with pytest.raises(ConfigError, match="'pos' is not one of the classes: neg, other"):
        to_hf_dataset(RECORDS, class_names=["neg", "other"])
    assert not list(tmp_path.glob(".*tmp*"))


def test_report_speed_on_many_records():
    import time

    records = [{"text": f"record {i} says word{i % 97} and word{i % 89} then", "model_id": "m"} for i in range(20_000)]

    start = time.perf_counter()
    report = build_report(records)
    assert report["total"] == 20_000
    assert time.perf_counter() - start < 20
