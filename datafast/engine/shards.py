"""A run cut into shards, for backends that run the engine in several processes (`datafast.engine.ray_backend`).

Shard k of n takes the dataset's first asks whose index i has i % n == k, with every chain that follows them,
so the split is the same on every run and a shard resumes from what it stored. Each shard is an ordinary run
of the engine (`DatasetRun`) with an output of its own in the run folder (`x.datafast/shards/03-of-08.jsonl`,
its run folder beside it with its own store and lock). Its providers are copies of the run's, each given a
share of their endpoints and limits (`shard_provider`), so that the shards together stay within what one
process would send.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datafast.engine.source import Ask, ChainSource, FailedRequest, Outcome
from datafast.errors import ConfigError
from datafast.llms.base import LLMProvider
from datafast.outputs import dropped_path
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.config import DatasetConfig
from datafast.schema.data_rows import DatasetRow

SHARDS_FOLDER = "shards"


@dataclass(frozen=True)
class ShardLayout:
    """Where the shards of a run split `count` ways keep their files, under the run folder."""

    run_folder: Path
    count: int

    @property
    def folder(self) -> Path:
        return self.run_folder / SHARDS_FOLDER

    def output(self, index: int) -> Path:
        width = max(2, len(str(self.count)))
        return self.folder / f"{index:0{width}d}-of-{self.count:0{width}d}.jsonl"

    def dropped(self, index: int) -> Path:
        return dropped_path(self.output(index))

    def store(self, index: int) -> Path:
        output = self.output(index)
        return output.with_name(output.stem + ".datafast") / "store.sqlite"

    def outputs(self) -> list[Path]:
        return [self.output(k) for k in range(self.count)]

    def stores(self) -> list[Path]:
        return [self.store(k) for k in range(self.count)]


def shard_stores(run_folder: Path) -> list[Path]:
    """The stores of every shard in a run folder, of whatever layout (an earlier one may be left)."""
    folder = run_folder / SHARDS_FOLDER
    return sorted(folder.glob("*-of-*.datafast/store.sqlite")) if folder.is_dir() else []


def in_shard(index: int, shard: int, count: int) -> bool:
    """Whether the first ask numbered `index` belongs to shard `shard` of `count`."""
    return index % count == shard


class ShardSource:
    """The part of a dataset that one shard runs: what `DatasetRun` needs of a dataset type (a `ChainSource`),
    over the first asks of this shard only, writing to the shard's own output."""

    def __init__(self, dataset: ChainSource, index: int, count: int, output: Path, first_asks_total: int) -> None:
        self.dataset = dataset
        self.index = index
        self.count = count
        self.config: DatasetConfig = dataset.config.model_copy(update={"output_file": str(output)})
        self.record_class: type[DatasetRow] = dataset.record_class
        self.label_field: str | None = dataset.label_field
        self.failures: list[FailedRequest] = []
        self.report: dict[str, Any] | None = None
        self._first_asks_total = first_asks_total

    def __getattr__(self, name: str) -> Any:
        """Whatever else a run asks of the dataset type is the dataset's own."""
        if name == "dataset":  # not set yet (being unpickled)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def first_asks(self) -> Iterator[Ask]:
        for i, ask in enumerate(self.dataset.first_asks()):
            if in_shard(i, self.index, self.count):
                yield ask

    def on_answer(self, ask: Ask, answer: Any, model_id: str) -> Outcome:
        return self.dataset.on_answer(ask, answer, model_id)

    def num_requests(self) -> int:
        """This shard's share of the run's requests (exact for single-step types, in proportion for chains)."""
        total = self._first_asks_total
        if total == 0:
            return 0
        mine = len(range(self.index, total, self.count))
        return round(self.dataset.num_requests() * mine / total)

    def quality_fields(self) -> tuple[str, ...]:
        return self.dataset.quality_fields()

    def cleaning(self) -> CleaningConfig:
        return self.dataset.cleaning()


@dataclass(frozen=True)
class EndpointShare:
    """The endpoints (`api_base`s) a shard sends one provider's requests to, and its share of each one's limits:
    `rank` of `sharers` shards that use the same endpoints."""

    api_bases: list[str]
    rank: int
    sharers: int


def endpoint_share(api_bases: list[str], shard: int, count: int) -> EndpointShare:
    """Endpoints go to shards round-robin. With at least as many endpoints as shards, each shard has endpoints of
    its own, with their whole limits; with fewer, the shards that share an endpoint split its limits."""
    m = len(api_bases)
    if m == 0:  # the provider's own default URL: every shard shares it
        return EndpointShare([], shard, count)
    if count <= m:
        return EndpointShare([b for j, b in enumerate(api_bases) if j % count == shard], 0, 1)
    j = shard % m
    return EndpointShare([api_bases[j]], shard // m, len(range(j, count, m)))


def split_limit(limit: int, rank: int, sharers: int) -> int:
    """Sharer `rank`'s part of a limit split `sharers` ways: the parts add up to the limit (each at least 1, so
    a limit smaller than the number of sharers is exceeded by that much)."""
    return max(1, limit // sharers + (1 if rank < limit % sharers else 0))


def shard_provider(provider: LLMProvider, shard: int, count: int) -> LLMProvider:
    """A copy of `provider` for one shard: its endpoints and its part of their limits (`max_concurrency`,
    `rpm_limit`, `tpm_limit`; where `max_concurrency` was not given, the starting concurrency, which then
    adapts on its own). The model and parameters, and so the work keys and records, are the same."""
    share = endpoint_share(provider.api_bases, shard, count)
    part = copy.copy(provider)
    if share.api_bases:
        part.api_bases = share.api_bases
        part.api_base = share.api_bases[0]
    part.max_concurrency = split_limit(provider.max_concurrency, share.rank, share.sharers)
    if provider.rpm_limit:
        part.rpm_limit = split_limit(provider.rpm_limit, share.rank, share.sharers)
    if provider.tpm_limit:
        part.tpm_limit = split_limit(provider.tpm_limit, share.rank, share.sharers)
    return part


def shard_bindings(bindings: list[dict[str, LLMProvider]], shard: int, count: int) -> list[dict[str, LLMProvider]]:
    """The run's role → provider maps with each provider replaced by its copy for this shard (one copy per
    provider, however many roles and bindings use it)."""
    copies: dict[int, LLMProvider] = {}
    for binding in bindings:
        for provider in binding.values():
            if id(provider) not in copies:
                copies[id(provider)] = shard_provider(provider, shard, count)
    return [{role: copies[id(p)] for role, p in binding.items()} for binding in bindings]


def check_portable(providers: list[LLMProvider]) -> None:
    """Shards run in other processes, which get the providers pickled: refuse, before anything is sent, one
    that cannot go (the built-in model runs beside the process that started it)."""
    for provider in providers:
        try:
            pickle.dumps(provider)
        except Exception as exc:
            raise ConfigError(
                f"{provider.name} cannot be sent to other processes ({type(exc).__name__}); run it on the local "
                "backend, or serve the model with a server (vLLM, llama.cpp, Ollama) and name its api_base"
            ) from None


@dataclass
class ShardJob:
    """What a shard's process needs to run its part: the dataset, its providers for this shard, the options."""

    dataset: ChainSource
    bindings: list[dict[str, LLMProvider]]
    index: int
    count: int
    output: Path
    first_asks_total: int
    options: dict[str, Any] = field(default_factory=dict)
