"""The Ray backend: a run's work split into shards, each run by the ordinary engine in a Ray task.

`generate(..., backend="ray")` (or `RayBackend(...)`) runs here instead of in one process. The driver (the process
that called `generate`) holds the run's lock and its main store, hands each shard the answers of the run the main
store holds that the shard's own store does not (`datafast.engine.shard_stores.seed`), starts one Ray task per shard
(`datafast.engine.shards`: a `DatasetRun` over the shard's first asks, with its share of the providers' endpoints and
limits), shows their progress as one, and when they are done copies their answers into the main store and merges
their outputs into the run's output (`datafast.engine.shard_merge`), with the report and `summary.json`.

A shard whose worker dies is run again by Ray (`max_retries`) and resumes from its own store. `ray` itself is
imported only here, and only when a run asks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast

from datafast._files import write_atomically
from datafast.engine.backends import RayBackend, import_ray
from datafast.engine.batches import BatchOptions
from datafast.engine.folder import RunLock, clear_folder, run_folder
from datafast.engine.ledger import Counts, RunStats
from datafast.engine.ownership import V0036_RECORDS, check_output_path, open_run_store
from datafast.engine.progress import RunProgress
from datafast.engine.retry import RetryPolicy
from datafast.engine.run import DatasetRun, work_item
from datafast.engine.shard_merge import MergeResult, merge_shards
from datafast.engine.shard_stores import absorb, seed, whole_run_totals
from datafast.engine.shards import (
    ShardJob,
    ShardLayout,
    ShardSource,
    check_portable,
    shard_bindings,
    shard_stores,
)
from datafast.engine.source import Ask, ChainSource, FailedRequest
from datafast.engine.store import RunStore
from datafast.engine.work import WorkItem
from datafast.errors import ConfigError, DatafastError, OutputWriteError, ProviderError
from datafast.llms.base import LLMProvider
from datafast.outputs import dropped_path

log = logging.getLogger("datafast")

# The main store's note of how many shards the run is split into (kept for its next runs).
SHARDS_META = "ray_shards"
# How often a shard posts its ledger for the driver's progress line, and the driver reads them.
_POST_EVERY = 0.5
_READ_EVERY = 0.25


@dataclass
class ShardOutcome:
    """What a shard's task gives back: its ledger, its failures, the records it kept, and the error it ended on."""

    index: int
    stats: RunStats
    failures: list[FailedRequest]
    records: int
    error: DatafastError | None = None
    worker: str = ""


class RayRun:
    """A run of a dataset on Ray; the counterpart of `DatasetRun` (see the module docstring)."""

    def __init__(
        self,
        dataset: ChainSource,
        bindings: list[dict[str, LLMProvider]],
        backend: RayBackend,
        *,
        show_progress: bool = True,
        retry: RetryPolicy | None = None,
        max_cost: float | None = None,
        overwrite: bool = False,
        batch: bool | BatchOptions = False,
    ) -> None:
        if max_cost is not None and not max_cost > 0:
            raise ConfigError(f"max_cost must be a positive amount in USD, got {max_cost!r}")
        self.dataset = dataset
        self.bindings = bindings
        self.backend = backend
        self.providers = list({id(p): p for b in bindings for p in b.values()}.values())
        every = batch.every_provider if isinstance(batch, BatchOptions) else batch
        if every or any(p.batch for p in self.providers):
            raise ConfigError(
                "batch mode sends the requests to the provider's batch API, where a Ray cluster adds nothing: run it "
                "on the local backend (leave backend out)"
            )
        check_portable(self.providers)
        self.show_progress = show_progress
        self.retry = retry or RetryPolicy()
        self.max_cost = max_cost
        self.overwrite = overwrite
        self.output = Path(dataset.config.output_file).resolve()
        self.folder = run_folder(self.output)
        self.stats = RunStats()

    @property
    def total(self) -> int:
        return self.dataset.num_requests() * len(self.bindings)

    async def execute(self) -> RunStats:
        """Run on Ray from a helper thread (the driver waits on Ray); cancelled (Ctrl-C), it stops the shards."""
        stop = threading.Event()
        task = asyncio.ensure_future(asyncio.to_thread(self._run, stop))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            stop.set()
            with contextlib.suppress(BaseException):
                await task
            raise

    # -- the driver -------------------------------------------------------------------------------------------

    def _run(self, stop: threading.Event) -> RunStats:
        check_output_path(self.output)
        ray = import_ray()
        for provider in self.providers:  # the shards' own logs stay in their workers
            warning = provider.language_warning(list(self.dataset.config.languages))
            if warning:
                log.warning("%s: %s", provider.name, warning)
        started_ray = _connect(ray, self.backend.address)
        try:
            with RunLock(self.folder, self.output):
                if self.overwrite:
                    self.output.unlink(missing_ok=True)
                    dropped_path(self.output).unlink(missing_ok=True)
                    clear_folder(self.folder)
                first_total = sum(1 for _ in self.dataset.first_asks())
                with open_run_store(self.dataset, self.output, self.folder, self._first_items) as store:
                    if store.get_meta(V0036_RECORDS):
                        raise ConfigError(
                            f"{self.output} begins with Datafast 0.0.36 records, which datafast never rewrites and the "
                            "Ray backend would (it merges the output from its shards): run it on the local backend"
                        )
                    layout = ShardLayout(self.folder, self._shard_count(ray, store, first_total))
                    store.set_meta(SHARDS_META, layout.count)
                # The main store is closed (so checkpointed whole) before other processes read from it.
                self._prepare(layout)
                return self._run_shards(ray, layout, first_total, stop)
        finally:
            if started_ray:
                ray.shutdown()

    def _first_items(self) -> Iterator[tuple[WorkItem, Ask]]:
        for binding in self.bindings:
            for ask in self.dataset.first_asks():
                yield work_item(ask, binding, follow_up=False), ask

    def _shard_count(self, ray: Any, store: RunStore, first_total: int) -> int:
        count = self.backend.shards or store.get_meta(SHARDS_META)
        if not count:
            count = max(1, int(ray.cluster_resources().get("CPU", 1)))
            endpoints = max(len(p.api_bases) for p in self.providers)
            if endpoints > 1 and count % endpoints and endpoints % count:
                count = endpoints
        return max(1, min(int(count), first_total))

    def _prepare(self, layout: ShardLayout) -> None:
        """Shards of another layout (an earlier run split otherwise) hand their answers to the main store and go;
        then every shard gets the main store's answers it does not hold."""
        main = self.folder / "store.sqlite"
        mine = set(layout.stores())
        others = [s for s in shard_stores(self.folder) if s not in mine]
        if others:
            absorb(main, others)
            for store in others:
                output = store.parent.with_suffix(".jsonl")
                shutil.rmtree(store.parent, ignore_errors=True)
                output.unlink(missing_ok=True)
                dropped_path(output).unlink(missing_ok=True)
        layout.folder.mkdir(parents=True, exist_ok=True)
        handed = seed(main, layout.stores(), lambda keys: self._owners(keys, layout.count))
        if handed:
            log.info("%d answers of the run's store handed to its %d shards", handed, layout.count)

    def _owners(self, keys: set[str], count: int) -> dict[str, int]:
        owners = {}
        for binding in self.bindings:
            for i, ask in enumerate(self.dataset.first_asks()):
                key = work_item(ask, binding, follow_up=False).key
                if key in keys:
                    owners[key] = i % count
        return owners

    def _run_shards(self, ray: Any, layout: ShardLayout, first_total: int, stop: threading.Event) -> RunStats:
        count = layout.count
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        board = ray.remote(_Board).options(num_cpus=0).remote()
        task = ray.remote(run_shard).options(
            num_cpus=min(1.0, cpus / count), max_retries=self.backend.max_retries, retry_exceptions=False
        )
        options: dict[str, Any] = {"retry": self.retry}
        if self.max_cost is not None:
            options["max_cost"] = self.max_cost / count
        jobs = [
            ShardJob(
                self.dataset, shard_bindings(self.bindings, k, count), k, count, layout.output(k), first_total, options
            )
            for k in range(count)
        ]
        progress = RunProgress(self.show_progress, type(self.dataset).__name__)
        progress.start(self.total, self.stats)
        started = time.monotonic()
        refs = [task.remote(job, board) for job in jobs]
        outcomes: list[ShardOutcome] = []
        finished = False
        try:
            pending = list(refs)
            while pending:
                _, pending = ray.wait(pending, num_returns=len(pending), timeout=_READ_EVERY)
                self._show(ray.get(board.read.remote()))
                if stop.is_set():
                    for ref in pending:
                        ray.cancel(ref, force=True)
                    raise _Stopped
            outcomes = ray.get(refs)
            finished = True
        finally:
            progress.stop()
            if not finished:
                self._write_summary(layout, [], None, interrupted=True)
        self.stats = combine([o.stats for o in outcomes])
        self.stats.wall_seconds = time.monotonic() - started
        for outcome in outcomes:
            self.dataset.failures.extend(outcome.failures)
        errors = [o.error for o in outcomes if o.error is not None]
        write_errors = [e for e in errors if isinstance(e, OutputWriteError)]
        if write_errors:
            raise write_errors[0]
        main = self.folder / "store.sqlite"
        absorb(main, layout.stores())
        merged = merge_shards(self.output, layout, self.dataset.cleaning(), self.dataset.quality_fields())
        self._write_summary(layout, outcomes, merged, interrupted=False)
        from datafast.quality import save_report

        save_report(merged.report, self.folder)
        self.dataset.report = merged.report
        self._raise_if_nothing_worked(errors, count)
        return self.stats

    def _show(self, posted: dict[int, RunStats]) -> None:
        """The shards' ledgers, as posted so far, summed into the run's (which the progress line reads)."""
        combined = combine(list(posted.values()))
        for f in fields(RunStats):
            if f.name not in ("listener", "wall_seconds"):
                setattr(self.stats, f.name, getattr(combined, f.name))
        if self.stats.listener is not None:
            self.stats.listener()

    def _write_summary(
        self, layout: ShardLayout, outcomes: list[ShardOutcome], merged: MergeResult | None, *, interrupted: bool
    ) -> None:
        main = self.folder / "store.sqlite"
        whole_run = whole_run_totals(main) if main.exists() else None
        shards = []
        for outcome in outcomes:
            shard_store = layout.store(outcome.index)
            with RunStore(shard_store) as store:
                totals = store.totals()
            shards.append(
                {
                    "shard": outcome.index,
                    "output_file": str(layout.output(outcome.index)),
                    "worker": outcome.worker,
                    "records_written": outcome.records,
                    "error": str(outcome.error) if outcome.error else None,
                    "this_run": outcome.stats.to_dict(),
                    "whole_run": totals,
                }
            )
        summary = {
            "dataset_type": self.dataset.config.dataset_type,
            "output_file": str(self.output),
            "backend": "ray",
            "interrupted": interrupted,
            "requests_total": self.total,
            "requests_resumed": self.stats.resumed,
            "records_written": merged.records if merged else None,
            # The whole dropped file's, by reason (the local backend's count this run's drops).
            "records_dropped": dict(merged.dropped_by_reason) if merged else None,
            "duplicates_across_shards": dict(merged.across_shards) if merged else None,
            "records_kept_from_output": merged.kept_from_output if merged else None,
            "dropped_file": str(dropped_path(self.output)),
            "this_run": self.stats.to_dict(),
            "whole_run": whole_run,
            "shard_count": layout.count,
            "shards": shards,
            "batch": [],
            "batches": [],
        }
        try:
            write_atomically(self.folder / "summary.json", json.dumps(summary, indent=2).encode(), durable=False)
        except OSError as exc:
            log.warning("could not write %s: %s", self.folder / "summary.json", exc.strerror or exc)

    def _raise_if_nothing_worked(self, errors: list[DatafastError], shards: int) -> None:
        stats = self.stats
        if errors and not stats.succeeded and not stats.resumed:
            raise errors[0]
        if stats.aborted_providers or (stats.failed and not stats.succeeded and not stats.resumed):
            reasons = "; ".join(f"{name}: {msg}" for name, msg in stats.aborted_providers.items())
            first = self.dataset.failures[0].reason if self.dataset.failures else ""
            raise ProviderError(
                f"{stats.failed} of {self.total} requests failed ({reasons or first}). What succeeded is kept in "
                f"{self.output}; run again to retry the rest."
            )
        if errors:
            log.warning("%d of %d shards stopped with an error: %s", len(errors), shards, errors[0])
        if stats.failed:
            log.warning(
                "%d of %d requests failed (%s); run the same config again to retry them",
                stats.failed,
                self.total,
                ", ".join(f"{k}: {v}" for k, v in stats.failures_by_reason.items()),
            )
        if stats.stopped:
            log.warning("run stopped early: %s; run again to continue", stats.stopped)


class _Stopped(Exception):
    """The run was cancelled (Ctrl-C) while its shards ran."""


def _connect(ray: Any, address: str | None) -> bool:
    """Connect to the cluster; True when this call started a local one (stopped again after the run)."""
    if ray.is_initialized():
        return False
    # Quiet: the shards' logs stay in their workers' files, and a cluster started here has no dashboard.
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        quiet["include_dashboard"] = False
    ray.init(address=address, **quiet)
    return address is None


def combine(parts: list[RunStats]) -> RunStats:
    """The ledgers of several shards as one (wall time: the longest)."""
    total = RunStats()
    for part in parts:
        _add(total, part)
        for name, own in part.providers.items():
            stats = total.provider(name)
            _add(stats, own)
            ranges = [r for r in (stats.lowest_concurrency, own.lowest_concurrency) if r is not None]
            stats.lowest_concurrency = min(ranges) if ranges else None
            # Shards on different endpoints run side by side: their concurrencies add up.
            stats.highest_concurrency = (stats.highest_concurrency or 0) + (own.highest_concurrency or 0) or None
            stats.learned_rpm = max(stats.learned_rpm or 0, own.learned_rpm or 0) or None
            stats.learned_tpm = max(stats.learned_tpm or 0, own.learned_tpm or 0) or None
        total.aborted_providers.update(part.aborted_providers)
        total.waiting.update(part.waiting)
        total.stopped = total.stopped or part.stopped
        total.wall_seconds = max(total.wall_seconds, part.wall_seconds)
    return total


def _add(total: Counts, part: Counts) -> None:
    for f in fields(Counts):
        if f.name == "failures_by_reason":
            total.failures_by_reason.update(part.failures_by_reason)
        else:
            setattr(total, f.name, getattr(total, f.name) + getattr(part, f.name))


# -- in the Ray workers ---------------------------------------------------------------------------------------


class _Board:
    """A Ray actor the shards post their ledgers to, and the driver reads them from."""

    def __init__(self) -> None:
        self.posted: dict[int, RunStats] = {}

    def post(self, index: int, stats: RunStats) -> None:
        self.posted[index] = stats

    def read(self) -> dict[int, RunStats]:
        return self.posted


class _BoardProgress(RunProgress):
    """A shard's progress: its ledger posted to the board at most every `_POST_EVERY` seconds, and at the end."""

    def __init__(self, board: Any, index: int) -> None:
        super().__init__(False, f"shard {index}")
        self.board = board
        self.index = index
        self._posted = 0.0

    def start(self, total: int, ledger: RunStats) -> None:
        self.total, self.ledger = total, ledger
        ledger.listener = self.refresh
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._posted >= _POST_EVERY:
            self._posted = now
            self.board.post.remote(self.index, dataclasses.replace(self.ledger, listener=None))

    def stop(self) -> None:
        self.refresh(force=True)
        self.ledger.listener = None


def run_shard(job: ShardJob, board: Any) -> ShardOutcome:
    """One shard's run, in a Ray worker: the ordinary engine over the shard's part, with its own store and output."""
    import os
    import socket

    source = ShardSource(job.dataset, job.index, job.count, job.output, job.first_asks_total)
    # The record class and label field are the dataset's, held by the shard's instance rather than its class.
    run = DatasetRun(cast("ChainSource", source), job.bindings, show_progress=False, **job.options)
    run.progress = _BoardProgress(board, job.index)
    error: DatafastError | None = None
    try:
        asyncio.run(run.execute())
    except DatafastError as exc:
        error = exc
    stats = dataclasses.replace(run.stats, listener=None)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    return ShardOutcome(job.index, stats, source.failures, run.sink.kept, error, worker)
