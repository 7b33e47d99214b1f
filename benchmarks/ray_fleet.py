"""The Ray backend against the local one on a fleet of model servers (#16).

Four local LLM test servers (subprocesses), each answering after 200 ms and refusing with a 429 any request beyond 16
at once, as a model server at its capacity does. One config, run three ways, each into a fresh output:

- local backend, one server (`api_base` one URL): at most 16 in flight, so at most 80 requests/s;
- local backend, the four servers (`api_base` a list of four: a lane each);
- Ray backend, the four servers: a local Ray cluster (`ray.init(num_cpus=2)` on this machine) and its default split
  (as many shards as CPUs: two shards of two servers each).

`max_concurrency: 16` is set on the provider (each server's known capacity; the lanes never go past it). The servers
together allow 64 requests in flight, 320 requests/s. The Ray cluster is started and its workers warmed up (one small
run, whose workers then import datafast) before the clock starts: a cluster is started once for many runs. The rate
is requests answered / wall time of `generate()`, the merge, report and summary included; the Ray run's time spent
in its shards alone is printed too. Prints the header lines, one line per run and the ratios.

    .venv/bin/python benchmarks/ray_fleet.py [--requests 3000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header_lines, offline_env

offline_env()

from datafast.datasets import RawDataset  # noqa: E402
from datafast.engine import RayBackend  # noqa: E402
from datafast.engine.folder import run_folder  # noqa: E402
from datafast.llms import OpenAICompatibleProvider  # noqa: E402
from datafast.schema.config import RawDatasetConfig  # noqa: E402
from datafast.testing import LLMTestServer  # noqa: E402

SERVERS = 4
LATENCY_S = 0.2
SERVER_CAPACITY = 16


def config(output: Path, requests: int) -> RawDatasetConfig:
    topics = [f"topic {i}" for i in range(requests // 2)]
    return RawDatasetConfig(
        document_types=["memo", "story"], topics=topics, num_samples_per_prompt=1, output_file=str(output)
    )


def run(label: str, bases: list[str], requests: int, workdir: Path, backend: str | RayBackend) -> float:
    output = workdir / f"{label.replace(' ', '-')}.jsonl"
    llm = OpenAICompatibleProvider("m", api_base=bases, max_concurrency=SERVER_CAPACITY)
    dataset = RawDataset(config(output, requests))
    started = time.monotonic()
    dataset.generate(llm, show_progress=False, overwrite=True, backend=backend)
    seconds = time.monotonic() - started
    stats = dataset.stats
    assert stats is not None and stats.succeeded == requests and not stats.failed, stats
    rate = requests / seconds
    extra = ""
    summary = json.loads((run_folder(output) / "summary.json").read_text())
    if summary.get("backend") == "ray":
        shards = summary["this_run"]["wall_seconds"]
        extra = f"; its {summary['shard_count']} shards ran {shards:.1f}s ({requests / shards:.0f} req/s)"
    print(
        f"{label:<22} {requests:,} requests in {seconds:5.1f}s = {rate:6.1f} req/s, "
        f"{stats.retries} retries ({stats.rate_limited} after a 429){extra}",
        flush=True,
    )
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each kind, interleaved; the median is used")
    args = parser.parse_args()
    import ray

    for line in header_lines():
        print(line, flush=True)
    behavior = {
        "latency_s": LATENCY_S,
        "max_concurrent_requests": SERVER_CAPACITY,
        "log_records": False,
        "default_array_items": 1,
    }
    servers = [LLMTestServer(subprocess=True, **behavior).start() for _ in range(SERVERS)]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        bases = [s.openai_base for s in servers]
        print(
            f"{SERVERS} servers, {LATENCY_S * 1000:.0f} ms latency, {SERVER_CAPACITY} requests at once each "
            f"(beyond: 429); Ray cluster of {ray.cluster_resources().get('CPU'):.0f} CPUs",
            flush=True,
        )
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            run("ray warm-up", bases, 200, workdir, RayBackend())
            rates: dict[str, list[float]] = {"local, 1 server": [], "local, 4 servers": [], "ray, 4 servers": []}
            for _ in range(args.rounds):
                rates["local, 1 server"].append(run("local, 1 server", bases[:1], args.requests, workdir, "local"))
                rates["local, 4 servers"].append(run("local, 4 servers", bases, args.requests, workdir, "local"))
                rates["ray, 4 servers"].append(run("ray, 4 servers", bases, args.requests, workdir, RayBackend()))
        median = {label: statistics.median(values) for label, values in rates.items()}
        ray_rate = median["ray, 4 servers"]
        print(
            f"ratios: ray over 4 servers / local on 1 server = {ray_rate / median['local, 1 server']:.2f}x; "
            f"ray over 4 servers / local over 4 servers = {ray_rate / median['local, 4 servers']:.2f}x"
        )
        print("rates (median req/s): " + ", ".join(f"{label} {rate:.1f}" for label, rate in median.items()))
    finally:
        ray.shutdown()
        for server in servers:
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
