"""Row sources: every kind of source, ids, filters, sampling and each bad input."""

import csv
import json

import pytest
from pydantic import ValidationError

from datafast.errors import ConfigError
from datafast.sources import SourceFields, load_config_rows, load_source_rows

ROWS = [
    {"id": "a1", "text": "First document, long enough to keep.", "title": "One"},
    {"id": "a2", "text": "short", "title": "Two"},
    {"id": "a3", "text": "Third document, also long enough here.", "title": "Three"},
    {"id": "a4", "text": "", "title": "Four"},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_csv(path, rows):
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def save_to_disk(path, rows):
    import datasets

    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet", "hf_disk"])
def test_every_file_kind_gives_the_same_rows(tmp_path, kind):
    if kind == "hf_disk":
        source = {"hf_dataset_name": str(save_to_disk(tmp_path / "ds", ROWS))}
    else:
        writer = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}[kind]
        source = {"local_file_path": str(writer(tmp_path / f"rows.{kind}", ROWS))}
    rows = load_source_rows(**source, text_column="text", columns={"title": "context_column"}, min_document_length=10)
    assert [r.document_id for r in rows] == ["a1", "a3"]
    assert [r.index for r in rows] == [0, 2]
    assert rows[1].text("title") == "Three"
    assert rows[0].values == ROWS[0]


def test_a_sample_of_a_hub_style_dataset_is_streamed_not_downloaded_whole(tmp_path, monkeypatch):
    import datasets

    # A dataset laid out as on the Hub (Parquet files under data/) loads through `datasets.load_dataset`.
    (tmp_path / "repo" / "data").mkdir(parents=True)
    rows = [{"text": f"document number {i:03d}", "id": f"d{i}"} for i in range(40)]
    write_parquet(tmp_path / "repo" / "data" / "train-00000-of-00001.parquet", rows)
    cache = tmp_path / "cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)

    sample = load_source_rows(hf_dataset_name=str(tmp_path / "repo"), text_column="text", sample_count=3)
    assert [r.document_id for r in sample] == ["d0", "d1", "d2"] and sample[2].values == rows[2]
    assert not list(cache.rglob("*.arrow"))  # streamed: nothing was converted and cached

    whole = load_source_rows(hf_dataset_name=str(tmp_path / "repo"), text_column="text")
    assert [r.values for r in whole] == rows
    assert list(cache.rglob("*.arrow"))  # no sample: loaded once into the cache, reused by a rerun


def test_hf_dataset_dict_on_disk_uses_the_split(tmp_path):
    import datasets

    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS[:1]), "test": datasets.Dataset.from_list(ROWS[2:3])}
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    rows = load_source_rows(hf_dataset_name=str(tmp_path / "dd"), hf_dataset_split="test", text_column="text")
    assert [r.document_id for r in rows] == ["a3"]
    with pytest.raises(ConfigError, match="no split 'validation'; its splits are: train, test"):
        load_source_rows(hf_dataset_name=str(tmp_path / "dd"), hf_dataset_split="validation", text_column="text")


def test_memory_rows_strings_and_dicts_and_index_ids():
    rows = load_source_rows(input_rows=["doc zero", "", "doc two"], text_column="body")
    assert [(r.document_id, r.values) for r in rows] == [("0", {"body": "doc zero"}), ("2", {"body": "doc two"})]
    rows = load_source_rows(input_rows=[{"q": "x", "n": 1}, {"q": "y", "n": 2}], columns={"n": "input_columns"})
    assert [r.document_id for r in rows] == ["0", "1"]
    assert rows[1].text("n") == "2"
    with pytest.raises(ConfigError, match=r"input_rows\[1\] is a dict but input_rows\[0\] is a str"):
        load_source_rows(input_rows=["a", {"text": "b"}], text_column="text")


def test_sample_count_keeps_the_first_rows_after_filtering(tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", [{"text": f"document number {i:03d}"} for i in range(50)])
    rows = load_source_rows(local_file_path=path, text_column="text", sample_count=3, max_document_length=1000)
    assert [r.document_id for r in rows] == ["0", "1", "2"]
    rows = load_source_rows(local_file_path=path, text_column="text", sample_count=100)
    assert len(rows) == 50


def test_length_filters_count_characters():
    docs = ["é" * 5, "x" * 10, "y" * 20]
    rows = load_source_rows(input_rows=docs, text_column="text", min_document_length=5, max_document_length=10)
    assert [r.document_id for r in rows] == ["0", "1"]


def test_missing_file_and_unsupported_type(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.jsonl': file not found"):
        load_source_rows(local_file_path=tmp_path / "nope.jsonl", text_column="text")
    (tmp_path / "rows.xlsx").write_text("x")
    with pytest.raises(ConfigError, match=r"unsupported file type '.xlsx'; use .jsonl, .csv, .parquet"):
        load_source_rows(local_file_path=tmp_path / "rows.xlsx", text_column="text")


def test_empty_sources(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "e.csv").write_text("")
    (tmp_path / "h.csv").write_text("id,text\n")
    (tmp_path / "e.jsonl").write_text("\n")
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "e.parquet")
    sources = [{"local_file_path": tmp_path / name} for name in ("e.csv", "h.csv", "e.jsonl", "e.parquet")]
    for source in sources:
        with pytest.raises(ConfigError, match=r"is empty \(0 rows\)"):
            load_source_rows(**source, text_column="text")


def test_missing_columns_are_named_with_the_columns_there_are(tmp_path):
    path = write_csv(tmp_path / "rows.csv", ROWS)
    with pytest.raises(
        ConfigError, match=r"text_column 'body' is not a column of .*rows\.csv; its columns are: id, text"
    ):
        load_source_rows(local_file_path=path, text_column="body")
    with pytest.raises(ConfigError, match=r"context_column 'ctx' is not a column .*; its columns are: id, text, title"):
        load_source_rows(local_file_path=path, text_column="text", columns={"ctx": "context_column"})
    ragged = write_jsonl(tmp_path / "ragged.jsonl", [{"text": "abc"}, {"other": "x"}])
    with pytest.raises(ConfigError, match="row 1 has no text_column column 'text'"):
        load_source_rows(local_file_path=ragged, text_column="text")


def test_filters_that_leave_nothing_say_so():
    with pytest.raises(ConfigError, match=r"no row of input_rows is left .* at least 100 .* have 3 to 5 characters"):
        load_source_rows(input_rows=["abc", "abcde"], text_column="text", min_document_length=100)


def test_bad_jsonl_lines(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{not json\n')
    with pytest.raises(ConfigError, match="line 2 is not valid JSON"):
        load_source_rows(local_file_path=path, text_column="text")
    path.write_text('["a list"]\n')
    with pytest.raises(ConfigError, match="line 1 is not a JSON object"):
        load_source_rows(local_file_path=path, text_column="text")


def test_hf_dataset_that_cannot_load_is_a_config_error(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(
        ConfigError, match=r"cannot load Hugging Face dataset .*nothing.*doesn't contain any data files"
    ):
        load_source_rows(hf_dataset_name=str(tmp_path / "nothing"), text_column="text")


def test_source_fields_need_exactly_one_source(tmp_path):
    with pytest.raises(ValidationError, match="no input source: give hf_dataset_name"):
        SourceFields()
    with pytest.raises(ValidationError, match="give only one input source, not local_file_path and input_rows"):
        SourceFields(local_file_path="a.jsonl", input_rows=["x"])
    with pytest.raises(ValidationError, match="input_rows is empty"):
        SourceFields(input_rows=[])
    fields = SourceFields(local_file_path=str(write_jsonl(tmp_path / "r.jsonl", ROWS)), sample_count=1)
    assert [r.document_id for r in load_config_rows(fields, text_column="text")] == ["a1"]
