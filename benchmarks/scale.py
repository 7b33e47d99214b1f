"""Scale: one run of 100,000 work items, its wall time and whether the client's memory stays flat.

    /tmp/venv/bin/python benchmarks/scale.py [--items 100000] [--concurrency 16] [--interval 1.0]

A classification config whose placeholders multiply to `--items` prompts (4 classes × 10 styles × items/40
topics, one text per request) is generated with `OpenAIProvider(model_id="gpt-4.1-mini")` against the
project's local LLM server in a child process, with no latency and no request log (its counters still run).

Printed: wall time, requests seen by the server, rows written, requests/s, peak RSS of this process
(`getrusage` ru_maxrss) and VmRSS sampled from /proc/self/status every `--interval` seconds by a thread,
with the server's request count at each sample, so growth per 10,000 items and throughput over the run can be
read off. Use `--items 10000` for a quick check.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

from _common import RssSampler, count_lines, current_rss_mib, header_lines, offline_env, peak_rss_mib, point_openai_at

offline_env()

CLASSES = [
    {"name": "positive", "description": "the writer is pleased"},
    {"name": "negative", "description": "the writer is disappointed"},
    {"name": "neutral", "description": "a factual statement"},
    {"name": "mixed", "description": "both praise and complaint"},
]
STYLES = ["a tweet", "a review", "an email", "a forum post", "a text message", "a diary entry", "a letter",
          "a comment", "a headline", "a speech"]  # fmt: skip
PROMPT = (
    "Write {num_samples} text in English of class '{label_name}' ({label_description}), as {{style}} about {{topic}}."
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000, help="work items (requests) in the run")
    parser.add_argument("--concurrency", type=int, default=16, help="the provider's max_concurrency")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between RSS samples")
    parser.add_argument("--workdir", default=None, help="where outputs go (default: a new folder under /tmp)")
    return parser.parse_args()


def make_config(items: int, output: Path):  # -> ClassificationDatasetConfig
    from datafast.schema.config import ClassificationDatasetConfig, PromptExpansionConfig

    n_topics = max(1, math.ceil(items / (len(CLASSES) * len(STYLES))))
    return ClassificationDatasetConfig(
        classes=CLASSES,
        prompts=[PROMPT],
        num_samples_per_prompt=1,
        output_file=str(output),
        expansion=PromptExpansionConfig(
            placeholders={"style": STYLES, "topic": [f"subject {i}" for i in range(n_topics)]},
            max_samples=max(1000, n_topics * len(STYLES)),
        ),
    )


def print_samples(samples: list[tuple[float, float, float]], rows: int = 15) -> None:
    """A thinned table of the samples: time, RSS, requests served, and the rate since the previous row."""
    if not samples:
        return
    step = max(1, math.ceil(len(samples) / rows))
    picked = samples[::step]
    if picked[-1] is not samples[-1]:
        picked.append(samples[-1])
    print(f"{'t (s)':>8} {'RSS (MiB)':>10} {'requests':>10} {'req/s since prev':>17}")
    prev: tuple[float, float, float] | None = None
    for t, rss, done in picked:
        rate = ""
        if prev is not None and t > prev[0] and not math.isnan(done) and not math.isnan(prev[2]):
            rate = f"{(done - prev[2]) / (t - prev[0]):.1f}"
        shown = "?" if math.isnan(done) else f"{int(done)}"
        print(f"{t:>8.1f} {rss:>10.1f} {shown:>10} {rate:>17}")
        prev = (t, rss, done)


def growth_per_10k(samples: list[tuple[float, float, float]]) -> float | None:
    """Least-squares slope of RSS against requests served, in MiB per 10,000 requests, over the second half
    of the samples by requests (after start-up allocations have settled)."""
    points = [(done, rss) for _t, rss, done in samples if not math.isnan(done)]
    if len(points) < 4:
        return None
    last = points[-1][0]
    points = [p for p in points if p[0] >= last / 2]
    if len(points) < 3:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var
    return slope * 10_000


def main() -> int:
    args = parse_args()
    import litellm  # noqa: F401 - imported before the measurement starts

    from datafast.datasets import ClassificationDataset
    from datafast.llms import OpenAIProvider
    from datafast.testing import LLMTestServer

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="df-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / "scale.jsonl"
    config = make_config(args.items, output)
    dataset = ClassificationDataset(config)
    n_requests = dataset.num_requests_per_provider()
    print("\n".join(header_lines()))
    print(
        f"workload: {n_requests} work items (4 classes × {len(STYLES)} styles × "
        f"{len(config.expansion.placeholders['topic'])} topics, 1 text each), max_concurrency {args.concurrency}, "
        f"zero-latency server in a child process with logging off; outputs in {workdir}"
    )
    with LLMTestServer(subprocess=True, log_records=False, log_bodies=False) as server:
        point_openai_at(server.openai_base)
        provider = OpenAIProvider(model_id="gpt-4.1-mini", max_concurrency=args.concurrency)
        rss_before = current_rss_mib()
        sampler = RssSampler(interval_s=args.interval, probe=lambda: server.stats().total).start()
        started = time.perf_counter()
        try:
            dataset.generate([provider], show_progress=False, overwrite=True)
        finally:
            wall = time.perf_counter() - started
            sampler.stop()
        stats = server.stats()
    rows = count_lines(output)
    peak = peak_rss_mib()
    server_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print()
    print(f"wall time: {wall:.1f} s ({wall / 60:.1f} min)")
    print(f"requests seen by the server: {stats.total} {stats.by_outcome}; rows written: {rows}")
    if dataset.failures:
        print(f"failed requests: {len(dataset.failures)}, first: {dataset.failures[0].reason}")
    print(f"throughput: {stats.total / wall:.1f} requests/s")
    print(
        f"client RSS: {rss_before:.1f} MiB before generate(), {sampler.samples[-1][1]:.1f} MiB at the end; "
        f"peak (ru_maxrss) {peak:.1f} MiB"
    )
    print(f"server process peak RSS (ru_maxrss of reaped children): {server_peak:.1f} MiB")
    slope = growth_per_10k(sampler.samples)
    if slope is not None:
        print(f"RSS growth over the second half of the run: {slope:+.2f} MiB per 10,000 requests")
    print(f"\nRSS samples (every {args.interval:g} s, thinned):")
    print_samples(sampler.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
