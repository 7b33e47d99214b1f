"""Loading what cleaning and the report need in a background thread: numpy and the near-duplicate index take
a third of a second, py3langid's model about a second. A run starts loading them when it starts, so
they load while its first requests are out instead of on the event loop when the first answers arrive.

Each part is loaded once per process, in the one thread that loads in the background (`datafast._background`,
after LiteLLM when a provider asked for it first). A part that fails to load counts as loaded: the code that
uses it imports it again and meets the error there."""

from __future__ import annotations

import threading
from collections.abc import Callable

from datafast._background import load_in_background

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


def _start(part: str) -> threading.Event:
    return load_in_background(f"quality.{part}", LOADERS[part])
