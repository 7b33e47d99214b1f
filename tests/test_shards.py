"""The parts of the Ray backend (#16) that need no cluster: how endpoints and limits are split between shards,
providers sent to other processes, the stores kept in step, the merge of the shards' outputs, and what a run
without Ray installed says. The runs themselves are in tests/test_ray_backend.py."""

import asyncio
import json
import pickle
import sqlite3
import sys
import threading

import pytest

from datafast.cli import main
from datafast.datasets import RawDataset
from datafast.engine import RayBackend
from datafast.engine.shard_merge import merge_shards
from datafast.engine.shard_stores import absorb, seed, whole_run_totals
from datafast.engine.shards import ShardLayout, check_portable, endpoint_share, shard_provider, split_limit
from datafast.engine.store import RunStore
from datafast.engine.work import work_key
from datafast.errors import ConfigError
from datafast.llms import OpenAICompatibleProvider
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.config import RawDatasetConfig

BASES = [f"http://10.0.0.{i}:8000/v1" for i in range(4)]


def test_endpoints_go_to_shards_round_robin_and_shared_ones_split_their_limits():
    assert [endpoint_share(BASES, k, 2).api_bases for k in range(2)] == [BASES[0::2], BASES[1::2]]
    assert {endpoint_share(BASES, k, 2).sharers for k in range(2)} == {1}  # each endpoint has one shard
    # Fewer endpoints than shards: shards 0 and 2 share the first, 1 and 3 the second.
    shares = [endpoint_share(BASES[:2], k, 4) for k in range(4)]
    assert [s.api_bases for s in shares] == [[BASES[0]], [BASES[1]], [BASES[0]], [BASES[1]]]
    assert [(s.rank, s.sharers) for s in shares] == [(0, 2), (0, 2), (1, 2), (1, 2)]
    assert [split_limit(16, r, 3) for r in range(3)] == [6, 5, 5]  # adds up to the limit
    assert [split_limit(2, r, 3) for r in range(3)] == [1, 1, 1]  # never below one


def test_a_shard_provider_has_its_endpoints_and_part_of_the_limits_and_the_same_work_keys():
    fleet = OpenAICompatibleProvider("m", api_base=BASES, max_concurrency=16, rpm_limit=600)
    part = shard_provider(fleet, 1, 2)
    assert part.api_bases == [BASES[1], BASES[3]] and part.max_concurrency == 16 and part.rpm_limit == 600
    assert [e.api_base for e in part.endpoints()] == [BASES[1], BASES[3]]
    one = OpenAICompatibleProvider("m", api_base=BASES[0], max_concurrency=16, rpm_limit=600, tpm_limit=10_000)
    parts = [shard_provider(one, k, 3) for k in range(3)]
    assert [p.max_concurrency for p in parts] == [6, 5, 5] and sum(p.rpm_limit for p in parts) == 600
    assert sum(p.tpm_limit for p in parts) == 10_000 and all(p.max_concurrency_given for p in parts)
    messages = [{"role": "user", "content": "hello"}]
    assert work_key(messages, part, None, "generate", 0) == work_key(messages, fleet, None, "generate", 0)
    assert fleet.api_bases == BASES and one.max_concurrency == 16  # the run's own providers are untouched


def test_providers_travel_pickled_without_their_connections_and_keep_their_key_out_of_sight():
    provider = OpenAICompatibleProvider("m", api_key="sk-secret-123", api_base=BASES[0])
    blob = pickle.dumps(provider)
    copy = pickle.loads(blob)
    assert copy.http is not provider.http and copy._secrets() == ("sk-secret-123",)
    assert "sk-secret" not in repr(copy)

    class Holding(OpenAICompatibleProvider):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.lock = threading.Lock()  # as the built-in model's provider holds its helper process

    with pytest.raises(ConfigError, match="cannot be sent to other processes"):
        check_portable([Holding("m", api_base=BASES[0])])


def save(store, key, *, status="done", tokens=10):
    async def write():
        if status == "done":
            await store.save_done(
                key,
                step="generate",
                provider="p",
                attempts=1,
                request="[]",
                response="{}",
                finish_reason="stop",
                repaired=False,
                prompt_tokens=tokens,
                completion_tokens=1,
                cost_usd=None,
                started=None,
            )
        else:
            await store.save_failed(
                key,
                step="generate",
                provider="p",
                attempts=1,
                request="[]",
                error_kind="transient",
                error="x",
                started=None,
                prompt_tokens=tokens,
            )

    asyncio.run(write())


def rows(path):
    with sqlite3.connect(path) as db:
        return {
            key: (status, tokens) for key, status, tokens in db.execute("SELECT key, status, prompt_tokens FROM items")
        }


def test_the_main_store_hands_loose_answers_to_their_shards_and_takes_the_shards_answers_back(tmp_path):
    layout = ShardLayout(tmp_path / "x.datafast", 2)
    main = layout.run_folder / "store.sqlite"
    with RunStore(main) as store:  # a local run's answers: a first request, a failed one, and a chain's next step
        save(store, "first-of-shard-1")
        save(store, "failed-first-of-shard-0", status="failed", tokens=7)
        save(store, "later-step")
    owners = {"first-of-shard-1": 1, "failed-first-of-shard-0": 0}
    assert seed(main, layout.stores(), lambda keys: {k: owners[k] for k in keys if k in owners}) == 3
    assert set(rows(layout.store(0))) == {"failed-first-of-shard-0", "later-step"}
    assert set(rows(layout.store(1))) == {"first-of-shard-1", "later-step"}
    assert seed(main, layout.stores(), lambda keys: {}) == 0  # nothing loose any more

    with RunStore(layout.store(0)) as store:  # shard 0 asks the failed one again, and gets an answer
        save(store, "failed-first-of-shard-0", tokens=5)
        save(store, "new-in-shard-0")
    assert whole_run_totals(main)["done"] == 4  # seen before the shards' answers are copied back
    absorb(main)
    assert rows(main)["failed-first-of-shard-0"] == ("done", 12)  # both answers paid for, counted once each
    assert set(rows(main)) == {"first-of-shard-1", "failed-first-of-shard-0", "later-step", "new-in-shard-0"}
    absorb(main)
    assert rows(main)["failed-first-of-shard-0"] == ("done", 12)  # absorbing again changes nothing
    with RunStore(main) as store:
        assert store.totals()["done"] == 4 and store.totals()["prompt_tokens"] == 10 + 12 + 10 + 10


def record(uuid, text):
    return {"uuid": uuid, "text": text, "request_id": "r", "dataset_type": "raw_text"}


def write_lines(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_the_merge_drops_duplicates_across_shards_and_keeps_what_only_the_output_has(tmp_path):
    output = tmp_path / "x.jsonl"
    layout = ShardLayout(tmp_path / "x.datafast", 2)
    same = "The harbour was quiet that morning, and the boats rocked gently at their moorings."
    write_lines(layout.output(0), [record("a", same), record("b", "A letter arrived from the north with news.")])
    write_lines(layout.output(1), [record("c", same), record("d", "Nobody expected the storm to last a week.")])
    write_lines(layout.dropped(1), [{"reason": "too_short", "record": record("e", "Hi.")}])
    # The earlier output: a record adopted from an output without its run folder, one a shard dropped since.
    write_lines(output, [record("z", "An adopted record that no shard wrote stays in."), record("e", "Hi.")])
    with open(output, "ab") as f:
        f.write(b'{"uuid": "cut')  # a line a kill cut short is not merged
    merged = merge_shards(output, layout, CleaningConfig(), ("text",))
    kept = [json.loads(line)["uuid"] for line in output.read_text().splitlines()]
    assert kept == ["a", "b", "d", "z"] and merged.records == 4 and merged.kept_from_output == 1
    dropped = [json.loads(line) for line in (tmp_path / "x.dropped.jsonl").read_text().splitlines()]
    assert [(d["reason"], d["record"]["uuid"]) for d in dropped] == [("too_short", "e"), ("exact_duplicate", "c")]
    assert merged.across_shards == {"exact_duplicate": 1} and merged.report["total"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.datafast", "x.dropped.jsonl", "x.jsonl"]  # no temp file
    first = output.read_bytes()
    merge_shards(output, layout, CleaningConfig(), ("text",))
    assert output.read_bytes() == first  # merging again gives the same file


def test_without_ray_installed_the_ray_backend_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed: `import ray` fails
    config = RawDatasetConfig(document_types=["memo"], topics=["a"], output_file=str(tmp_path / "out.jsonl"))
    llm = OpenAICompatibleProvider("m", api_base=BASES[0])
    with pytest.raises(ConfigError, match=r'pip install "datafast\[ray\]"'):
        RawDataset(config).generate(llm, show_progress=False, backend="ray")
    assert not (tmp_path / "out.jsonl").exists()
    path = tmp_path / "run.yaml"
    path.write_text("dataset_type: raw_text\ndocument_types: [memo]\ntopics: [a]\n")
    assert main(["generate", str(path), "--backend", "ray"]) == 2
    assert 'pip install "datafast[ray]"' in capsys.readouterr().err
    assert main(["generate", str(path), "--shards", "2"]) == 2
    assert "--backend ray" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="backend must be 'local' or 'ray'"):
        RawDataset(config).generate(llm, show_progress=False, backend="spark")
    with pytest.raises(ConfigError, match="shards must be a whole number"):
        RayBackend(shards=0)
