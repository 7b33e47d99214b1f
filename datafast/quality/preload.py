"""Loading what cleaning and the report need in a background thread: numpy and the near-duplicate index take
a third of a second, py3langid's model about a second. A run starts loading them when it starts, so
they load while its first requests are out instead of on the event loop when the first answers arrive.

Each part is loaded once per process, in the one thread that loads in the background (`datafast._background`,
after LiteLLM when a provider asked for it first), but for py3langid's model: three quarters of its loading is
lzma decompression, which lets go of the GIL, so it has a thread of its own and loads alongside LiteLLM's
import (costing that import ~0.2 s of GIL time) rather than a second after it, while a run's first records
wait for it. A part that fails to load counts as loaded: the code that uses it imports it again and meets the
error there."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from datafast._background import load_in_background

log = logging.getLogger("datafast")

NEAR_DUPLICATES = "near_duplicates"
LANGUAGE = "language"
PLOTS = "plots"


def _load_near_duplicates() -> None:
    import datafast.quality.near_duplicates
    import datafast.quality.ngrams  # noqa: F401


def _load_language() -> None:
    from datafast.quality.language import known_languages

    known_languages()


def _load_plots() -> None:
    from datafast.quality.plots import warm_up

    warm_up()


LOADERS: dict[str, Callable[[], None]] = {
    NEAR_DUPLICATES: _load_near_duplicates,
    LANGUAGE: _load_language,
    PLOTS: _load_plots,
}


class Preload:
    """Parts of the stack (`NEAR_DUPLICATES`, `LANGUAGE`, `PLOTS`) loading in the background from the moment
    this is made; `ready()` says, without waiting, whether they all have."""

    def __init__(self, *parts: str) -> None:
        self._events = [_start(part) for part in parts]

    def ready(self) -> bool:
        return all(event.is_set() for event in self._events)

    def wait(self) -> None:
        for event in self._events:
            event.wait()


_lock = threading.Lock()
_on_own_thread: dict[str, threading.Event] = {}


def _start(part: str) -> threading.Event:
    if part != LANGUAGE:
        return load_in_background(f"quality.{part}", LOADERS[part])
    with _lock:
        done = _on_own_thread.get(part)
        if done is None:
            done = _on_own_thread[part] = threading.Event()
            threading.Thread(target=_load, args=(part, done), name=f"datafast-load-{part}", daemon=True).start()
    return done


def _load(part: str, done: threading.Event) -> None:
    try:
        LOADERS[part]()
    except Exception as exc:
        log.debug("loading %s in the background failed: %s", part, exc)
    finally:
        done.set()
