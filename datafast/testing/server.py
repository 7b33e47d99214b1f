"""A handle that runs the test LLM server in a background thread or a child process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from subprocess import PIPE, Popen, TimeoutExpired
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from datafast.testing.app import ServerState, create_app
from datafast.testing.batches import BatchEvent
from datafast.testing.behavior import ServerBehavior
from datafast.testing.records import RequestRecord, ServerStats

T = TypeVar("T")

SHUTDOWN_GRACE_S = 0.25


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start ``app`` on ``host:port`` (0 = any free port); return the runner and the base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound_port = runner.addresses[0][1]
    return runner, f"http://{host}:{bound_port}"


class LLMTestServer:
    """A local LLM server for tests and benchmarks (OpenAI, Anthropic, Gemini and Ollama wire formats).

    By default it runs in a daemon thread with its own event loop; with ``subprocess=True`` it runs as
    ``python -m datafast.testing.llm_server`` in a child process (no GIL shared with the client) and is
    driven over its ``/_control`` routes. Use it as a context manager, or call :meth:`start`/:meth:`close`.
    Keyword arguments not listed are :class:`ServerBehavior` fields, e.g. ``LLMTestServer(latency_s=0.2)``.
    """

    def __init__(
        self,
        behavior: ServerBehavior | None = None,
        *,
        subprocess: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = 30.0,
        **behavior_fields: Any,
    ) -> None:
        base = behavior.model_dump() if behavior is not None else {}
        self._initial = ServerBehavior.model_validate({**base, **behavior_fields})
        self.subprocess = subprocess
        self.host = host
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._state: ServerState | None = None
        self._stop: asyncio.Event | None = None
        self._proc: Popen[str] | None = None

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> LLMTestServer:
        """Start serving; returns ``self``. Idempotent."""
        if self._url is None:
            self._start_subprocess() if self.subprocess else self._start_thread()
        return self

    def close(self) -> None:
        """Stop serving (pending requests are cut off after a short grace period). Idempotent."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            if proc.stdin is not None:
                proc.stdin.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._thread is not None and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)
            self._thread = None
        self._url = None

    def __enter__(self) -> LLMTestServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- addresses --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (Anthropic, Gemini and Ollama ``api_base``)."""
        if self._url is None:
            raise RuntimeError("the server is not running; call start() or use it as a context manager")
        return self._url

    @property
    def openai_base(self) -> str:
        """``url + "/v1"``, the ``api_base`` for OpenAI-compatible clients (and Mistral's)."""
        return self.url + "/v1"

    @property
    def openrouter_base(self) -> str:
        """``url + "/api/v1"``, the ``api_base`` for OpenRouter clients (as ``https://openrouter.ai/api/v1``)."""
        return self.url + "/api/v1"

    # -- control ----------------------------------------------------------------------------------------

    def requests(self, since: int = 0) -> list[RequestRecord]:
        """Logged requests with ``seq > since``, oldest first (in-flight ones have ``end=None``)."""
        if self._state is not None:
            return self._call(lambda s: [replace(r) for r in s.log if r.seq > since])
        rows = self._http("GET", f"/_control/log?since={since}")
        return [RequestRecord.from_dict(row) for row in rows]

    def batch_events(self, since: int = 0) -> list[BatchEvent]:
        """Batch events (uploads, submissions, polls, cancellations, downloads) with ``seq > since``."""
        if self._state is not None:
            return self._call(lambda s: [replace(e) for e in s.batches.events if e.seq > since])
        rows = self._http("GET", f"/_control/batches?since={since}")
        return [BatchEvent.from_dict(row) for row in rows]

    def stats(self) -> ServerStats:
        """Counters by outcome and protocol, in-flight and peak in-flight requests."""
        if self._state is not None:
            return ServerStats.from_dict(self._call(lambda s: s.stats.to_dict()))
        return ServerStats.from_dict(self._http("GET", "/_control/stats"))

    def behavior(self) -> ServerBehavior:
        """The behaviour in force (``script`` lists only entries not yet consumed)."""
        if self._state is not None:
            return self._call(lambda s: s.planner.current())
        return ServerBehavior.model_validate(self._http("GET", "/_control/behavior"))

    def set_behavior(self, behavior: ServerBehavior | None = None, **changes: Any) -> ServerBehavior:
        """Update behaviour fields (``set_behavior(rate_500=0.1)``), or replace it whole with ``behavior``."""
        replace = behavior is not None
        fields = {**(behavior.model_dump() if behavior is not None else {}), **changes}
        ServerBehavior.model_validate({**self.behavior().model_dump(), **fields})  # fail early, in the caller
        if self._state is not None:
            return self._call(lambda s: s.update_behavior(fields, replace=replace))
        suffix = "?replace=1" if replace else ""
        return ServerBehavior.model_validate(self._http("POST", "/_control/behavior" + suffix, fields))

    def reset(self) -> None:
        """Clear the request log and counters (behaviour is kept)."""
        if self._state is not None:
            self._call(lambda s: s.reset())
        else:
            self._http("POST", "/_control/reset", {})

    # -- internals --------------------------------------------------------------------------------------

    def _start_thread(self) -> None:
        ready: Future[str] = Future()
        self._state = ServerState(self._initial)
        self._thread = threading.Thread(target=self._run_loop, args=(ready,), name="llm-test-server", daemon=True)
        self._thread.start()
        self._url = ready.result(timeout=self.startup_timeout_s)

    def _run_loop(self, ready: Future[str]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # report start-up failures to the caller
            if not ready.done():
                ready.set_exception(exc)
        finally:
            loop.close()

    async def _serve(self, ready: Future[str]) -> None:
        self._stop = asyncio.Event()
        assert self._state is not None
        runner, url = await start_site(create_app(self._state), self.host, self.port)
        ready.set_result(url)
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def _call(self, fn: Callable[[ServerState], T]) -> T:
        """Run ``fn(state)`` on the server's loop thread and return its result."""
        assert self._state is not None
        state = self._state
        if self._thread is None or self._loop is None or self._loop.is_closed():
            return fn(state)  # stopped: the log stays readable
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn(state))
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(timeout=10)

    def _start_subprocess(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        args = [sys.executable, "-m", "datafast.testing.llm_server", "--host", self.host, "--port", str(self.port)]
        args += ["--behavior-json", self._initial.model_dump_json(), "--exit-on-stdin-eof"]
        # The child stops when our end of its stdin closes, so it cannot outlive a crashed test run.
        self._proc = Popen(args, stdin=PIPE, stdout=PIPE, text=True, env=env)
        line = _read_line(self._proc, self.startup_timeout_s)
        if not line.startswith("http"):
            self.close()
            raise RuntimeError(f"test server did not start (first output line: {line!r})")
        self._url = line.strip()

    def _http(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())


def _read_line(proc: Popen[str], timeout_s: float) -> str:
    """First stdout line of ``proc``, or ``""`` if it exits or stays silent for ``timeout_s``."""
    result: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return result[0] if result else ""
