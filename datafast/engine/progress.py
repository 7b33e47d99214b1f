"""A live progress line for a run: done/total, rate, ETA, tokens, cost, retries and failures."""

from __future__ import annotations

from rich.console import Console
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
    """Shows progress on stderr while a run goes; does nothing when `enabled` is false."""

    def __init__(self, enabled: bool, description: str) -> None:
        self.enabled = enabled
        self.description = description
        self.tokens = 0
        self.cost = 0.0
        self.retries = 0
        self.failures = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def start(self, total: int, already_done: int) -> None:
        if not self.enabled:
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[extra]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            self.description, total=total, completed=already_done, rate="", extra=""
        )

    def advance(self, tokens: int = 0, cost: float = 0.0, failed: bool = False, resumed: bool = False) -> None:
        """One request finished (or was found finished by an earlier run: `resumed`)."""
        self.tokens += tokens
        self.cost += cost
        self.failures += int(failed)
        self._refresh(advance=1)

    def retry(self) -> None:
        self.retries += 1
        self._refresh(advance=0)

    def _refresh(self, advance: int) -> None:
        if self._progress is None or self._task is None:
            return
        task = self._progress.tasks[0]
        speed = task.finished_speed or task.speed
        extra = f"{self.tokens:,} tok ${self.cost:.4f}"
        if self.retries:
            extra += f" retries {self.retries}"
        if self.failures:
            extra += f" [red]failed {self.failures}[/red]"
        self._progress.update(
            self._task, advance=advance, rate=f"{speed:.1f} req/s" if speed else "", extra=extra
        )

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
