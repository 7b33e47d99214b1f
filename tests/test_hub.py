"""push_to_hub: the exact files it uploads (card, YAML header, Parquet shards, stratified splits), argument
errors before any network, and the upload itself against a local stand-in for the Hub's HTTP API."""

import io
import json
from collections import Counter

import datasets
import pyarrow.parquet as pq
import pytest
from conftest import FAST_RETRY
from hub_stand_in import HubStandIn
from huggingface_hub import DatasetCard, DatasetCardData, HfApi

from datafast.cli import main
from datafast.datasets import ClassificationDataset
from datafast.errors import ConfigError
from datafast.llms import OpenAIProvider
from datafast.outputs.hub import check_repo_id, hub_files, push_to_hub
from datafast.outputs.secrets import redact
from datafast.outputs.splits import num_test_records, split_indices
from datafast.schema.config import ClassificationDatasetConfig

PLANTED_KEY = "sk-planted-0123456789abcdef"


def make_records(labels):
    return [
        {"uuid": f"u{i}", "text": f"record {i} tells of {label} things in its own words number {i}", "label": label,
         "language": "en" if i % 4 else "fr", "model_id": "gpt-x" if i % 2 else "claude-y",
         "dataset_type": "text_classification", "placeholders": {"product": "tent"}, "metadata": {}}
        for i, label in enumerate(labels)
    ]  # fmt: skip


RECORDS = make_records(["pos"] * 12 + ["neg"] * 6 + ["neutral"] * 2)
CONFIG = {
    "dataset_type": "text_classification",
    "classes": [{"name": "pos", "description": "good"}, {"name": "neg", "description": "bad"}],
    "llms": [{"provider": "openai", "api_key": PLANTED_KEY, "max_completion_tokens": 100}],
    "hub": {"nested": {"HF_TOKEN": "hf_secret_value", "password": "x"}},
}


def read_shard(data):
    return pq.read_table(io.BytesIO(data))


def test_split_sizes_are_exact_and_stratified():
    assert [num_test_records(n, 0.8) for n in (2, 5, 10, 20, 21, 23)] == [1, 1, 2, 4, 4, 5]
    train, test = split_indices(RECORDS, 0.75, seed=1)
    assert len(test) == 5 and len(train) == 15 and sorted(train + test) == list(range(20))
    test_labels = Counter(RECORDS[i]["label"] for i in test)
    train_labels = Counter(RECORDS[i]["label"] for i in train)
    assert set(test_labels) == set(train_labels) == {"pos", "neg", "neutral"}
    assert test_labels == {"pos": 3, "neg": 1, "neutral": 1}
    assert split_indices(RECORDS, 0.75, seed=1) == (train, test)
    assert split_indices(RECORDS, 0.75, seed=2) != (train, test)


def test_a_test_split_too_small_for_every_label_is_an_error():
    with pytest.raises(ConfigError, match="train_size leaves 2 test records, too few to hold each of the 3 label"):
        split_indices(RECORDS, 0.9)


def test_files_to_upload(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "hf_env_token_value")
    upload = hub_files(RECORDS, "me/sentiment", config=CONFIG, train_size=0.75, class_names=["pos", "neg", "neutral"])
    assert set(upload.files) == {
        "README.md", "data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"
    }  # fmt: skip
    assert upload.split_sizes == {"train": 15, "test": 5}
    train = read_shard(upload.files["data/train-00000-of-00001.parquet"])
    test = read_shard(upload.files["data/test-00000-of-00001.parquet"])
    assert (train.num_rows, test.num_rows) == (15, 5)
    assert sorted(train.column("uuid").to_pylist() + test.column("uuid").to_pylist()) == sorted(
        r["uuid"] for r in RECORDS
    )
    # The shard carries its features: `datasets` reads the label back as a ClassLabel.
    (tmp_path / "test.parquet").write_bytes(upload.files["data/test-00000-of-00001.parquet"])
    loaded = datasets.Dataset.from_parquet(str(tmp_path / "test.parquet"))
    assert loaded.features["label"].names == ["pos", "neg", "neutral"]
    assert sorted(loaded.features["label"].int2str(loaded["label"])) == ["neg", "neutral", "pos", "pos", "pos"]

    card = DatasetCard(upload.card)
    assert isinstance(card.data, DatasetCardData)
    data = card.data.to_dict()
    assert data["language"] == ["en", "fr"]
    assert data["task_categories"] == ["text-classification"]
    assert data["task_ids"] == ["multi-class-classification"]
    assert data["size_categories"] == ["n<1K"]
    assert data["license"] == "other"
    assert data["multilinguality"] == ["multilingual"]
    assert data["configs"] == [
        {"config_name": "default", "data_files": [
            {"split": "train", "path": "data/train-*"}, {"split": "test", "path": "data/test-*"}]}
    ]  # fmt: skip
    body = card.text
    assert "text classification dataset of 20 records" in body
    assert "| train | 15 |" in body and "| test | 5 |" in body
    assert "| pos | 9 | 3 |" in body and "| neutral | 1 | 1 |" in body
    assert "| gpt-x |" in body and "| claude-y |" in body
    assert "distinct-1" in body and "near-duplicate rate" in body
    assert "max_completion_tokens: 100" in body and "provider: openai" in body
    for secret in (PLANTED_KEY, "hf_secret_value", "api_key", "HF_TOKEN", "password"):
        assert secret not in upload.card


def test_one_split_without_train_size():
    upload = hub_files(RECORDS[:3], "me/x")
    assert upload.split_sizes == {"train": 3}
    assert set(upload.files) == {"README.md", "data/train-00000-of-00001.parquet"}
    assert read_shard(upload.files["data/train-00000-of-00001.parquet"]).column("label").to_pylist() == ["pos"] * 3


def test_redact_drops_secret_keys_at_any_depth():
    assert redact({"a": [{"apiKey": 1, "b": {"client_secret": 2, "max_tokens": 3}}], "t": "x sk-1 y"}, ["sk-1"]) == {
        "a": [{"b": {"max_tokens": 3}}], "t": "x [redacted] y"
    }  # fmt: skip


@pytest.mark.parametrize("repo_id", ["sentiment", "me/", "me/bad name", "a/b/c", "me/-x", "me/x--y", "", "me/x."])
def test_bad_repo_ids(repo_id):
    with pytest.raises(ConfigError, match="is not valid: use 'namespace/name'"):
        check_repo_id(repo_id)


@pytest.mark.parametrize("train_size", [0, 1, 1.5, -0.2, True, "0.8"])
def test_bad_train_size_is_refused_before_any_request(train_size):
    with HubStandIn() as hub:
        with pytest.raises(ConfigError, match=r"train_size is .*strictly between 0 and 1"):
            push_to_hub(RECORDS, "me/x", train_size=train_size, token="hf_x", api=HfApi(endpoint=hub.endpoint))
        assert hub.requests == []


def test_missing_token_is_refused_before_any_request(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with HubStandIn() as hub:
        with pytest.raises(ConfigError, match="no Hugging Face token"):
            push_to_hub(RECORDS, "me/x", api=HfApi(endpoint=hub.endpoint))
        assert hub.requests == []


def test_upload_to_the_stand_in_hub():
    with HubStandIn() as hub:
        url = push_to_hub(
            RECORDS, "me/sentiment", config=CONFIG, train_size=0.75, token="hf_x", api=HfApi(endpoint=hub.endpoint)
        )
        expected = hub_files(RECORDS, "me/sentiment", config=CONFIG, train_size=0.75)
        assert url == f"{hub.endpoint}/datasets/me/sentiment"
        assert hub.repos["me/sentiment"]["visibility"] == "private"
        assert hub.repos["me/sentiment"]["type"] == "dataset"
        assert hub.files["me/sentiment"] == expected.files
        assert [r[1] for r in hub.requests] == [
            "/api/repos/create", "/api/datasets/me/sentiment/tree/main/data", "/api/validate-yaml",
            "/api/datasets/me/sentiment/preupload/main", "/api/datasets/me/sentiment/commit/main",
        ]  # fmt: skip
        assert all(r[2] == "Bearer hf_x" for r in hub.requests)


def test_a_new_push_deletes_the_shards_it_does_not_rewrite():
    with HubStandIn() as hub:
        api = HfApi(endpoint=hub.endpoint)
        push_to_hub(RECORDS, "me/sentiment", train_size=0.75, token="hf_x", api=api)
        hub.files["me/sentiment"]["data/notes.txt"] = b"the user's own file"
        assert "data/test-00000-of-00001.parquet" in hub.files["me/sentiment"]

        push_to_hub(RECORDS, "me/sentiment", token="hf_x", api=api)
        expected = hub_files(RECORDS, "me/sentiment").files
        assert hub.files["me/sentiment"] == {**expected, "data/notes.txt": b"the user's own file"}


def test_dataset_push_to_hub_and_cli_push(llm_server, monkeypatch, tmp_path, capsys):
    import huggingface_hub.constants

    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base)
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    output = tmp_path / "sentiment.jsonl"
    config = ClassificationDatasetConfig(
        classes=[{"name": "positive", "description": "good"}, {"name": "negative", "description": "bad"}],
        num_samples_per_prompt=3,
        output_file=str(output),
    )
    dataset = ClassificationDataset(config).generate([OpenAIProvider()], show_progress=False, retry=FAST_RETRY)
    with HubStandIn() as hub:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.endpoint)
        dataset.push_to_hub("me/sentiment", train_size=0.5, token="hf_x")
        files = hub.files["me/sentiment"]
        test = read_shard(files["data/test-00000-of-00001.parquet"])
        assert test.num_rows == 3
        card = files["README.md"].decode()
        assert "label: positive" not in card and "name: positive" in card  # the config, in YAML
        assert PLANTED_KEY not in card

        monkeypatch.setenv("MY_HUB_TOKEN", "hf_from_env")
        assert main(["push", str(output), "--repo", "me/cli", "--token-env", "MY_HUB_TOKEN", "--public"]) == 0
        assert hub.repos["me/cli"]["visibility"] == "public"
        assert hub.requests[-1][2] == "Bearer hf_from_env"
        assert read_shard(hub.files["me/cli"]["data/train-00000-of-00001.parquet"]).num_rows == 6
        assert "pushed 6 records" in capsys.readouterr().out

        monkeypatch.delenv("HF_TOKEN", raising=False)
        assert main(["push", str(output), "--repo", "me/cli"]) == 2
        assert main(["push", str(output), "--repo", "me/cli", "--train-size", "2", "--token-env", "MY_HUB_TOKEN"]) == 2
        assert "train_size is 2.0" in " ".join(capsys.readouterr().err.split())
    json.dumps(dataset.config.model_dump(mode="json"))


def test_push_takes_the_dataset_type_from_the_first_record_that_names_one():
    from datafast.data_commands import typed_record

    v0036 = {"text": "an old line", "label": "positive", "model_id": "gpt-4"}
    ours = {"text": "a new one", "label": "negative", "dataset_type": "text_classification"}
    assert typed_record([v0036, ours]) is ours
    assert typed_record([v0036]) is v0036 and typed_record([]) is None
