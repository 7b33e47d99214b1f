"""This project against datafast 0.0.36 (PyPI) on the same classification config, side by side.

    /tmp/venv/bin/python benchmarks/vs_datafast_0036.py [--latency 0.3] [--requests 100] [--concurrency 32]

Both sides generate the same config (4 classes × 1 language × 1 prompt with a `{{topic}}` placeholder, topics
scaled so there are `--requests` requests, 5 texts per request) against the project's local LLM server with
`--latency` seconds added to every request, each side with a fresh server so request counts are its own.

* This project: `ClassificationDataset(config).generate([OpenAIProvider(model_id="gpt-4.1-mini",
  max_concurrency=C)], show_progress=False)` in this process, `OPENAI_BASE_URL`/`OPENAI_API_KEY` pointing at the
  server. LiteLLM is imported before the clock starts.
* 0.0.36: `benchmarks/df036_driver.py` run by `/tmp/venv-df036/bin/python` (the environment is created here
  when missing: `python3 -m venv` + `pip install datafast==0.0.36`). Its `OpenAIProvider` calls OpenAI's
  Responses API through LiteLLM and has no `api_base` argument, so `OPENAI_BASE_URL` is set to a small
  Responses-API shim (`benchmarks/responses_shim.py`) that forwards each request 1:1 to the same kind of
  test server as a chat completion. Its imports are also outside the clock.

Printed: wall times, requests seen by each server, rows written, old/new ratio, the ideal time
requests × latency ÷ concurrency and our ratio to it. Targets: ≥ 20× faster than 0.0.36, ≤ 1.3× the ideal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import count_lines, header_lines, offline_env, point_openai_at

offline_env()

HERE = Path(__file__).resolve().parent
OLD_VENV = Path("/tmp/venv-df036")
OLD_VERSION = "0.0.36"
MODEL_ID = "gpt-4.1-mini"
PROMPT = (
    "Write {num_samples} short texts in {language_name} of class '{label_name}' ({label_description}) about {{topic}}."
)
CLASSES = [
    {"name": "positive", "description": "the writer is pleased or enthusiastic"},
    {"name": "negative", "description": "the writer is disappointed or angry"},
    {"name": "neutral", "description": "a factual statement without feeling"},
    {"name": "mixed", "description": "both praise and complaint"},
]
TOPICS = [
    "a tent", "a kayak", "a hotel stay", "a train journey", "a restaurant", "a laptop", "a phone plan",
    "a museum", "a concert", "a bicycle", "a coffee machine", "a gym", "a library", "a cinema", "a bakery",
    "a car rental", "a dentist", "a hiking trail", "a video game", "a novel", "a podcast", "a school",
    "a garden centre", "a ferry", "an airport",
]  # fmt: skip


@dataclass
class SideResult:
    name: str
    wall_s: float
    requests: int
    rows: int
    max_in_flight: int
    outcomes: dict[str, int]
    first_arrival_s: float | None = None  # when the server saw the first request, from the start of generate()
    last_answer_s: float | None = None  # when the server finished the last one


def timeline(server: Any, t0: float) -> tuple[float | None, float | None]:
    """First arrival and last answer as the server logged them, relative to `t0`. Both processes read
    time.monotonic(), one system-wide clock on Linux."""
    records = server.requests()
    if not records:
        return None, None
    ends = [r.end for r in records if r.end is not None]
    return min(r.start for r in records) - t0, (max(ends) - t0) if ends else None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds the server adds to each request")
    parser.add_argument("--requests", type=int, default=100, help="requests per side (scales the topic list)")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="our provider's max_concurrency (32 is OpenAIProvider's default)"
    )
    parser.add_argument("--samples", type=int, default=5, help="num_samples_per_prompt")
    parser.add_argument("--skip-old", action="store_true", help="run only this project's side")
    parser.add_argument("--workdir", default=None, help="where outputs go (default: a new folder under /tmp)")
    return parser.parse_args()


def topics_for(requests: int) -> list[str]:
    """Enough distinct topics that classes × topics ≥ requests (4 classes: 25 topics for 100 requests)."""
    n = max(1, math.ceil(requests / len(CLASSES)))
    return [TOPICS[i] if i < len(TOPICS) else f"topic number {i + 1}" for i in range(n)]


def ensure_old_venv() -> Path:
    """/tmp/venv-df036 with datafast==0.0.36, created if missing; returns its python."""
    python = OLD_VENV / "bin" / "python"
    # -I: isolated, so a datafast checkout in the current directory is not what gets found
    check = [str(python), "-I", "-c", "import importlib.metadata as m; print(m.version('datafast'))"]
    if python.exists():
        found = subprocess.run(check, capture_output=True, text=True).stdout.strip()
        if found == OLD_VERSION:
            return python
    print(f"creating {OLD_VENV} with datafast=={OLD_VERSION} (one-off) ...", flush=True)
    base_python = shutil.which("python3") or sys.executable
    subprocess.run([base_python, "-m", "venv", "--clear", str(OLD_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"datafast=={OLD_VERSION}"], check=True, env=dict(os.environ)
    )
    found = subprocess.run(check, capture_output=True, text=True).stdout.strip()
    if found != OLD_VERSION:
        raise SystemExit(f"{OLD_VENV}: expected datafast {OLD_VERSION}, found {found!r}")
    return python


def run_new(args: argparse.Namespace, topics: list[str], workdir: Path) -> list[SideResult]:
    """Our side, twice in this process: cold (the first generate(), as a user's script runs it) and warm (a
    second generate() with a new output, after LiteLLM's first-call set-up has been paid)."""
    import litellm  # noqa: F401 - imported before the clock, as the old driver's imports are

    from datafast.datasets import ClassificationDataset
    from datafast.llms import OpenAIProvider
    from datafast.schema.config import ClassificationDatasetConfig, PromptExpansionConfig
    from datafast.testing import LLMTestServer

    results = []
    with LLMTestServer(
        latency_s=args.latency, subprocess=True, default_array_items=args.samples, log_bodies=False
    ) as server:
        point_openai_at(server.openai_base)
        for label in ("cold", "warm"):
            server.reset()
            output = workdir / f"new-{label}.jsonl"
            config = ClassificationDatasetConfig(
                classes=CLASSES,
                prompts=[PROMPT],
                languages={"en": "English"},
                num_samples_per_prompt=args.samples,
                output_file=str(output),
                expansion=PromptExpansionConfig(placeholders={"topic": topics}, max_samples=max(1000, len(topics))),
            )
            provider = OpenAIProvider(model_id=MODEL_ID, max_concurrency=args.concurrency)
            dataset = ClassificationDataset(config)
            t0, started = time.monotonic(), time.perf_counter()
            dataset.generate([provider], show_progress=False, overwrite=True)
            wall = time.perf_counter() - started
            stats = server.stats()
            first, last = timeline(server, t0)
            results.append(
                SideResult(
                    f"ours ({label})",
                    wall,
                    stats.total,
                    count_lines(output),
                    stats.max_in_flight,
                    stats.by_outcome,
                    first,
                    last,
                )
            )
    return results


def run_old(args: argparse.Namespace, topics: list[str], workdir: Path, python: Path) -> SideResult:
    from responses_shim import ResponsesShim

    from datafast.testing import LLMTestServer

    output = workdir / "old.jsonl"
    output.unlink(missing_ok=True)  # 0.0.36 appends to an existing file
    spec = {
        "classes": CLASSES,
        "prompts": [PROMPT],
        "languages": {"en": "English"},
        "num_samples_per_prompt": args.samples,
        "placeholders": {"topic": topics},
        "output_file": str(output),
        "model_id": MODEL_ID,
    }
    spec_path = workdir / "old_spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = workdir / "old_driver.log"
    with (
        LLMTestServer(
            latency_s=args.latency, subprocess=True, default_array_items=args.samples, log_bodies=False
        ) as server,
        ResponsesShim(server.openai_base) as shim,
        open(log_path, "w") as log,
    ):
        env = {**os.environ, "OPENAI_BASE_URL": shim.openai_base, "OPENAI_API_KEY": "sk-bench"}
        proc = subprocess.run(
            [str(python), str(HERE / "df036_driver.py"), str(spec_path)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
        stats = server.stats()
        driver_t0 = None
        if proc.returncode == 0:
            driver_t0 = json.loads(proc.stdout.strip().splitlines()[-1])["t0_monotonic"]
        first, last = timeline(server, driver_t0) if driver_t0 is not None else (None, None)
    if proc.returncode != 0:
        raise SystemExit(f"0.0.36 driver failed (exit {proc.returncode}); see {log_path}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["rows"] != count_lines(output):
        print(f"note: 0.0.36 kept {result['rows']} rows in memory, {count_lines(output)} in its file")
    return SideResult(
        f"datafast {result['version']}",
        result["wall_s"],
        stats.total,
        count_lines(output),
        stats.max_in_flight,
        stats.by_outcome,
        first,
        last,
    )


def main() -> int:
    args = parse_args()
    topics = topics_for(args.requests)
    n_requests = len(CLASSES) * len(topics)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="df-vs036-"))
    workdir.mkdir(parents=True, exist_ok=True)
    python = None if args.skip_old else ensure_old_venv()

    print("\n".join(header_lines()))
    print(
        f"config: {len(CLASSES)} classes × 1 language × 1 prompt × {len(topics)} topics = {n_requests} requests, "
        f"{args.samples} texts each; server latency {args.latency * 1000:.0f} ms; our max_concurrency "
        f"{args.concurrency}; outputs in {workdir}"
    )
    new, warm = run_new(args, topics, workdir)
    old = run_old(args, topics, workdir, python) if python is not None else None

    ideal = n_requests * args.latency / args.concurrency
    waves = math.ceil(n_requests / args.concurrency) * args.latency
    print()
    print(
        f"{'side':<18}{'wall':>9}{'requests':>10}{'rows':>7}{'peak in flight':>16}"
        f"{'1st request at':>16}{'last answer at':>16}  outcomes"
    )
    for side in (new, warm, old):
        if side is not None:
            first = "?" if side.first_arrival_s is None else f"{side.first_arrival_s:.2f}s"
            last = "?" if side.last_answer_s is None else f"{side.last_answer_s:.2f}s"
            print(
                f"{side.name:<18}{side.wall_s:>8.2f}s{side.requests:>10}{side.rows:>7}{side.max_in_flight:>16}"
                f"{first:>16}{last:>16}  {side.outcomes}"
            )
    print("(times after the start of generate(); 'ours (cold)' is the first generate() in its process and is the")
    print(" one compared; 'ours (warm)' is a second one, after LiteLLM's first-call set-up)")
    print()
    print(
        f"ideal (requests × latency ÷ concurrency) = {n_requests} × {args.latency} ÷ {args.concurrency} = {ideal:.3f} s"
        f"  (whole waves: ceil({n_requests}/{args.concurrency}) × {args.latency} = {waves:.3f} s)"
    )
    to_ideal = new.wall_s / ideal if ideal else float("nan")
    warm_to_ideal = warm.wall_s / ideal if ideal else float("nan")
    print(
        f"ours / ideal = {to_ideal:.2f}× (warm {warm_to_ideal:.2f}×)   target ≤ 1.3×: "
        f"{'MET' if to_ideal <= 1.3 else 'NOT MET'}"
    )
    if old is not None:
        speedup = old.wall_s / new.wall_s
        print(
            f"speed-up (0.0.36 / ours) = {speedup:.1f}× (warm {old.wall_s / warm.wall_s:.1f}×)   target ≥ 20×: "
            f"{'MET' if speedup >= 20 else 'NOT MET'}"
        )
        # 0.0.36 sends one request at a time, so it cannot take less than requests × latency; we cannot take
        # less than the ideal. Their quotient bounds the speed-up any implementation gets at this concurrency.
        bound = old.wall_s / ideal if ideal else float("nan")
        print(f"best speed-up possible at max_concurrency={args.concurrency} (0.0.36 wall ÷ ideal) = {bound:.1f}×")
        if old.requests != new.requests:
            print(f"WARNING: the sides sent different request counts ({new.requests} vs {old.requests})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
