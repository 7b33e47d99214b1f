"""A run's progress: done/total, rate, ETA, tokens, cost, retries and failures."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RunProgress:
    """Shows progress on stderr while a run goes: a live bar on a terminal or in a notebook; elsewhere (a
    log file, CI), where a bar would only be drawn once at the end, a plain line every `every` seconds and
    one at the end. Does nothing when `enabled` is false."""

    def __init__(self, enabled: bool, description: str, *, console: Console | None = None, every: float = 10.0) -> None:
        self.enabled = enabled
        self.description = description
        self.every = every
        self.total = 0
        self.done = 0
        self.tokens = 0
        self.cost = 0.0
        self.retries = 0
        self.failures = 0
        self.resumed = 0
        self.asked_again = 0
        self._console = console
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._lines: Console | None = None
        self._sent_done = 0  # requests answered in this run, not found done by an earlier one
        self._started = 0.0
        self._last_line = 0.0
        self._printed: tuple[int, int, int, int, int] | None = None

    def start(self, total: int, already_done: int) -> None:
        if not self.enabled:
            return
        console = self._console or Console(stderr=True)
        self.total, self.done = total, already_done
        self._started = self._last_line = time.monotonic()
        if not (console.is_terminal or console.is_jupyter):
            self._lines = console
            return
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[extra]}"),
            console=console,
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=total, completed=already_done, rate="", extra="")

    def advance(self, tokens: int = 0, cost: float = 0.0, failed: bool = False, resumed: bool = False) -> None:
        """One request finished (or was found finished by an earlier run: `resumed`)."""
        self.done += 1
        self._sent_done += int(not resumed)
        self.resumed += int(resumed)
        self.tokens += tokens
        self.cost += cost
        self.failures += int(failed)
        self._refresh(advance=1)

    def spent(self, tokens: int, cost: float) -> None:
        """An answer was paid for but not used (the dataset type rejected it)."""
        self.tokens += tokens
        self.cost += cost
        self._refresh(advance=0)

    def retry(self, asked_again: bool = False) -> None:
        """A request is tried again: after a failure, or (`asked_again`) after an unusable answer."""
        if asked_again:
            self.asked_again += 1
        else:
            self.retries += 1
        self._refresh(advance=0)

    def _extra(self) -> str:
        # No cost before anything has one: the built-in model and self-hosted ones are free, or not priced.
        extra = f"{self.tokens:,} tok" + (f" ${self.cost:.4f}" if self.cost else "")
        if self.resumed:
            extra += f" resumed {self.resumed:,}"
        if self.retries:
            extra += f" retries {self.retries}"
        if self.asked_again:
            extra += f" asked again {self.asked_again}"
        if self.failures:
            extra += f" [red]failed {self.failures}[/red]"
        return extra

    def _refresh(self, advance: int) -> None:
        if self._bar is not None and self._task is not None:
            speed = self._bar.tasks[0].finished_speed or self._bar.tasks[0].speed
            rate = f"{speed:.1f} req/s" if speed else ""
            self._bar.update(self._task, advance=advance, rate=rate, extra=self._extra())
        elif self._lines is not None and time.monotonic() - self._last_line >= self.every:
            self._print_line()

    def _print_line(self) -> None:
        assert self._lines is not None
        now = time.monotonic()
        self._last_line = now
        self._printed = self._state()
        rate = self._sent_done / (now - self._started) if now > self._started else 0.0
        speed = f", {rate:.1f} req/s" if self._sent_done else ""
        eta = f", eta {_duration((self.total - self.done) / rate)}" if rate and self.done < self.total else ""
        line = f"{escape(self.description)}: {self.done:,}/{self.total:,} requests{speed}{eta}, "
        self._lines.print(line + self._extra(), highlight=False, soft_wrap=True)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self._lines is not None:
            if self._state() != self._printed:  # the last periodic line may already say it all
                self._print_line()
            self._lines = None

    def _state(self) -> tuple[int, int, int, int, int]:
        return (self.done, self.tokens, self.retries, self.asked_again, self.failures)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
