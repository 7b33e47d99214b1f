"""A run's progress: done/total, rate, ETA, tokens, cost, retries and failures, read from its ledger."""

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

from datafast.engine.ledger import RunStats


class RunProgress:
    """Shows a run's ledger on stderr while the run goes: a live bar on a terminal or in a notebook;
    elsewhere (a log file, CI), where a bar would only be drawn once at the end, a plain line every `every`
    seconds and one at the end. Does nothing when `enabled` is false. The ledger calls `refresh` after each
    change; the bar is redrawn at most every `_MIN_REDRAW` seconds."""

    _MIN_REDRAW = 0.1

    def __init__(self, enabled: bool, description: str, *, console: Console | None = None, every: float = 10.0) -> None:
        self.enabled = enabled
        self.description = description
        self.every = every
        self.total = 0
        self.ledger = RunStats()
        self._console = console
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._lines: Console | None = None
        self._started = 0.0
        self._last_line = 0.0
        self._last_draw = 0.0
        self._printed: tuple[int, int, int, int, int] | None = None

    def start(self, total: int, ledger: RunStats) -> None:
        self.total, self.ledger = total, ledger
        if not self.enabled:
            return
        ledger.listener = self.refresh
        console = self._console or Console(stderr=True)
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
        self._task = self._bar.add_task(self.description, total=total, completed=ledger.done, rate="", extra="")

    def _extra(self) -> str:
        ledger = self.ledger
        # No cost before anything has one: the built-in model and self-hosted ones are free, or not priced.
        extra = f"{ledger.tokens:,} tok"
        if ledger.cached_tokens and ledger.prompt_tokens:
            extra += f" ({ledger.cached_tokens / ledger.prompt_tokens:.0%} of prompt cached)"
        extra += f" ${ledger.cost_usd:.4f}" if ledger.cost_usd else ""
        if ledger.resumed:
            extra += f" resumed {ledger.resumed:,}"
        if ledger.retries:
            extra += f" retries {ledger.retries}"
        if ledger.asked_again:
            extra += f" asked again {ledger.asked_again}"
        if ledger.failed:
            extra += f" [red]failed {ledger.failed}[/red]"
        for name, why in ledger.waiting.items():
            extra += f" [yellow]{escape(name)}: {escape(why)}[/yellow]"
        return extra

    def _rate(self, now: float) -> float:
        """Requests answered this run per second (resumed ones came from the store, not the provider)."""
        sent = self.ledger.succeeded + self.ledger.failed
        return sent / (now - self._started) if sent and now > self._started else 0.0

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._bar is not None and self._task is not None:
            if force or now - self._last_draw >= self._MIN_REDRAW:
                self._last_draw = now
                rate = self._rate(now)
                self._bar.update(
                    self._task,
                    completed=self.ledger.done,
                    rate=format_rate(rate) if rate else "",
                    extra=self._extra(),
                )
        elif self._lines is not None and now - self._last_line >= self.every:
            self._print_line()

    def _print_line(self) -> None:
        assert self._lines is not None
        now = time.monotonic()
        self._last_line = now
        self._printed = self._state()
        done = self.ledger.done
        rate = self._rate(now)
        speed = f", {format_rate(rate)}" if rate else ""
        eta = f", eta {_duration((self.total - done) / rate)}" if rate and done < self.total else ""
        line = f"{escape(self.description)}: {done:,}/{self.total:,} requests{speed}{eta}, "
        self._lines.print(line + self._extra(), highlight=False, soft_wrap=True)

    def stop(self) -> None:
        if self._bar is not None:
            self.refresh(force=True)
            self._bar.stop()
            self._bar = None
        if self._lines is not None:
            if self._state() != self._printed:  # the last periodic line may already say it all
                self._print_line()
            self._lines = None
        self.ledger.listener = None

    def _state(self) -> tuple[int, int, int, int, int]:
        ledger = self.ledger
        return (ledger.done, ledger.tokens, ledger.retries, ledger.asked_again, ledger.failed)


def format_rate(per_second: float) -> str:
    """A request rate with two or three significant digits, per minute below one a second: "12 req/s",
    "2.5 req/s", "18 req/min", "0.75 req/min" (a slow local model is not "0.0 req/s")."""
    if per_second >= 9.95:
        return f"{per_second:.0f} req/s"
    if per_second >= 0.995:
        return f"{per_second:.1f} req/s"
    per_minute = per_second * 60
    return f"{per_minute:.0f} req/min" if per_minute >= 9.95 else f"{per_minute:.2g} req/min"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and the noun agreeing with it: "1 retry", "2 retries", "1,204 unusable answers"."""
    many = nouns or (noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s")
    return f"{count:,} {noun if count == 1 else many}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
