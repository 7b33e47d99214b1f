"""datafast against Curator (`bespokelabs-curator`) and datafast 0.0.36 on the same job and the same local server,
in interleaved rounds, each system in a process of its own.

    /work/main/.venv/bin/python benchmarks/vs_curator.py [--scenarios A,B,C] [--rounds 3] [--rpm 600]
        [--baseline /tmp/df-prev] [--with-0036]

The job: N requests, each asking for 3 short reviews as a JSON-schema answer (a list of 3 strings), model
`gpt-4o-mini`, against the project's test server (`LLMTestServer(subprocess=True)`, a fresh one per run, so
its request and 429 counts belong to one system). Scenarios:

* A: 1,000 requests, 300 ms latency, at most 64 in flight for every system.
* B: 2,000 requests, no latency, 64 in flight; shows client CPU per request.
* C: 120 requests, 300 ms latency, each system's default concurrency (datafast 32, Curator unbounded); also
  the whole process's wall time, from starting Python to its exit, imports included, as a user runs a script.
* D (with `--rpm`, or `D` in `--scenarios`): 1,000 requests, 300 ms latency, no limit configured (each
  system's default concurrency), and a server that allows `--rpm` requests a minute (600), sends
  `x-ratelimit-*` headers and answers 429 beyond it.

The systems:
* datafast: `benchmarks/datafast_driver.py`, run by `--datafast-python` with `PYTHONPATH=--datafast-src`
  (this checkout); `--baseline SRC` adds another checkout (e.g. a `git worktree` of an earlier commit), run
  the same way.
* Curator 0.1.31: `benchmarks/curator_driver.py`, run by `/tmp/venv-curator/bin/python` (created here when
  missing: `python3 -m venv` + `pip install bespokelabs-curator==0.1.31`).
* datafast 0.0.36: `benchmarks/df036_driver.py` behind `responses_shim.py`, as in `vs_datafast_0036.py`. It sends
  one request at a time, so it runs in C only, unless `--with-0036` (or never, with `--no-0036`).

Every driver imports what it needs, then times its generation call and the CPU it used (getrusage), and prints
a JSON line; this script times the whole process. Printed: a line per run, then per scenario the medians and
ratios (throughput against Curator, time against the ideal N × latency ÷ concurrency, CPU per request, and in
C the whole process).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import header_lines, offline_env

offline_env()

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CURATOR_VENV = Path("/tmp/venv-curator")
CURATOR_VERSION = "0.1.31"
MODEL = "gpt-4o-mini"
SAMPLES = 3
PROMPT = (
    "Write {num_samples} short reviews in {language_name} of class '{label_name}' ({label_description}) "
    "about {{topic}}."
)
CLASSES = [
    {"name": "positive", "description": "the reviewer is pleased or enthusiastic"},
    {"name": "negative", "description": "the reviewer is disappointed or angry"},
    {"name": "neutral", "description": "a factual account without feeling"},
    {"name": "mixed", "description": "both praise and complaint"},
]
# Curator has no default concurrency cap; its request and token budgets decide. Outside scenario D it gets
# budgets far above what any run here reaches, as a high-tier key's headers would give it: this test server
# sends no rate-limit headers unless it enforces a limit, and Curator's fallback without them (200 requests
# and 100,000 tokens a minute, with ~4,150 tokens reserved per request) would throttle it to a crawl.
CURATOR_HIGH_RPM = 1_000_000
CURATOR_HIGH_TPM = 10_000_000_000
RUN_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Scenario:
    key: str
    requests: int
    latency_s: float
    concurrency: int | None  # None: each system's default
    rpm: int | None = None
    whole_process: bool = False

    def describe(self) -> str:
        conc = "each system's default concurrency" if self.concurrency is None else f"concurrency {self.concurrency}"
        rpm = f", server limit {self.rpm} requests/min" if self.rpm else ""
        return f"{self.requests} requests, {self.latency_s * 1000:.0f} ms latency, {conc}{rpm}"


@dataclass(frozen=True)
class System:
    name: str
    kind: str  # "datafast", "curator" or "df036"
    python: str
    src: str | None = None  # the datafast checkout put first on PYTHONPATH


@dataclass
class Run:
    scenario: str
    round: int
    system: str
    kind: str
    requests: int
    call_s: float
    whole_s: float
    process_cpu_s: float  # CPU of the whole child process (imports included), from RUSAGE_CHILDREN
    cpu_s: float | None  # CPU inside the timed call, measured in the child
    setup_s: float | None
    import_s: float | None
    answers: int | None  # answered requests as the system reports them
    rows: int | None  # texts it produced (lines written, reviews returned)
    concurrency: int | None
    server_total: int
    outcomes: dict[str, int]
    rate_limited: int
    max_in_flight: int
    first_s: float | None  # first request at the server, from the start of the call
    last_s: float | None  # last answer left the server
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok_answers(self) -> int:
        return self.answers if self.answers is not None else self.outcomes.get("ok", 0)


# -- set-up -------------------------------------------------------------------------------------------------


def ensure_curator_venv(venv: Path) -> Path:
    """`venv` with bespokelabs-curator==CURATOR_VERSION, created if missing; returns its python."""
    python = venv / "bin" / "python"
    check = [str(python), "-I", "-c", "import importlib.metadata as m; print(m.version('bespokelabs-curator'))"]
    if python.exists():
        found = subprocess.run(check, capture_output=True, text=True).stdout.strip()
        if found == CURATOR_VERSION:
            return python
    print(f"creating {venv} with bespokelabs-curator=={CURATOR_VERSION} (one-off, about 2-3 minutes) ...", flush=True)
    base_python = shutil.which("python3") or sys.executable
    subprocess.run([base_python, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"bespokelabs-curator=={CURATOR_VERSION}"],
        check=True,
        env=dict(os.environ),
    )
    found = subprocess.run(check, capture_output=True, text=True).stdout.strip()
    if found != CURATOR_VERSION:
        raise SystemExit(f"{venv}: expected bespokelabs-curator {CURATOR_VERSION}, found {found!r}")
    return python


def package_version(python: str, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def git_revision(src: str) -> str:
    head = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return Path(src).name
    dirty = subprocess.run(
        ["git", "-C", src, "status", "--porcelain", "--", "datafast"], capture_output=True, text=True
    )
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def topics_for(requests: int) -> list[str]:
    """Topics enough for classes × topics ≥ requests."""
    return [f"product number {i + 1}" for i in range(max(1, math.ceil(requests / len(CLASSES))))]


def render_prompts(topics: list[str]) -> list[str]:
    """The request texts datafast builds from PROMPT (class × topic), for Curator to send the same."""
    prompts = []
    for label in CLASSES:
        text = PROMPT.format(
            num_samples=SAMPLES,
            language_name="English",
            label_name=label["name"],
            label_description=label["description"],
        )
        prompts.extend(text.replace("{topic}", topic) for topic in topics)
    return prompts


def server_supports(field_name: str) -> bool:
    from datafast.testing import ServerBehavior

    return field_name in ServerBehavior.model_fields


# -- one run ------------------------------------------------------------------------------------------------


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(
    cmd: list[str], env: dict[str, str], cwd: Path, log_path: Path
) -> tuple[str, int, float, float, float, float]:
    """Run a driver; returns its stdout, exit code, wall time (start to exit), CPU (all of its process), and
    the `time.monotonic()` readings of its start and exit."""
    with open(log_path, "w") as log:
        cpu0, started, start_mono = _children_cpu_s(), time.perf_counter(), time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env, cwd=cwd, text=True)
        try:
            out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        whole = time.perf_counter() - started
        exit_mono = time.monotonic()
        cpu = _children_cpu_s() - cpu0
    return out, proc.returncode, whole, cpu, start_mono, exit_mono


def _last_json(out: str) -> dict[str, Any]:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the driver's output")


def run_once(scenario: Scenario, round_no: int, system: System, args: argparse.Namespace, rundir: Path) -> Run | None:
    from responses_shim import ResponsesShim

    from datafast.testing import LLMTestServer

    rundir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]  # other work on the machine skews a run: printed with it
    topics = topics_for(scenario.requests)
    behavior: dict[str, Any] = {"latency_s": scenario.latency_s, "default_array_items": SAMPLES, "log_bodies": False}
    if scenario.rpm:
        behavior["rpm_limit"] = scenario.rpm
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    log_path = rundir / "driver.log"
    spec_path = rundir / "spec.json"
    with LLMTestServer(subprocess=True, **behavior) as server:
        server_behavior = server.behavior()
        env["OPENAI_API_KEY"] = "sk-bench"
        env["OPENAI_BASE_URL"] = server.openai_base
        if system.kind == "datafast":
            spec = {
                "classes": CLASSES,
                "prompt": PROMPT,
                "topics": topics,
                "num_samples": SAMPLES,
                "model": MODEL,
                "concurrency": scenario.concurrency,
                "output_file": str(rundir / "reviews.jsonl"),
            }
            env["PYTHONPATH"] = str(system.src)
            cmd = [system.python, str(HERE / "datafast_driver.py"), str(spec_path)]
        elif system.kind == "curator":
            spec = {
                "prompts": render_prompts(topics),
                "model": MODEL,
                "base_url": server.openai_base,
                "api_key": "sk-bench",
                "num_samples": SAMPLES,
                "max_concurrent_requests": scenario.concurrency,
                # with a server limit, Curator reads the request budget from the server's headers
                "max_requests_per_minute": None if scenario.rpm or args.curator_default_budget else CURATOR_HIGH_RPM,
                "max_tokens_per_minute": None if args.curator_default_budget else CURATOR_HIGH_TPM,
                "cache_dir": str(rundir / "curator-cache"),
            }
            if args.curator_rich:
                env["CURATOR_DISABLE_RICH_DISPLAY"] = "0"
            cmd = [system.python, str(HERE / "curator_driver.py"), str(spec_path)]
        else:
            output = rundir / "reviews.jsonl"
            spec = {
                "classes": CLASSES,
                "prompts": [PROMPT],
                "languages": {"en": "English"},
                "num_samples_per_prompt": SAMPLES,
                "placeholders": {"topic": topics},
                "output_file": str(output),
                "model_id": MODEL,
            }
            cmd = [system.python, str(HERE / "df036_driver.py"), str(spec_path)]
        spec_path.write_text(json.dumps(spec))
        if system.kind == "df036":
            with ResponsesShim(server.openai_base) as shim:
                env["OPENAI_BASE_URL"] = shim.openai_base
                out, code, whole, process_cpu, start_mono, exit_mono = run_child(cmd, env, rundir, log_path)
        else:
            out, code, whole, process_cpu, start_mono, exit_mono = run_child(cmd, env, rundir, log_path)
        stats = server.stats()
        records = server.requests()

    if code != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        print(f"  {scenario.key} r{round_no} {system.name}: driver failed (exit {code}); log {log_path}:")
        for line in tail:
            print(f"    {line}")
        return None
    result = _last_json(out)
    t0 = result["t0_monotonic"]
    ends = [r.end for r in records if r.end is not None]
    info: dict[str, Any] = {"load": load}
    import_s = result.get("import_seconds", result.get("import_s"))
    if import_s is not None:  # process start to the driver's first import (the interpreter's own start-up)
        info["startup_s"] = t0 - import_s - start_mono
    if result.get("done_monotonic") is not None:  # result printed to process gone (atexit, threads, teardown)
        info["exit_s"] = exit_mono - result["done_monotonic"]
    for name in ("rpm", "tpm", "version", "datafast_file", "failed", "failures_by_reason", "expected_rows"):
        if result.get(name):
            info[name] = result[name]
    if scenario.rpm:
        info["rate_burst_s"] = getattr(server_behavior, "rate_burst_s", None)
    return Run(
        scenario=scenario.key,
        round=round_no,
        system=system.name,
        kind=system.kind,
        requests=len(CLASSES) * len(topics),
        call_s=result.get("call_seconds", result.get("wall_s")),
        whole_s=whole,
        process_cpu_s=process_cpu,
        cpu_s=result.get("cpu_seconds"),
        setup_s=result.get("setup_seconds"),
        import_s=import_s,
        answers=result.get("answers"),
        rows=result.get("rows"),
        concurrency=result.get("concurrency", 1 if system.kind == "df036" else None),
        server_total=stats.total,
        outcomes=dict(stats.by_outcome),
        rate_limited=getattr(stats, "rate_limited", 0),
        max_in_flight=stats.max_in_flight,
        first_s=(min(r.start for r in records) - t0) if records else None,
        last_s=(max(ends) - t0) if ends else None,
        info=info,
    )


# -- reporting ----------------------------------------------------------------------------------------------


def ideal_s(scenario: Scenario, concurrency: int | None, burst_s: float | None = None) -> float:
    """N × latency ÷ concurrency (unbounded concurrency: one latency). Under a server limit, no less than the
    time the limit allows: the bucket's burst at once, the rest at the limit's pace, plus one latency."""
    width = min(scenario.requests, concurrency) if concurrency else scenario.requests
    ideal = scenario.requests * scenario.latency_s / width
    if scenario.rpm:
        burst = scenario.rpm * (burst_s or 0.0) / 60
        ideal = max(ideal, max(0.0, scenario.requests - burst) * 60 / scenario.rpm + scenario.latency_s)
    return ideal


def run_line(run: Run, scenario: Scenario) -> str:
    ideal = ideal_s(scenario, run.concurrency, run.info.get("rate_burst_s"))
    rate = run.requests / run.call_s
    head = f"{run.scenario} r{run.round} {run.system:<24} call {run.call_s:7.2f} s ({rate:6.1f} req/s"
    parts = [head + (f", {run.call_s / ideal:.2f}× ideal)" if ideal > 0 else ")")]
    if run.setup_s is not None:
        parts.append(f"setup {run.setup_s:.2f} s")
    if run.cpu_s is not None:
        parts.append(f"CPU {1000 * run.cpu_s / run.requests:.2f} ms/req")
    imports = "" if run.import_s is None else f", imports {run.import_s:.2f} s"
    if "startup_s" in run.info:
        imports += f", start-up {run.info['startup_s']:.2f} s"
    if "exit_s" in run.info:
        imports += f", exit {run.info['exit_s']:.2f} s"
    parts.append(f"whole {run.whole_s:.2f} s (CPU {run.process_cpu_s:.1f} s{imports})")
    parts.append(f"answers {run.ok_answers}/{run.requests} texts {run.rows}")
    parts.append(f"server {run.server_total} req {run.outcomes} peak {run.max_in_flight}")
    if run.rate_limited:
        parts.append(f"rate-limited {run.rate_limited}")
    if run.info.get("failed"):
        parts.append(f"failed {run.info['failed']} {run.info.get('failures_by_reason') or ''}".rstrip())
    if run.first_s is not None and run.last_s is not None:
        parts.append(f"1st +{run.first_s:.2f} s last +{run.last_s:.2f} s")
    parts.append(f"load {run.info['load']:.1f}")
    if run.info.get("rpm") is not None and run.kind == "curator":
        parts.append(f"curator budget {run.info['rpm']} rpm / {run.info.get('tpm')} tpm")
    return "; ".join(parts)


def check_run(run: Run) -> list[str]:
    """Did the system really get N answers (and N × 3 texts)?"""
    problems = []
    if run.kind == "df036":
        expected = run.info.get("expected_rows", run.requests * SAMPLES)
        if run.rows != expected:
            problems.append(f"{run.rows} rows, expected {expected}")
    else:
        if run.ok_answers != run.requests:
            problems.append(f"{run.ok_answers} answers for {run.requests} requests")
        if run.kind == "curator" and run.rows != run.requests * SAMPLES:
            problems.append(f"{run.rows} reviews, expected {run.requests * SAMPLES}")
    return problems


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _span(values: list[int]) -> str:
    """`7` when every run gave 7, `5-9` otherwise."""
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _fmt_list(values: list[float], unit: str = "") -> str:
    return ", ".join(f"{v:.2f}{unit}" for v in values)


def summarize(scenario: Scenario, runs: list[Run], systems: list[System]) -> list[str]:
    lines = [f"scenario {scenario.key}: {scenario.describe()}"]
    by_system = {s.name: [r for r in runs if r.system == s.name] for s in systems}
    by_system = {name: rs for name, rs in by_system.items() if rs}
    if not by_system:
        return [*lines, "  (no successful runs)"]
    header = (
        f"  {'system':<24}{'runs':>5}{'call (med)':>12}{'req/s':>8}{'÷ ideal':>9}{'ideal':>8}{'CPU ms/req':>12}"
        f"{'whole (med)':>13}{'proc CPU':>10}{'answers':>10}{'texts':>10}{'429s':>10}{'1st req':>9}"
    )
    lines.append(header)
    med: dict[str, dict[str, float]] = {}
    for name, rs in by_system.items():
        call = _med([r.call_s for r in rs])
        whole = _med([r.whole_s for r in rs])
        cpu = [1000 * r.cpu_s / r.requests for r in rs if r.cpu_s is not None]
        ideal = ideal_s(scenario, rs[0].concurrency, rs[0].info.get("rate_burst_s"))
        first = [r.first_s for r in rs if r.first_s is not None]
        med[name] = {"call": call, "whole": whole}
        answers = _span([r.ok_answers for r in rs])
        texts = _span([r.rows or 0 for r in rs])
        n429 = _span([r.outcomes.get("429", 0) for r in rs])
        lines.append(
            f"  {name:<24}{len(rs):>5}{call:>10.2f} s{rs[0].requests / call:>8.1f}"
            f"{(f'{call / ideal:.2f}×' if ideal > 0 else '–'):>9}{(f'{ideal:.2f}s' if ideal > 0 else '–'):>8}"
            f"{(f'{_med(cpu):.2f}' if cpu else '–'):>12}{whole:>11.2f} s{_med([r.process_cpu_s for r in rs]):>8.1f} s"
            f"{answers:>10}{texts:>10}{n429:>10}{(f'+{_med(first):.2f}s' if first else '–'):>9}"
        )
    lines.append(
        "  (call = the generation call as timed in the child, client set-up included; whole = process start to "
        "exit; CPU ms/req = the child's CPU during the call ÷ requests; 1st req = first request at the server "
        "after the call started)"
    )

    def per_round_ratio(num: str, den: str, key: str) -> list[float]:
        """num's time ÷ den's time, round by round (> 1: den is faster)."""
        out = []
        for r in sorted({run.round for run in runs}):
            a = [x for x in by_system.get(num, []) if x.round == r]
            b = [x for x in by_system.get(den, []) if x.round == r]
            if a and b:
                out.append(getattr(a[0], key) / getattr(b[0], key))
        return out

    ours = systems[0].name
    others = [s for s in systems[1:] if s.name in by_system]
    for other in others:
        for key, what in (("call_s", "generation call"), ("whole_s", "whole process")):
            if key == "whole_s" and not scenario.whole_process:
                continue
            ratios = per_round_ratio(other.name, ours, key)
            if not ratios:
                continue
            label = "speed-up" if other.kind == "df036" else "throughput"
            lines.append(
                f"  {ours} ÷ {other.name} {label}, {what}: {_med(ratios):.2f}× (per round: {_fmt_list(ratios, '×')}; "
                f"> 1: {ours} is faster)"
            )
    if scenario.rpm:
        for name, rs in by_system.items():
            ideal_min = scenario.requests / scenario.rpm
            burst_s = rs[0].info.get("rate_burst_s") or 0.0
            burst = scenario.rpm * burst_s / 60
            paced = max(0.0, scenario.requests - burst) * 60 / scenario.rpm + scenario.latency_s
            call = _med([r.call_s for r in rs])
            lines.append(
                f"  {name}: wall {call:.1f} s against N/rpm = {ideal_min:.2f} min = {60 * ideal_min:.1f} s "
                f"({call / (60 * ideal_min):.2f}×); with the server's {burst:.0f}-request burst the floor is "
                f"{paced:.1f} s; 429s {', '.join(str(r.outcomes.get('429', 0)) for r in rs)}"
            )
    return lines


# -- main ---------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="A,B,C", help="comma-separated: A, B, C, D (D also with --rpm)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--requests", type=int, default=None, help="requests in every scenario (default: per scenario)")
    parser.add_argument("--latency", type=float, default=None, help="seconds of latency for A, C and D (0.3)")
    parser.add_argument("--concurrency", type=int, default=None, help="concurrency for A, B and D (64)")
    parser.add_argument("--rpm", type=int, default=None, help="run scenario D with this server limit (600)")
    venv_python = REPO / ".venv" / "bin" / "python"
    parser.add_argument(
        "--datafast-python",
        default=str(venv_python if venv_python.exists() else sys.executable),
        help="the interpreter for the datafast drivers (default: this checkout's .venv, else this one)",
    )
    parser.add_argument("--datafast-src", default=str(REPO), help="the datafast checkout to measure")
    parser.add_argument(
        "--baseline", action="append", default=[], metavar="SRC", help="another datafast checkout (repeatable)"
    )
    parser.add_argument("--curator-python", default=None, help=f"default: {CURATOR_VENV}/bin/python (built if missing)")
    parser.add_argument("--curator-rich", action="store_true", help="keep Curator's rich live display on")
    parser.add_argument(
        "--curator-default-budget",
        action="store_true",
        help="give Curator no request/token budgets: it takes the server's headers or its fallback (200 rpm, 100k tpm)",
    )
    parser.add_argument("--with-0036", action="store_true", help="datafast 0.0.36 in every scenario, not only C")
    parser.add_argument("--no-0036", action="store_true", help="leave datafast 0.0.36 out")
    parser.add_argument("--no-curator", action="store_true", help="leave Curator out")
    parser.add_argument("--workdir", default=None, help="where runs write (default: a new folder under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep each run's outputs")
    return parser.parse_args()


def build_scenarios(args: argparse.Namespace) -> list[Scenario]:
    keys = [k.strip().upper() for k in args.scenarios.split(",") if k.strip()]
    if args.rpm and "D" not in keys:
        keys.append("D")
    latency = 0.3 if args.latency is None else args.latency
    conc = 64 if args.concurrency is None else args.concurrency
    defaults = {
        "A": Scenario("A", 1000, latency, conc),
        "B": Scenario("B", 2000, 0.0, conc),
        "C": Scenario("C", 120, latency, None, whole_process=True),
        # As a user would run it: no limit of any kind configured, the server's headers are all there is.
        "D": Scenario("D", 1000, latency, None, rpm=args.rpm or 600),
    }
    unknown = [k for k in keys if k not in defaults]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}: use A, B, C, D")
    out = []
    for key in keys:
        sc = defaults[key]
        if args.requests is not None:
            sc = Scenario(sc.key, args.requests, sc.latency_s, sc.concurrency, sc.rpm, sc.whole_process)
        out.append(sc)
    if any(sc.rpm for sc in out) and not server_supports("rpm_limit"):
        print("note: this checkout's test server has no rpm_limit field yet; scenario D is skipped")
        out = [sc for sc in out if not sc.rpm]
    return out


def main() -> int:
    args = parse_args()
    scenarios = build_scenarios(args)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="df-vs-curator-"))
    workdir.mkdir(parents=True, exist_ok=True)

    ours = System(f"datafast@{git_revision(args.datafast_src)}", "datafast", args.datafast_python, args.datafast_src)
    systems = [ours]
    for src in args.baseline:
        name = f"datafast@{git_revision(src)}"
        if name == ours.name:
            name += f" ({Path(src).name})"
        systems.append(System(name, "datafast", args.datafast_python, str(Path(src).resolve())))
    if not args.no_curator:
        curator_python = args.curator_python or str(ensure_curator_venv(CURATOR_VENV))
        version = package_version(curator_python, "bespokelabs-curator")
        systems.append(System(f"curator {version}", "curator", curator_python))
    old = None
    if not args.no_0036 and (args.with_0036 or any(sc.whole_process for sc in scenarios)):
        from vs_datafast_0036 import ensure_old_venv

        old = System("datafast 0.0.36", "df036", str(ensure_old_venv()))
        systems.append(old)

    print("\n".join(header_lines()))
    for system in systems:
        where = f", source {system.src}" if system.src else ""
        litellm = package_version(system.python, "litellm")
        print(f"system {system.name}: {system.python}{where}; litellm {litellm}")
    print(f"job: {len(CLASSES)} classes × topics requests, {SAMPLES} reviews per JSON answer, model {MODEL}")
    print(f"rounds {args.rounds}, order rotated each round; outputs in {workdir}")
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5 and 15 min)")
    print()

    runs: list[Run] = []
    problems: list[str] = []
    for round_no in range(1, args.rounds + 1):
        for scenario in scenarios:
            these = [s for s in systems if s is not old or args.with_0036 or scenario.whole_process]
            shift = (round_no - 1) % len(these)
            for system in these[shift:] + these[:shift]:
                rundir = workdir / f"{scenario.key}-r{round_no}-{system.kind}-{len(runs)}"
                run = run_once(scenario, round_no, system, args, rundir)
                if run is None:
                    problems.append(f"{scenario.key} r{round_no} {system.name}: driver failed")
                    continue
                runs.append(run)
                print(run_line(run, scenario), flush=True)
                for problem in check_run(run):
                    problems.append(f"{scenario.key} r{round_no} {system.name}: {problem}")
                    print(f"  WARNING: {problem}", flush=True)
                if not args.keep:
                    shutil.rmtree(rundir, ignore_errors=True)

    print()
    print("=" * 100)
    for scenario in scenarios:
        print("\n".join(summarize(scenario, [r for r in runs if r.scenario == scenario.key], systems)))
        print()
    if problems:
        print("problems:")
        for problem in problems:
            print(f"  {problem}")
    else:
        print("every run got its N answers (and N × 3 texts where the system reports them)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
