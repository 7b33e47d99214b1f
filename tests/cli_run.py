"""Running the `datafast` command in a child process, and stopping a run part-way, for the CLI tests."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def run_datafast(*args, cwd=None, env=None, timeout=120) -> subprocess.CompletedProcess:
    """`datafast ARGS...` to its end; `env` adds to (not replaces) this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "datafast", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **env} if env else None,
    )


def start_generate(config: Path) -> subprocess.Popen:
    """`datafast generate CONFIG` in the background, with Ctrl+C (SIGINT) reaching it as in a terminal even
    when these tests themselves run in the background of a shell, which starts them with SIGINT ignored."""
    return subprocess.Popen(
        [sys.executable, "-m", "datafast", "generate", str(config), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the output file has `n` lines, failing if the run ends or stalls first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the run did not make progress")


def stored_requests(folder: Path) -> set[str]:
    """The prompt text (message contents joined by newlines, as the test server logs it) of every request
    the run store holds an answer for."""
    with sqlite3.connect(folder / "store.sqlite") as db:
        rows = db.execute("SELECT request FROM items WHERE status='done'")
        return {"\n".join(m["content"] for m in json.loads(r[0])) for r in rows}
