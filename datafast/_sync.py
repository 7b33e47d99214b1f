"""Running a coroutine to the end from synchronous code, also where an event loop is already running."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to the end and return its result.

    From plain synchronous code it gets its own event loop (`asyncio.run`). Inside a running loop (a Jupyter
    cell, an async web app) that loop cannot be entered again, so the coroutine runs on a new loop in a
    helper thread while this call waits, as any blocking call would. Ctrl+C while waiting cancels the
    coroutine there and waits for it to wind down (what it finished is already stored), then goes on as a
    KeyboardInterrupt."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    return _run_in_helper_thread(coroutine)


def _run_in_helper_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    running: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = (
        concurrent.futures.Future()
    )
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        running.set_result((asyncio.get_running_loop(), task))
        return await coroutine

    def target() -> None:
        try:
            outcome.set_result(asyncio.run(main()))
        except BaseException as exc:  # handed to the waiting caller, whatever it is
            outcome.set_exception(exc)

    threading.Thread(target=target, name="datafast-run", daemon=True).start()
    # Waiting on the future, not with Thread.join: a join interrupted by Ctrl+C marks the thread as ended
    # although it still runs (CPython 3.11), and the wind-down below must really wait.
    try:
        with _ctrl_c_raises():
            while not outcome.done():
                concurrent.futures.wait([outcome], timeout=0.2)  # short waits, so Ctrl+C gets through
    except KeyboardInterrupt:
        loop, task = running.result()
        loop.call_soon_threadsafe(task.cancel)
        concurrent.futures.wait([outcome])
        raise
    return outcome.result()


@contextlib.contextmanager
def _ctrl_c_raises() -> Iterator[None]:
    """Ctrl+C raises KeyboardInterrupt here for a while. The running loop may have its own handler: under
    `asyncio.run` the first Ctrl+C only cancels its main task, which is blocked in this call until it returns."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is not None:  # None: a handler not set from Python, which cannot be put back
            signal.signal(signal.SIGINT, previous)
