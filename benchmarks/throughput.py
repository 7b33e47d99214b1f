"""Client throughput: how many structured-output requests a second this project pushes through a server that
answers instantly, and where the client's time goes.

    /tmp/venv/bin/python benchmarks/throughput.py [--requests 2000] [--concurrency 16] [--no-profile]

The project's local LLM server runs in a child process (`LLMTestServer(subprocess=True)`, no latency, no
request log), so the client and the server each have a core of a 2-core machine. The workload is a
classification config (4 classes × N/4 topics, one text per request) generated with
`OpenAIProvider(model_id="gpt-4.1-mini")`: every request carries a JSON schema and every answer is validated,
stored in the run store and written to the JSONL file, as in a real run.

1. A warm-up run of `--warmup` requests (LiteLLM's lazy imports and first-call set-up), not counted.
2. The measured run: requests/s = requests ÷ wall time of `generate()`. Target: ≥ 150 req/s on 2 cores.
3. The same run again under cProfile (slower; only the event-loop thread is profiled): the stats go to
   `--profile-out` (a .prof for `python -m pstats` / snakeviz) and a text report next to it; printed are the
   top 25 functions by cumulative time, the top 15 by own time, and own time summed by package.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import pstats
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import count_lines, cpu_calibration_ms, header_lines, offline_env, point_openai_at

offline_env()

TARGET_RPS = 150.0
CLASSES = [
    {"name": "positive", "description": "the writer is pleased"},
    {"name": "negative", "description": "the writer is disappointed"},
    {"name": "neutral", "description": "a factual statement"},
    {"name": "mixed", "description": "both praise and complaint"},
]
PROMPT = "Write {num_samples} short text in English of class '{label_name}' ({label_description}) about {{topic}}."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests in the measured run")
    parser.add_argument("--concurrency", type=int, default=16, help="the provider's max_concurrency")
    parser.add_argument("--warmup", type=int, default=64, help="requests in the uncounted warm-up run")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs (the median is reported)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    parser.add_argument("--profile-out", default="/tmp/datafast-throughput.prof", help="where the stats go")
    parser.add_argument("--workdir", default=None, help="where outputs go (default: a new folder under /tmp)")
    return parser.parse_args()


def make_config(n_requests: int, output: Path, tag: str):  # -> ClassificationDatasetConfig
    from datafast.schema.config import ClassificationDatasetConfig, PromptExpansionConfig

    n_topics = max(1, math.ceil(n_requests / len(CLASSES)))
    topics = [f"{tag} topic {i}" for i in range(n_topics)]
    return ClassificationDatasetConfig(
        classes=CLASSES,
        prompts=[PROMPT],
        num_samples_per_prompt=1,
        output_file=str(output),
        expansion=PromptExpansionConfig(placeholders={"topic": topics}, max_samples=max(1000, n_topics)),
    )


@dataclass
class RunResult:
    wall_s: float
    cpu_s: float  # user + system CPU of the whole client process (all threads)
    cpu_main_s: float  # CPU of the thread running the event loop

    def line(self, requests: int) -> str:
        others = self.cpu_s - self.cpu_main_s
        return (
            f"client CPU {self.cpu_s:.2f} s = {100 * self.cpu_s / self.wall_s:.0f}% of wall "
            f"(event-loop thread {self.cpu_main_s:.2f} s, other threads {others:.2f} s); "
            f"{1000 * self.cpu_s / max(1, requests):.2f} ms CPU per request"
        )


def _dataset_and_provider(config: object, concurrency: int) -> tuple[Any, Any]:
    from datafast.datasets import ClassificationDataset
    from datafast.llms import OpenAIProvider

    dataset = ClassificationDataset(config)  # type: ignore[arg-type]
    return dataset, OpenAIProvider(model_id="gpt-4.1-mini", max_concurrency=concurrency)


def _report_failures(dataset: Any) -> None:
    if dataset.failures:
        print(f"  {len(dataset.failures)} requests failed, first: {dataset.failures[0].reason}")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_run(config: object, concurrency: int) -> RunResult:
    """`generate()` as a user calls it, timed, with the CPU it used."""
    dataset, provider = _dataset_and_provider(config, concurrency)
    cpu0, main0, started = _cpu_s(), time.thread_time(), time.perf_counter()
    dataset.generate([provider], show_progress=False, overwrite=True)
    result = RunResult(time.perf_counter() - started, _cpu_s() - cpu0, time.thread_time() - main0)
    _report_failures(dataset)
    return result


class ProfilingExecutor(ThreadPoolExecutor):
    """The event loop's default executor, with a cProfile profiler in each worker thread.

    LiteLLM's `acompletion` runs its synchronous `completion()` set-up in the loop's default executor
    (`loop.run_in_executor(None, ...)`), so a profile of the event-loop thread alone misses that work."""

    def __init__(self) -> None:
        super().__init__(thread_name_prefix="asyncio")
        self.profiles: list[cProfile.Profile] = []
        self._local = threading.local()
        self._profiles_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return super().submit(self._profiled, fn, *args, **kwargs)

    def _profiled(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        profiler = getattr(self._local, "profiler", None)
        if profiler is None:
            profiler = self._local.profiler = cProfile.Profile()
            with self._profiles_lock:
                self.profiles.append(profiler)
        profiler.enable()
        try:
            return fn(*args, **kwargs)
        finally:
            profiler.disable()


def profiled_run(config: object, concurrency: int) -> tuple[float, cProfile.Profile, list[cProfile.Profile]]:
    """The same run under cProfile: the event-loop thread and, separately, the default executor's threads.
    `agenerate` is what `generate` runs in `asyncio.run`; here the loop gets a profiling default executor."""
    dataset, provider = _dataset_and_provider(config, concurrency)
    executor = ProfilingExecutor()

    async def run() -> None:
        asyncio.get_running_loop().set_default_executor(executor)
        await dataset.agenerate([provider], show_progress=False, overwrite=True)

    main_profiler = cProfile.Profile()
    started = time.perf_counter()
    main_profiler.enable()
    try:
        asyncio.run(run())
    finally:
        main_profiler.disable()
    wall = time.perf_counter() - started
    _report_failures(dataset)
    return wall, main_profiler, executor.profiles


def package_of(filename: str) -> str:
    """A coarse area for a profiled function's file, to sum own time by."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins / C (sqlite3, json, select, ...)"
    path = filename.replace("\\", "/")
    for marker, name in (
        ("/datafast/", "datafast"),
        ("/litellm/", "litellm"),
        ("/openai/", "openai SDK"),
        ("/httpx/", "httpx / httpcore"),
        ("/httpcore/", "httpx / httpcore"),
        ("/aiohttp/", "aiohttp"),
        ("/pydantic/", "pydantic"),
        ("/pydantic_core/", "pydantic"),
        ("/asyncio/", "asyncio"),
        ("/json/", "json (stdlib)"),
        ("/logging/", "logging"),
        ("/sqlite3/", "sqlite3"),
    ):
        if marker in path:
            return name
    return "other: " + Path(path).parent.name


def _label(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename.startswith("~"):
        return name
    parts = Path(filename).parts
    short = "/".join(parts[-3:]) if len(parts) >= 3 else filename
    return f"{short}:{line}({name})"


def _own_by_area(stats: pstats.Stats) -> dict[str, float]:
    by_area: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_area[package_of(filename)] += tottime
    return by_area


def report_profile(main_profiler: cProfile.Profile, worker_profilers: list[cProfile.Profile], out: Path) -> None:
    combined = pstats.Stats(main_profiler)
    if worker_profilers:
        combined.add(*worker_profilers)
    out.parent.mkdir(parents=True, exist_ok=True)
    combined.dump_stats(str(out))
    buffer = io.StringIO()
    pstats.Stats(str(out), stream=buffer).sort_stats("cumulative").print_stats(80)
    pstats.Stats(str(out), stream=buffer).sort_stats("tottime").print_stats(60)
    text_out = out.with_suffix(".txt")
    text_out.write_text(buffer.getvalue())

    main_area = _own_by_area(pstats.Stats(main_profiler))
    worker_area: dict[str, float] = defaultdict(float)
    for profiler in worker_profilers:
        for area, seconds in _own_by_area(pstats.Stats(profiler)).items():
            worker_area[area] += seconds
    main_total, worker_total = sum(main_area.values()), sum(worker_area.values())
    raw = combined.stats  # type: ignore[attr-defined]

    print(
        f"\nprofile (event-loop thread + {len(worker_profilers)} executor threads, merged): {out} (pstats), {text_out}"
    )
    print(f"own time profiled: event-loop thread {main_total:.2f} s, executor threads {worker_total:.2f} s")
    print("\ntop 25 by cumulative time:")
    print(f"{'cumtime':>9} {'tottime':>9} {'calls':>9}  function")
    for func, (_cc, nc, tottime, cumtime, _callers) in sorted(raw.items(), key=lambda kv: -kv[1][3])[:25]:
        print(f"{cumtime:>9.3f} {tottime:>9.3f} {nc:>9}  {_label(func)}")
    print("\ntop 15 by own time:")
    print(f"{'tottime':>9} {'cumtime':>9} {'calls':>9}  function")
    for func, (_cc, nc, tottime, cumtime, _callers) in sorted(raw.items(), key=lambda kv: -kv[1][2])[:15]:
        print(f"{tottime:>9.3f} {cumtime:>9.3f} {nc:>9}  {_label(func)}")
    print("\nown time by area (event-loop thread | executor threads):")
    areas = sorted(set(main_area) | set(worker_area), key=lambda a: -(main_area.get(a, 0) + worker_area.get(a, 0)))
    for area in areas[:12]:
        m, w = main_area.get(area, 0.0), worker_area.get(area, 0.0)
        m_pct, w_pct = 100 * m / max(main_total, 1e-9), 100 * w / max(worker_total, 1e-9)
        print(f"{m:>8.3f} s {m_pct:>5.1f}% | {w:>8.3f} s {w_pct:>5.1f}%  {area}")
    print("(cProfile call counts for coroutines count every resumption, not every call)")


def main() -> int:
    args = parse_args()
    import litellm  # noqa: F401 - the import is not what is measured

    from datafast.testing import LLMTestServer

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="df-throughput-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print("\n".join(header_lines()))
    print(
        f"workload: {args.requests} structured-output requests (classification, 1 text each), "
        f"max_concurrency {args.concurrency}, zero-latency server in a child process; outputs in {workdir}"
    )
    with LLMTestServer(subprocess=True, log_records=False, log_bodies=False) as server:
        point_openai_at(server.openai_base)

        if args.warmup:
            warm = timed_run(make_config(args.warmup, workdir / "warmup.jsonl", "warmup"), args.concurrency)
            print(f"warm-up: {args.warmup} requests in {warm.wall_s:.2f} s (not counted)")

        rates: list[float] = []
        for rep in range(1, args.repeat + 1):
            server.reset()
            output = workdir / f"measured-{rep}.jsonl"
            result = timed_run(make_config(args.requests, output, f"measured {rep}"), args.concurrency)
            stats = server.stats()
            rates.append(stats.total / result.wall_s)
            print(
                f"run {rep}: {stats.total} requests seen by the server {stats.by_outcome}, {count_lines(output)} rows, "
                f"{result.wall_s:.2f} s -> {rates[-1]:.1f} req/s, peak in flight {stats.max_in_flight}"
            )
            print(f"       {result.line(stats.total)}")
        print(f"CPU calibration after the measured runs: {cpu_calibration_ms():.1f} ms")
        median = statistics.median(rates)
        verdict = "MET" if median >= TARGET_RPS else "NOT MET"
        print(
            f"throughput: median {median:.1f} requests/s over {len(rates)} runs (min {min(rates):.1f}, "
            f"max {max(rates):.1f}); {1000 / median:.2f} ms per request   target ≥ {TARGET_RPS:.0f}: {verdict}"
        )

        if not args.no_profile:
            config = make_config(args.requests, workdir / "profiled.jsonl", "profiled")
            wall, main_profiler, worker_profilers = profiled_run(config, args.concurrency)
            rate = args.requests / wall
            print(f"\nprofiled run: {args.requests} requests in {wall:.2f} s ({rate:.1f} req/s, slowed by cProfile)")
            report_profile(main_profiler, worker_profilers, Path(args.profile_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
