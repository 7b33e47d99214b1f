"""One run of a dataset: its run folder and store, resuming, the output, progress, the summary and the report.

This is where a dataset type's description (asks, answers, records) meets the engine. The run folder sits
next to the output file (`sentiment.jsonl` → `sentiment.datafast/`) and holds the store (`store.sqlite`), the
last run's `summary.json`, and the report of the output (`report.json` and its PNG plots). Records the
cleaning rules drop go to `sentiment.dropped.jsonl` (see `datafast.engine.sink`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from datafast._files import write_atomically
from datafast.engine.batch_book import BatchBook
from datafast.engine.batches import BatchCollector, BatchOptions
from datafast.engine.folder import RunLock, clear_folder, run_folder
from datafast.engine.judging import RecordJudge, keep_rules
from datafast.engine.ledger import RunStats
from datafast.engine.ownership import V0036_RECORDS, check_output_path, open_run_store
from datafast.engine.preview import PreviewPicks
from datafast.engine.progress import RunProgress
from datafast.engine.retry import RetryPolicy
from datafast.engine.runner import Scheduler, Stream
from datafast.engine.shard_stores import absorb
from datafast.engine.sink import RecordSink
from datafast.engine.source import Ask, ChainSource, FailedRequest
from datafast.engine.store import RunStore
from datafast.engine.work import CHARS_PER_TOKEN, WorkItem, prompt_chars, record_uuid, work_key
from datafast.errors import ConfigError, OutputWriteError, ProviderError
from datafast.llms.base import Completion, LLMProvider
from datafast.llms.failures import CallFailure
from datafast.outputs import JsonlFile
from datafast.quality.cleaner import RESAMPLE_REASONS
from datafast.quality.validators import RecordValidators
from datafast.schema.data_rows import is_v0036_line

if TYPE_CHECKING:
    from datafast.schema.data_rows import DatasetRow

log = logging.getLogger("datafast")

# Chains a batch-mode run carries at once (each waits for its batch in a coroutine of its own).
_MOST_CHAINS_AT_ONCE = 100_000



@dataclass(frozen=True)
class _Link:
    """A work item's place in its chain: the dataset type's ask, the chain's role → provider binding,
    whether an earlier step of the chain came before it, and (with `keep_reasoning`) the reasoning traces
    of the chain's answers so far, by step."""

    ask: Ask
    binding: dict[str, LLMProvider]
    follow_up: bool
    reasoning: Mapping[str, str | None] = field(default_factory=dict)


def work_item(
    ask: Ask, binding: dict[str, LLMProvider], *, follow_up: bool, reasoning: Mapping[str, str | None] | None = None
) -> WorkItem:
    """The engine's item for one ask, sent to the provider its role is bound to."""
    provider = binding.get(ask.role)
    if provider is None:
        raise ConfigError(f"this dataset needs an LLM for the role {ask.role!r}, and none was given")
    chain = f"{ask.origin.draw}:{ask.origin.prompt}" if follow_up else None
    key = work_key(ask.messages, provider, ask.response_model, ask.step, ask.origin.draw, chain)
    link = _Link(ask, binding, follow_up, reasoning or {})
    return WorkItem(key, provider, ask.messages, ask.response_model, ask.step, link)


def judge_item(judge: RecordJudge, record: DatasetRow, link: _Link, *, truncated: bool) -> WorkItem:
    """The judge's item for one record of a chain. Its key names the record too: two records alike are
    judged as two items."""
    ask = judge.ask(record, link.ask.origin, truncated=truncated)
    provider = link.binding.get(ask.role)
    if provider is None:
        raise ConfigError(f"this dataset needs an LLM for the role {ask.role!r} (judge:), and none was given")
    key = work_key(ask.messages, provider, ask.response_model, ask.step, ask.origin.draw, f"judge:{record.uuid}")
    return WorkItem(key, provider, ask.messages, ask.response_model, ask.step, _Link(ask, link.binding, True))


def build_records(
    dataset: ChainSource,
    item: WorkItem,
    fields: list[dict[str, Any]],
    reasoning: Mapping[str, str | None] | None = None,
) -> list[DatasetRow]:
    """Records from one answer: the type's own fields plus what every record carries. Given the chain's
    reasoning traces by step (a run with `keep_reasoning`), each record keeps the one of the step its
    dataset type names for it (`reasoning_step`), by default this answer's."""
    origin = item.context.ask.origin
    common = {
        "request_id": item.key,
        "dataset_type": dataset.config.dataset_type,
        "model_id": item.provider.model_id,
        "language": origin.language,
        "prompt_template": origin.template,
        "placeholders": origin.placeholders,
    }
    if reasoning is not None:
        fields = [{**own, "reasoning": reasoning.get(dataset.reasoning_step(own) or item.step)} for own in fields]
    return [dataset.record_class(**{**common, **own}, uuid=record_uuid(item.key, i)) for i, own in enumerate(fields)]


def load_rows(dataset: ChainSource, model_ids: set[str] | None) -> list[DatasetRow]:
    """The records the output file holds from these models (all of them for None). The file holds one
    config's records only (a changed config is refused), so this is what a run with these providers made
    or resumed, after the Datafast 0.0.36 records of an adopted 0.0.36 output (all of them, whatever their
    model; lines that are not this dataset's records are not)."""
    rows = []
    kind = dataset.config.dataset_type
    for line in JsonlFile(dataset.config.output_file).read():
        if is_v0036_line(line):
            # Another type's 0.0.36 record is not this dataset's (an output holding one is never adopted).
            with contextlib.suppress(ValidationError):
                rows.append(dataset.record_class.model_validate({**line, "dataset_type": kind}))
        elif line.get("dataset_type") == kind and (model_ids is None or line.get("model_id") in model_ids):
            rows.append(dataset.record_class.model_validate(line))
    return rows


class DatasetRun:
    """Runs a dataset with its providers; see the module docstring."""

    def __init__(
        self,
        dataset: ChainSource,
        bindings: list[dict[str, LLMProvider]],
        *,
        show_progress: bool = True,
        retry: RetryPolicy | None = None,
        max_cost: float | None = None,
        overwrite: bool = False,
        batch: bool | BatchOptions = False,
        preview: PreviewPicks | None = None,
    ) -> None:
        if max_cost is not None and not max_cost > 0:
            raise ConfigError(f"max_cost must be a positive amount in USD, got {max_cost!r}")
        self.dataset = dataset
        self.bindings = bindings
        self.providers = list({id(p): p for b in bindings for p in b.values()}.values())
        self.batch_options = batch if isinstance(batch, BatchOptions) else BatchOptions()
        every = batch.every_provider if isinstance(batch, BatchOptions) else batch
        self.batch_providers = [p for p in self.providers if every or p.batch]
        for provider in self.batch_providers:
            if provider.batch_api is None:
                raise ConfigError(f"{provider.name}: {provider.batch_refusal()}")
        self.retry = retry or RetryPolicy()
        self.max_cost = max_cost
        self.overwrite = overwrite
        self.preview = preview
        self.output = Path(dataset.config.output_file)
        self.judge = dataset.record_judge(bindings)
        validators = dataset.config.validators
        self.sink = RecordSink(
            preview.records_file if preview is not None else dataset.config.output_file,
            dataset.cleaning(),
            dataset.quality_fields(),
            dataset.record_class,
            dataset.label_field,
            validators=RecordValidators(validators, dataset.record_class) if validators else None,
            record_judge=self.judge,
        )
        self.folder = run_folder(dataset.config.output_file)
        self.progress = RunProgress(show_progress, type(dataset).__name__)
        self.stats = RunStats()
        self.write_error: OutputWriteError | None = None
        # Every answer the run's chains used, asked now or replayed from the store (a preview's cost).
        self.chain_requests = self.chain_prompt_tokens = self.chain_completion_tokens = 0
        self.chain_cost_usd: float | None = None

    async def execute(self) -> RunStats:
        output = self.output
        check_output_path(output)
        for provider in self.providers:
            warning = provider.language_warning(list(self.dataset.config.languages))
            if warning:
                log.warning("%s: %s", provider.name, warning)
        with RunLock(self.folder, output):
            if self.overwrite:
                output.unlink(missing_ok=True)
                self.sink.dropped.path.unlink(missing_ok=True)
                clear_folder(self.folder)
            if self.preview is not None:  # each preview starts its files afresh (its answers stay stored)
                self.sink.output.path.unlink(missing_ok=True)
                self.sink.dropped.path.unlink(missing_ok=True)
            with open_run_store(self.dataset, output, self.folder, self._first_items) as store:
                absorb(store.path)  # what shards of a Ray run answered (`datafast.engine.shard_stores`)
                cleaning = self.dataset.cleaning().model_dump(mode="json")
                cleaning |= keep_rules(self.dataset.config.validators, self.judge)
                written_with = store.get_meta("cleaning")
                # A preview's rules apply to its own records: the output is judged again by the next generate.
                reclean = self.preview is None and written_with is not None and written_with != cleaning
                if reclean and store.get_meta(V0036_RECORDS):
                    # Moving records means rewriting the output, and datafast never rewrites 0.0.36's lines.
                    log.warning(
                        "%s begins with Datafast 0.0.36 records, which datafast never rewrites: the changed "
                        "cleaning rules apply to new records only",
                        output,
                    )
                    reclean = False
                self.sink.scan(reclean=reclean)
                with self.sink:
                    if self.preview is None:
                        store.set_meta("cleaning", cleaning)
                    stats = await self._schedule(store)
        if self.write_error is not None:
            raise self.write_error
        if self.preview is None:
            self.dataset.report = self._report()
        self._raise_if_nothing_worked(stats, self.total)
        return stats

    def _first_items(self) -> Iterator[tuple[WorkItem, Ask]]:
        for binding in self.bindings:
            for ask in self.dataset.first_asks():
                yield work_item(ask, binding, follow_up=False), ask

    @property
    def total(self) -> int:
        if self.preview is not None:  # its chains' share of the requests
            chains = max(sum(1 for _ in self.dataset.first_asks()), 1)
            return max(self.dataset.num_requests() * self.preview.chains // chains, self.preview.chains)
        judged = self.judge.requests_per_binding if self.judge is not None else 0
        return (self.dataset.num_requests() + judged) * len(self.bindings)

    def answered(self, completion: Completion) -> None:
        """Count an answer one of the run's chains used (asked now, or replayed from the store)."""
        self.chain_requests += 1
        self.chain_prompt_tokens += completion.prompt_tokens
        self.chain_completion_tokens += completion.completion_tokens
        if completion.cost_usd is not None:
            self.chain_cost_usd = (self.chain_cost_usd or 0.0) + completion.cost_usd

    async def _schedule(self, store: RunStore) -> RunStats:
        """Run the engine over the dataset's chains; the summary is written however it ends."""
        await self._check_prompt_sizes()
        streams = [self._stream(index, binding) for index, binding in enumerate(self.bindings)]
        stats = self.stats
        book = BatchBook.of(store, create=bool(self.batch_providers))
        batches = None
        if book is not None:
            batches = BatchCollector(book, stats, self.batch_providers, self.batch_options, self.max_cost)
        self.progress.start(self.total, stats)
        finished = False
        try:
            scheduler = Scheduler(
                streams,
                _Observer(self),
                store,
                done=store.done_keys(),
                policy=self.retry,
                max_cost=self.max_cost,
                stats=stats,
                batches=batches,
            )
            await scheduler.run()
            self.write_error = scheduler.error
            finished = True
        finally:
            self.progress.stop()
            self._write_summary(stats, store, book, interrupted=not finished)
            if book is not None:
                book.close()
        return stats

    def _report(self) -> dict[str, Any]:
        """The diversity and quality report of the whole output file (tallied by the sink as it wrote),
        saved (JSON and PNGs) in the run folder."""
        from datafast.quality import save_report

        report = self.sink.report()
        save_report(report, self.folder)
        return report

    def _stream(self, index: int, binding: dict[str, LLMProvider]) -> Stream:
        providers = list({id(p): p for p in binding.values()}.values())
        asks: Iterator[Ask] = self.dataset.first_asks()
        if self.preview is not None:
            picked = self.preview.by_binding.get(index, frozenset())
            asks = (ask for number, ask in enumerate(asks) if number in picked)
        items = (work_item(ask, binding, follow_up=False) for ask in asks)
        if any(p in self.batch_providers for p in providers):
            # Every chain under way at once: a wave of ready requests goes out as one batch.
            return Stream(items, providers, workers=min(self.dataset.num_requests(), _MOST_CHAINS_AT_ONCE))
        return Stream(items, providers)

    async def _check_prompt_sizes(self) -> None:
        """Refuse, before any request, a prompt larger than its model's context window (where LiteLLM knows
        the window): it would be paid for and fail, every time it is asked."""
        windows = {id(p): await p.context_window() for p in self.providers}
        if not any(windows.values()):
            return
        for binding in self.bindings:
            for ask in self.dataset.first_asks():
                provider = binding.get(ask.role)
                window = windows.get(id(provider)) if provider is not None else None
                chars = prompt_chars(ask.messages)
                if provider is not None and window and chars / CHARS_PER_TOKEN > window:
                    start = str(ask.messages[-1].get("content", ""))[:60]
                    raise ConfigError(
                        f"a prompt of {chars:,} characters (about {chars // CHARS_PER_TOKEN:,} tokens) is larger "
                        f"than {provider.name}'s context window of {window:,} tokens; shorten it or its "
                        f"placeholder values (the prompt starts: {start!r})"
                    )

    def _write_summary(
        self, stats: RunStats, store: RunStore, book: BatchBook | None, *, interrupted: bool
    ) -> None:
        summary = {
            "dataset_type": self.dataset.config.dataset_type,
            "output_file": str(self.sink.output.path),
            "interrupted": interrupted,
            "requests_total": self.total,
            "requests_resumed": stats.resumed,
            "records_written": self.sink.kept if not interrupted else None,
            "records_dropped": dict(self.sink.dropped_by_reason) if not interrupted else None,
            "dropped_file": str(self.sink.dropped.path),
            "this_run": stats.to_dict(),
            "whole_run": store.totals(),
            "batch": [p.name for p in self.batch_providers],
            "batches": [
                {
                    "id": row.id,
                    "provider": row.provider,
                    "provider_batch_id": row.remote_id,
                    "status": row.status,
                    "provider_status": row.provider_status,
                    "requests": row.requests,
                    "sent": row.sent,
                    "ended": row.ended,
                }
                for row in (book.all() if book is not None else [])
            ],
        }
        path = self.folder / ("preview-summary.json" if self.preview is not None else "summary.json")
        try:
            write_atomically(path, json.dumps(summary, indent=2).encode(), durable=False)
        except OSError as exc:  # a full disk: the run's own error says so; the summary is not worth a crash
            log.warning("could not write %s: %s", path, exc.strerror or exc)

    def _raise_if_nothing_worked(self, stats: RunStats, total: int) -> None:
        """A clear error when no request worked (or a provider had to be given up); a warning for the
        failures of a run that otherwise worked."""
        if stats.aborted_providers or (stats.failed and not stats.succeeded and not stats.resumed):
            reasons = "; ".join(f"{name}: {msg}" for name, msg in stats.aborted_providers.items())
            first = self.dataset.failures[0].reason if self.dataset.failures else ""
            raise ProviderError(
                f"{stats.failed} of {total} requests failed ({reasons or first}). What succeeded is kept in "
                f"{self.sink.output.path}; run again to retry the rest."
            )
        if stats.failed:
            log.warning(
                "%d of %d requests failed (%s); run the same config again to retry them",
                stats.failed,
                total,
                ", ".join(f"{k}: {v}" for k, v in stats.failures_by_reason.items()),
            )
        if stats.stopped:
            log.warning("run stopped early: %s; run again to continue", stats.stopped)


class _Observer:
    """Turns engine outcomes into records in the JSONL file and failures on the dataset."""

    def __init__(self, run: DatasetRun) -> None:
        self.run = run

    def on_success(self, item: WorkItem, completion: Completion, resumed: bool) -> list[WorkItem]:
        run, link = self.run, item.context
        run.answered(completion)
        if run.judge is not None and run.judge.owns(link.ask):
            return self._on_verdict(item, completion)
        try:
            outcome = run.dataset.on_answer(link.ask, completion.parsed, item.provider.model_id)
            chain = {**link.reasoning, item.step: completion.reasoning} if run.dataset.config.keep_reasoning else None
            records = build_records(run.dataset, item, outcome.records, chain)
            follow = [work_item(ask, link.binding, follow_up=True, reasoning=chain) for ask in outcome.then]
        except ValueError as exc:  # pydantic's ValidationError is one too
            reason = "records did not validate" if isinstance(exc, ValidationError) else "answer rejected"
            self._reject(f"{reason}: {exc}")
        # An answer worth nothing (a small model's date, product code or two words; an empty list) is asked
        # again while asks are left: a sampled model answers differently. The last answer is taken as it is.
        # A later step's records hold text of earlier steps (an MCQ question), which asking again cannot change.
        asks_left = not resumed and not link.follow_up and item.rejections < run.retry.max_rejections
        if asks_left and not records and not follow:
            self._reject("the answer holds no record")
        records = run.sink.missing(records)  # on resume, those a crash or a full disk kept from the output
        if records:
            judged = run.sink.judge(records, truncated=completion.finish_reason == "length")
            flaws = {j.flaw for j in judged}
            if asks_left and flaws <= RESAMPLE_REASONS:
                self._reject(f"no usable record ({', '.join(sorted(map(str, flaws)))})")
            if run.judge is not None:  # the records without a flaw are written once the judge has scored them
                truncated = completion.finish_reason == "length"
                follow += [judge_item(run.judge, j.record, link, truncated=truncated) for j in judged if j.flaw is None]
                judged = [j for j in judged if j.flaw is not None]
            run.sink.write(judged)
        return follow

    def _on_verdict(self, item: WorkItem, completion: Completion) -> list[WorkItem]:
        """Write the record a judge ask scored, with its scores and reason (or drop it under the threshold)."""
        run, ask = self.run, item.context.ask
        assert run.judge is not None
        record = run.judge.judged(ask, completion.parsed)
        if run.sink.missing([record]):
            run.sink.write(run.sink.judge([record], truncated=ask.state.truncated))
        return []

    @staticmethod
    def _reject(why: str) -> NoReturn:
        """Turn the answer down; the scheduler asks again while asks are left."""
        raise CallFailure("invalid_response", why) from None

    def on_failure(self, item: WorkItem, failure: CallFailure) -> None:
        prompt = item.messages[-1].get("content", "") if item.messages else ""
        self.run.dataset.failures.append(
            FailedRequest(item.key, item.provider.model_id, str(prompt), failure.kind, failure.message)
        )
        log.warning("request %s to %s failed: %s", item.key[:12], item.provider.name, failure.message)

    def on_retry(self, item: WorkItem, failure: CallFailure, delay: float) -> None:
        log.debug("retrying %s in %.1fs after %s", item.key[:12], delay, failure.message)
