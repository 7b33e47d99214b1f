"""Helpers shared by the benchmark scripts: the offline LiteLLM environment, memory readings and formatting.

Import this module before anything that imports LiteLLM: `offline_env()` must run first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# LiteLLM fetches a price map and an Anthropic beta-header table from the internet unless told not to. Every
# process of every benchmark (ours, the test server, the 0.0.36 driver) must run with these set.
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
}


def offline_env() -> None:
    """Put the offline LiteLLM variables into this process's environment (inherited by its children)."""
    os.environ.update(OFFLINE_ENV)


def point_openai_at(base_url: str) -> None:
    """Make `OpenAIProvider()` (ours, and LiteLLM's openai route) talk to `base_url` with a dummy key."""
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = "sk-bench"


def machine_line() -> str:
    """One line describing the machine and interpreter, for the printed results."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}, {time.strftime('%Y-%m-%d %H:%M')}"
    )


def datafast_revision() -> str:
    """The git commit of the datafast checkout being measured (with '+dirty' if its files have changes)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "datafast"], capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def cpu_calibration_ms(rounds: int = 5) -> float:
    """Median time of a fixed pure-Python workload (dicts, JSON, hashing), in ms. This machine's CPU speed
    drifts over time (shared host); printing this next to a result lets runs made at different times be
    compared: a result measured while this number is high was measured on a slow moment."""
    payload = {"messages": [{"role": "user", "content": "x" * 200}], "params": {"model": "m", "t": 0.7}}
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(4000):
            payload["draw"] = i
            blob = json.dumps(payload, sort_keys=True)
            hashlib.sha256(blob.encode()).hexdigest()
            json.loads(blob)
        times.append(time.perf_counter() - started)
    times.sort()
    return 1000 * times[len(times) // 2]


def header_lines() -> list[str]:
    """What every benchmark prints first: machine, datafast revision, CPU calibration."""
    return [
        f"machine: {machine_line()}",
        f"datafast revision: {datafast_revision()}",
        f"CPU calibration: {cpu_calibration_ms():.1f} ms (fixed pure-Python workload; higher = slower moment)",
    ]


def current_rss_mib() -> float:
    """Resident set size of this process now, from /proc/self/status (VmRSS), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mib() -> float:
    """Peak resident set size of this process (getrusage ru_maxrss, KiB on Linux), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass
class RssSampler:
    """Samples VmRSS every `interval_s` seconds in a daemon thread: (seconds since `start()`, MiB, probe()).
    `probe` (optional) is read at each sample too, e.g. the server's request count."""

    interval_s: float = 1.0
    probe: Callable[[], float] | None = None
    samples: list[tuple[float, float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0

    def start(self) -> RssSampler:
        self._t0 = time.monotonic()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        value = float("nan")
        if self.probe is not None:
            with contextlib.suppress(Exception):  # a failed probe must not stop the sampling
                value = float(self.probe())
        self.samples.append((time.monotonic() - self._t0, current_rss_mib(), value))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def count_lines(path: str | Path) -> int:
    """Number of complete lines in a file (0 if it does not exist)."""
    p = Path(path)
    if not p.exists():
        return 0
    with open(p, "rb") as handle:
        return sum(1 for line in handle if line.endswith(b"\n"))
