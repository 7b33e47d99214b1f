"""What every dataset type shares: expanding its prompts into requests, running them through the engine,
and collecting records. A dataset type only describes its prompts, its response model and how a response
becomes records; concurrency, retries and files live in `datafast.engine` and `datafast.outputs`."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ValidationError

from datafast.engine import RetryPolicy, RunStats, WorkItem, record_uuid, run_work, work_key
from datafast.engine.progress import RunProgress
from datafast.errors import ConfigError, ProviderError
from datafast.expansion import count_combinations, iter_combinations
from datafast.llms.base import Completion, LLMProvider
from datafast.llms.failures import CallFailure
from datafast.outputs import JsonlFile, write_jsonl
from datafast.schema.config import DatasetConfig
from datafast.schema.data_rows import DatasetRow

log = logging.getLogger("datafast")


@dataclass(frozen=True)
class PromptRequest:
    """One rendered prompt, before a provider is chosen: the text, where it came from, and the values the
    dataset type needs to turn the answer into records (`fields`, e.g. the label)."""

    prompt: str
    template: str
    placeholders: dict[str, str]
    language: str
    fields: dict[str, str]
    draw: int


@dataclass(frozen=True)
class MandatoryCombination:
    """Values for one combination of a dataset type's own dimensions (label × language, ...)."""

    placeholders: dict[str, str]
    language: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class FailedRequest:
    """A request given up after its retries, with the reason; its prompt can be retried by a rerun."""

    request_id: str
    model_id: str
    prompt: str
    kind: str
    reason: str


class DatasetBase(ABC):
    """Base of the dataset types. Subclasses implement `mandatory_combinations`, `response_model` and
    `records_from`; they inherit `get_num_expected_rows`, `generate`, `data_rows` and `to_jsonl`."""

    config_class: ClassVar[type[DatasetConfig]]
    record_class: ClassVar[type[DatasetRow]]
    step_name: ClassVar[str] = "generate"

    def __init__(self, config: DatasetConfig) -> None:
        if not isinstance(config, self.config_class):
            raise ConfigError(
                f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.data_rows: list[DatasetRow] = []
        self.failures: list[FailedRequest] = []
        self.stats: RunStats | None = None

    # -- what a dataset type describes ------------------------------------------------------------------

    @abstractmethod
    def mandatory_combinations(self) -> list[MandatoryCombination]:
        """Every combination of the type's own dimensions, with the `{mandatory}` values for each."""

    @abstractmethod
    def response_model(self) -> type[BaseModel]:
        """The Pydantic model the LLM must answer with."""

    @abstractmethod
    def records_from(self, request: PromptRequest, answer: Any) -> list[dict[str, Any]]:
        """The type's own fields (text, label, ...) of each record made from one validated answer."""

    # -- prompts and counts -----------------------------------------------------------------------------

    def prompt_requests(self) -> Iterator[PromptRequest]:
        """Every prompt of the run, in a fixed order, rendered literally."""
        expansion = self.config.expansion
        combinations = self.mandatory_combinations()
        for t, template in enumerate(self.config.templates()):
            optional_values = {name: expansion.placeholders[name] for name in sorted(template.optional)}
            for combo in combinations:
                seed = f"{expansion.seed}:{t}:{sorted(combo.placeholders.items())}"
                draws = iter_combinations(
                    optional_values,
                    combinatorial=expansion.combinatorial,
                    num_samples=expansion.num_random_samples,
                    seed=seed,
                )
                for draw, optional in enumerate(draws):
                    used = {k: v for k, v in combo.placeholders.items() if k in template.mandatory}
                    yield PromptRequest(
                        prompt=template.render(combo.placeholders, optional),
                        template=template.text,
                        placeholders={**used, **optional},
                        language=combo.language,
                        fields=combo.fields,
                        draw=draw,
                    )

    def num_requests_per_provider(self) -> int:
        expansion = self.config.expansion
        n_combos = len(self.mandatory_combinations())
        total = 0
        for template in self.config.templates():
            if expansion.combinatorial:
                total += count_combinations({n: expansion.placeholders[n] for n in template.optional})
            else:
                total += expansion.num_random_samples
        return total * n_combos

    def get_num_expected_rows(self, llms: LLMProvider | Sequence[LLMProvider]) -> int:
        """How many records a complete run makes: requests × samples per request. Known before any spend."""
        providers = _provider_list(llms)
        return self.num_requests_per_provider() * len(providers) * self.config.num_samples_per_prompt

    def language_placeholders(self, code: str) -> dict[str, str]:
        return {"language_code": code, "language_name": self.config.languages[code]}

    # -- running ----------------------------------------------------------------------------------------

    def generate(
        self,
        llms: LLMProvider | Sequence[LLMProvider],
        *,
        show_progress: bool = True,
        retry: RetryPolicy | None = None,
    ) -> Self:
        """Generate the dataset with every provider in `llms`, concurrently. Records are appended to
        `config.output_file` as they arrive; requests whose records the file already holds are not sent
        again, so running the same config twice resumes rather than repeats. `retry` sets how often and
        how patiently failed requests are tried again."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(llms, show_progress=show_progress, retry=retry))
        raise RuntimeError("generate() cannot run inside an event loop (a notebook?): use `await agenerate(...)`")

    async def agenerate(
        self,
        llms: LLMProvider | Sequence[LLMProvider],
        *,
        show_progress: bool = True,
        retry: RetryPolicy | None = None,
    ) -> Self:
        """`generate` for callers already inside an event loop."""
        providers = _provider_list(llms)
        response_model = self.response_model()
        output = JsonlFile(self.config.output_file)
        items_by_provider = [(p, self._work_items(p, response_model)) for p in providers]
        total = self.num_requests_per_provider() * len(providers)
        done_ids = self._resume(output, {item.key for _, items in items_by_provider for item in items})
        progress = RunProgress(show_progress, type(self).__name__)
        observer = _DatasetObserver(self, output, progress)
        streams = [(p, (i for i in items if i.key not in done_ids)) for p, items in items_by_provider]
        with output:
            progress.start(total, len(done_ids))
            try:
                self.stats = await run_work(streams, observer, retry)
            finally:
                progress.stop()
        self._report(total, len(done_ids))
        return self

    def _work_items(self, provider: LLMProvider, response_model: type[BaseModel]) -> list[WorkItem]:
        items = []
        for request in self.prompt_requests():
            messages = [{"role": "user", "content": request.prompt}]
            key = work_key(messages, provider, response_model, self.step_name, request.draw)
            items.append(WorkItem(key, provider, messages, response_model, request))
        return items

    def _resume(self, output: JsonlFile, keys: set[str]) -> set[str]:
        """Load the records a previous run of this config already wrote; return their request ids."""
        output.drop_incomplete_tail()
        done: set[str] = set()
        record_class = self.record_class
        for line in output.read():
            request_id = line.get("request_id")
            if request_id in keys:
                self.data_rows.append(record_class.model_validate(line))
                done.add(request_id)
        if done:
            log.info("resuming: %d requests already done in %s", len(done), output.path)
        return done

    def _report(self, total: int, resumed: int) -> None:
        stats = self.stats or RunStats()
        if stats.aborted_providers or (stats.failed and not stats.succeeded and not resumed):
            reasons = "; ".join(f"{name}: {msg}" for name, msg in stats.aborted_providers.items())
            first = self.failures[0].reason if self.failures else ""
            raise ProviderError(
                f"{stats.failed} of {total} requests failed ({reasons or first}). "
                f"{len(self.data_rows)} records are kept in {self.config.output_file}; rerun to retry the rest."
            )
        if stats.failed:
            log.warning(
                "%d of %d requests failed (%s); rerun the same config to retry them",
                stats.failed,
                total,
                ", ".join(f"{k}: {v}" for k, v in stats.failures_by_reason.items()),
            )

    def to_jsonl(self, filepath: str | Path) -> None:
        """Write `data_rows` to `filepath` (atomically: the file is complete or untouched)."""
        write_jsonl(filepath, self.data_rows)


class _DatasetObserver:
    """Turns engine outcomes into records in the JSONL file and `data_rows`."""

    def __init__(self, dataset: DatasetBase, output: JsonlFile, progress: RunProgress) -> None:
        self.dataset = dataset
        self.output = output
        self.progress = progress

    def on_success(self, item: WorkItem, completion: Completion) -> None:
        request: PromptRequest = item.context
        common = {
            "request_id": item.key,
            "dataset_type": self.dataset.config.dataset_type,  # type: ignore[attr-defined]
            "model_id": item.provider.model_id,
            "language": request.language,
            "prompt_template": request.template,
            "placeholders": request.placeholders,
        }
        try:
            records = [
                self.dataset.record_class(**common, **fields, uuid=record_uuid(item.key, i))
                for i, fields in enumerate(self.dataset.records_from(request, completion.parsed))
            ]
        except ValidationError as exc:
            self.on_failure(item, CallFailure("invalid_response", f"records did not validate: {exc}"))
            return
        self.output.append(records)
        self.dataset.data_rows.extend(records)
        self.progress.advance(completion.prompt_tokens + completion.completion_tokens, completion.cost_usd or 0.0)

    def on_failure(self, item: WorkItem, failure: CallFailure) -> None:
        request: PromptRequest = item.context
        self.dataset.failures.append(
            FailedRequest(item.key, item.provider.model_id, request.prompt, failure.kind, failure.message)
        )
        log.warning("request %s to %s failed: %s", item.key[:12], item.provider.name, failure.message)
        self.progress.advance(failed=True)

    def on_retry(self, item: WorkItem, failure: CallFailure, delay: float) -> None:
        log.debug("retrying %s in %.1fs after %s", item.key[:12], delay, failure.message)
        self.progress.retry()


def _provider_list(llms: LLMProvider | Sequence[LLMProvider]) -> list[LLMProvider]:
    providers = [llms] if isinstance(llms, LLMProvider) else list(llms or [])
    if not providers:
        raise ConfigError("give at least one LLM provider, e.g. generate([OpenAIProvider()])")
    for i, provider in enumerate(providers):
        if not isinstance(provider, LLMProvider):
            raise ConfigError(f"llms[{i}] is a {type(provider).__name__}, not an LLM provider such as OpenAIProvider()")
    seen: dict[tuple[str, ...], int] = {}
    for i, provider in enumerate(providers):
        signature = (*(str(v) for v in provider.generation_params().values()), str(provider.api_base))
        if signature in seen:
            raise ConfigError(
                f"llms[{i}] repeats llms[{seen[signature]}] ({provider.name} with the same parameters); "
                "each provider in a run must differ"
            )
        seen[signature] = i
    return providers
