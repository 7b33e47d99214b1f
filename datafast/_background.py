"""Loading in the background: one daemon thread that runs, in the order they were asked for, the slow
imports a run will need (LiteLLM first, as providers are built before a run starts; then cleaning's and the
report's libraries). One thread, not one each: imports hold the GIL, so parallel ones only slow each other,
and the first request, which waits for LiteLLM alone, would wait for all of them."""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable

log = logging.getLogger("datafast")

_LOADING_SWITCH_INTERVAL = 0.0005
_lock = threading.Lock()
_started: dict[str, threading.Event] = {}
_jobs: queue.SimpleQueue[tuple[str, Callable[[], object], threading.Event]] = queue.SimpleQueue()
_worker: threading.Thread | None = None


def load_in_background(name: str, load: Callable[[], object]) -> threading.Event:
    """Queue `load` (once per process and `name`); the event is set when it has run. A load that fails
    counts as done: whoever needs the part loads it again and meets the error there."""
    global _worker
    with _lock:
        done = _started.get(name)
        if done is None:
            done = _started[name] = threading.Event()
            _jobs.put((name, load, done))
            if _worker is None:
                _worker = threading.Thread(target=_work, name="datafast-background-loads", daemon=True)
                _worker.start()
    return done


def _work() -> None:
    while True:
        name, load, done = _jobs.get()
        # While it loads, this thread holds the GIL for long stretches; a run's event loop, woken by answers,
        # would wait up to the switch interval (5 ms) for it each time. A short interval keeps the loop quick.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, _LOADING_SWITCH_INTERVAL))
        try:
            load()
        except Exception as exc:
            log.debug("loading %s in the background failed: %s", name, exc)
        finally:
            sys.setswitchinterval(interval)
            done.set()
