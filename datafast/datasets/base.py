"""What every dataset type shares: expanding its prompts into requests and the public `generate` API.

A dataset type only describes what to ask and how an answer becomes records; running the questions
(concurrency, retries, the store, files) lives in `datafast.engine`. A single-step type implements
`mandatory_combinations`, `response_model` and `records_from`. A multi-step type (chat, MCQ, preference)
also overrides `first_asks` and `on_answer`: each answer may produce records and further `Ask`s, which the
engine runs as soon as that answer is in, so every chain (a conversation, a question and its answers)
moves through its steps on its own."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel

from datafast._sync import run_sync
from datafast.datasets.personas import load_personas
from datafast.engine import BatchOptions, RetryPolicy, RunStats
from datafast.engine.backends import RayBackend, ray_backend
from datafast.engine.judging import RecordJudge
from datafast.engine.preview import PreviewResult
from datafast.engine.source import Ask, FailedRequest, MandatoryCombination, Outcome, PromptRequest
from datafast.errors import ConfigError
from datafast.llms.base import LLMProvider
from datafast.outputs import write_jsonl
from datafast.outputs.card import HubCard
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.config import DatasetConfig
from datafast.schema.data_rows import DatasetRow, with_reasoning
from datafast.schema.judging import JudgeCriterion, check_threshold

# What `generate` takes: a provider, several (each runs every chain), or a role → provider mapping for a type
# with roles (preference: {"question": ..., "chosen": ..., "rejected": ..., "judge": ...}).
LLMs = LLMProvider | Sequence[LLMProvider] | Mapping[str, LLMProvider | None] | None


class DatasetBase(ABC):
    """Base of the dataset types. Subclasses implement `mandatory_combinations` and either `response_model`
    and `records_from` (one step) or `first_asks` and `on_answer` (several steps, with `num_requests` and
    `get_num_expected_rows` to match); they inherit `generate`, `data_rows` and `to_jsonl`."""

    config_class: ClassVar[type[DatasetConfig]]
    record_class: ClassVar[type[DatasetRow]]
    step_name: ClassVar[str] = "generate"

    # The LLM roles a chain needs; `generate(llms)` binds "llms" to each provider in turn.
    roles: ClassVar[tuple[str, ...]] = ("llms",)
    # generate()'s keyword for a role where the type has its own (preference's 0.0.36 `question_gen_llm`).
    role_keywords: ClassVar[dict[str, str]] = {}
    # Whether the type writes prose (see `cleaning`); a type whose texts may be numbers or code says False.
    prose: ClassVar[bool] = True
    # The record field holding a class label, for types that have one (split stratification, Hub classes).
    label_field: ClassVar[str | None] = None
    # Output tokens of one record (single-step types) or of one request (multi-step), for `plan`'s estimate.
    output_tokens_per_sample: ClassVar[int] = 200
    output_tokens_per_request: ClassVar[int | None] = None
    # What the Hub's dataset card says of the type.
    hub_card: ClassVar[HubCard] = HubCard()
    # The record judge (`judge:` in a config): the type's own rubric, used when the config gives none; the
    # record fields the judge reads (None: the quality fields and the label); whether it also reads the
    # request the record answers (for a type whose records are only right relative to their prompt).
    judge_rubric: ClassVar[tuple[JudgeCriterion, ...]] = (
        JudgeCriterion(name="quality", description="The record is well written, coherent and useful as training data."),
    )
    judge_fields: ClassVar[tuple[str, ...] | None] = None
    judge_sees_request: ClassVar[bool] = False

    def __init__(self, config: DatasetConfig) -> None:
        if not isinstance(config, self.config_class):
            raise ConfigError(
                f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config
        if config.keep_reasoning:
            self.record_class = with_reasoning(self.record_class)  # type: ignore[misc]
        self._data_rows: list[DatasetRow] | None = None
        self._model_ids: set[str] | None = None
        self.failures: list[FailedRequest] = []
        self.stats: RunStats | None = None
        # The last run's diversity and quality report (`datafast.quality.build_report`).
        self.report: dict[str, Any] | None = None

    # -- what a dataset type describes ------------------------------------------------------------------

    @abstractmethod
    def mandatory_combinations(self) -> list[MandatoryCombination]:
        """Every combination of the type's own dimensions, with the `{mandatory}` values for each."""

    def response_model(self) -> type[BaseModel]:
        """The Pydantic model the LLM must answer with (single-step types)."""
        raise NotImplementedError(f"{type(self).__name__} overrides first_asks instead")

    def records_from(self, request: PromptRequest, answer: Any) -> list[dict[str, Any]]:
        """The type's own fields (text, label, ...) of each record made from one validated answer
        (single-step types)."""
        raise NotImplementedError(f"{type(self).__name__} overrides on_answer instead")

    def first_asks(self) -> Iterator[Ask]:
        """The first question of every chain, lazily. By default one single-step ask per prompt."""
        response_model = self.response_model()
        for request in self.prompt_requests():
            yield Ask(self.step_name, [{"role": "user", "content": request.prompt}], response_model, request)

    def quality_fields(self) -> tuple[str, ...]:
        """The record fields whose text the cleaning rules and the report look at."""
        return self.quality_fields_of(self.config)

    @classmethod
    def quality_fields_of(cls, config: DatasetConfig | None) -> tuple[str, ...]:
        """`quality_fields` for a config (None: the type's fields without one; empty if they need it), so
        that a file can be measured as its run was without building the dataset (which reads its inputs)."""
        return ("text",)

    def required_roles(self) -> tuple[str, ...]:
        """The roles a run must bind (some may be optional, such as preference's judge)."""
        return self.roles

    def num_requests_by_role(self, binding: Mapping[str, LLMProvider] | None = None) -> dict[str, int]:
        """Requests each role makes per binding in a complete run (for `binding`, one of `bindings`' maps,
        where an optional role's requests depend on whether it has an LLM of its own)."""
        return {role: self.num_requests() for role in self.roles}

    def class_names(self) -> list[str] | None:
        """The class labels of a labelled type, in the config's order (None for other types)."""
        return None

    def cleaning(self) -> CleaningConfig:
        """The config's cleaning rules with the type's defaults filled in: the not-text rule is on for prose."""
        cleaning = self.config.cleaning
        if cleaning.drop_non_text is None:
            cleaning = cleaning.model_copy(update={"drop_non_text": self.prose})
        return cleaning

    def on_answer(self, ask: Ask, answer: Any, model_id: str) -> Outcome:
        """Records and follow-up asks from one validated answer, given by the model `model_id`. Raise
        ValueError to reject an answer that validates but cannot be used; it is then asked again."""
        return Outcome(records=self.records_from(ask.origin, answer))

    def reasoning_step(self, record: Mapping[str, Any]) -> str | None:
        """With `keep_reasoning`: the step of the chain whose answer's reasoning trace the record (its type's
        own fields) keeps; None for the answer that made the record, the last of its chain."""
        return None

    # -- prompts and counts -----------------------------------------------------------------------------

    def prompt_requests(self) -> Iterator[PromptRequest]:
        """Every prompt of the run, in a fixed order, rendered literally. Persona sources are read before the
        first prompt (once per process), so a bad one fails before anything is sent."""
        expansion = self.config.expansion
        combinations = self.mandatory_combinations()
        templates = self.config.templates()
        all_draws = [expansion.draws(template.optional, personas=load_personas) for template in templates]
        for draws in all_draws:
            draws.load()
        for t, (template, draws) in enumerate(zip(templates, all_draws, strict=True)):
            for combo in combinations:
                seed = f"{expansion.seed}:{t}:{sorted(combo.placeholders.items())}"
                chosen = draws.iterate(
                    combinatorial=expansion.combinatorial, num_samples=expansion.num_random_samples, seed=seed
                )
                for draw, optional in enumerate(chosen):
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
        """First prompts of the run per provider, counted without drawing anything."""
        expansion = self.config.expansion
        per_combination = sum(expansion.num_prompts(template.optional) for template in self.config.templates())
        return per_combination * len(self.mandatory_combinations())

    def num_requests(self) -> int:
        """Requests one binding of LLMs (one provider, for single-role types) makes in a complete run,
        every step counted and repair retries not."""
        return self.num_requests_per_provider()

    def get_num_expected_rows(self, llms: LLMs = None) -> int:
        """How many records a complete run makes: requests × samples per request. Known before any spend."""
        providers = _provider_list(llms)
        return self.num_requests_per_provider() * len(providers) * self.config.num_samples_per_prompt

    def bindings(self, llms: LLMs) -> list[dict[str, LLMProvider]]:
        """The role → provider maps the run's chains use: by default every chain runs once per provider."""
        return [{"llms": provider} for provider in _provider_list(llms)]

    def run_bindings(self, llms: LLMs, *, require_keys: bool = True) -> list[dict[str, LLMProvider]]:
        """`bindings(llms)` as a run uses them: with a `judge:` in the config, each also binds the role
        "judge", to `judge.llm` when the config names one (built here; `require_keys=False` for a plan), else
        to the chain's own LLM (its judge role's, else its first role's)."""
        bindings = self.bindings(llms)
        judge = self.config.judge
        if judge is None:
            return bindings
        named = None
        if judge.llm is not None:
            from datafast.datasets.roles import judge_provider

            named = judge_provider(judge.llm, require_keys=require_keys)
        if named is not None and any("judge" in binding for binding in bindings):
            raise ConfigError(
                "judge.llm names the record judge, and so does the LLM given for the role 'judge' (judge_llm, "
                "or an llms: entry with role: judge): one LLM judges both; give it once"
            )
        return [{**binding, "judge": named or binding.get("judge") or binding[self.roles[0]]} for binding in bindings]

    def record_judge(self, bindings: list[dict[str, LLMProvider]]) -> RecordJudge | None:
        """The judge of the run's records (`judge:` in the config; None without one): its rubric (the
        config's, else the type's `judge_rubric`), threshold and view of a record, and the judge requests one
        of `bindings` makes (one per record)."""
        judge = self.config.judge
        if judge is None:
            return None
        rubric = tuple(judge.rubric or self.judge_rubric)
        try:
            check_threshold(judge.threshold, rubric)
        except ValueError as exc:
            raise ConfigError(f"judge.threshold: {exc}") from None
        label = (self.label_field,) if self.label_field else ()
        fields = self.judge_fields or (*self.quality_fields(), *label)
        return RecordJudge(
            rubric,
            judge.threshold,
            tuple(fields),
            kind=self.hub_card.kind,
            sees_request=self.judge_sees_request,
            requests_per_binding=self._records_per_binding(bindings),
        )

    def _records_per_binding(self, bindings: list[dict[str, LLMProvider]]) -> int:
        if not bindings:
            return 0
        if self.roles == ("llms",):
            return self.get_num_expected_rows([bindings[0]["llms"]])
        return self.get_num_expected_rows({role: p for role, p in bindings[0].items() if role in self.roles})

    def language_placeholders(self, code: str) -> dict[str, str]:
        return {"language_code": code, "language_name": self.config.languages[code]}

    # -- running ----------------------------------------------------------------------------------------

    @property
    def data_rows(self) -> list[DatasetRow]:
        """The records of the last `generate` (including those resumed from an earlier run), read from the
        output file on first access so a large run never holds them all in memory while it goes. Before any
        `generate`, the records the output file already holds (so an earlier run can be exported or pushed
        from a new script without running again); none when there is no file."""
        if self._data_rows is None:
            from datafast.engine.run import load_rows

            self._data_rows = load_rows(self, self._model_ids)
        return self._data_rows

    @data_rows.setter
    def data_rows(self, rows: list[DatasetRow]) -> None:
        self._data_rows = rows

    def generate(
        self,
        llms: LLMs = None,
        *,
        show_progress: bool = True,
        retry: RetryPolicy | None = None,
        max_cost: float | None = None,
        overwrite: bool = False,
        batch: bool | BatchOptions = False,
        backend: str | RayBackend = "local",
    ) -> Self:
        """Generate the dataset with every provider in `llms`, concurrently, and return `self`. With no
        provider named, the first hosted one whose API key is set is used, else the built-in local model.

        Records are appended to `config.output_file` as they arrive, and every answer is kept in a run
        store next to it (`<name>.datafast/`): running the same config again resumes, asking only for what
        is missing or failed. `retry` sets how failed requests are tried again; `max_cost` (USD) stops the
        run cleanly once this run has spent that much; `overwrite=True` deletes an earlier output and run
        folder first (needed when the config changed but the output file is the same).

        `batch=True` sends the requests through the providers' batch APIs (OpenAI, Anthropic: half price,
        answers within 24 hours; a provider built with `batch=True` does so on its own). The run waits for
        the batches; stopped (Ctrl-C, a crash), it leaves them at the provider, and the same call collects
        them later without sending them again. `BatchOptions` sets how often batches are looked at.

        `backend="ray"` (or `RayBackend(address=..., shards=...)`) splits the run into shards run by Ray tasks
        across a cluster (`pip install "datafast[ray]"`); the records, the resume and the files are the same."""
        return run_sync(
            self.agenerate(
                llms,
                show_progress=show_progress,
                retry=retry,
                max_cost=max_cost,
                overwrite=overwrite,
                batch=batch,
                backend=backend,
            )
        )

    async def agenerate(
        self,
        llms: LLMs = None,
        *,
        show_progress: bool = True,
        retry: RetryPolicy | None = None,
        max_cost: float | None = None,
        overwrite: bool = False,
        batch: bool | BatchOptions = False,
        backend: str | RayBackend = "local",
    ) -> Self:
        """`generate` for callers already inside an event loop (notebooks, async applications)."""
        return await self._run(
            self.run_bindings(llms),
            show_progress=show_progress,
            retry=retry,
            max_cost=max_cost,
            overwrite=overwrite,
            batch=batch,
            backend=backend,
        )

    async def _run(
        self, bindings: list[dict[str, LLMProvider]], *, backend: str | RayBackend = "local", **options: Any
    ) -> Self:
        from datafast.engine.run import DatasetRun

        ray = ray_backend(backend)
        if ray is not None:
            from datafast.engine.ray_backend import RayRun

            run: DatasetRun | RayRun = RayRun(self, bindings, ray, **options)
        else:
            run = DatasetRun(self, bindings, **options)
        self._model_ids = {p.model_id for p in run.providers}
        self._data_rows = None
        self.failures = []
        self.stats = await run.execute()
        return self

    def preview(self, llms: LLMs = None, n: int = 5, *, retry: RetryPolicy | None = None) -> PreviewResult:
        """Run `n` of the run's chains before paying for all of them, and return what they gave: the records
        kept and dropped (with why), the requests, tokens and cost, and that cost projected to the full run.
        The chains are spread over the config's dimensions (every language, label, prompt, placeholder value
        and provider at least once where `n` allows) and go through cleaning, judge and validators like any.
        Their answers are kept in the run store, so `generate` then replays them instead of paying again;
        their records go to `preview.jsonl` in the run folder, not to the output."""
        return run_sync(self.apreview(llms, n, retry=retry))

    async def apreview(self, llms: LLMs = None, n: int = 5, *, retry: RetryPolicy | None = None) -> PreviewResult:
        """`preview` for callers already inside an event loop."""
        from datafast.datasets.preview import run_preview

        return await run_preview(self, self.run_bindings(llms), n, retry=retry)

    def inspect(self, random: bool = False, *, open_browser: bool = True) -> Path:
        """Write the dataset viewer of the output (one self-contained HTML page: records with search,
        filters and paging, dropped records with their reasons, the run summary and the report) into the run
        folder and open it in a browser; where none can be opened, its path is printed. Returns the page's
        path. (`random` is 0.0.36's argument; the viewer shows every record and has its own ordering.)"""
        from datafast.outputs.viewer import inspect_dataset

        return inspect_dataset(self, open_browser=open_browser)

    def to_jsonl(self, filepath: str | Path, rows: Sequence[DatasetRow] | None = None, append: bool = False) -> None:
        """Write `rows` (default: `data_rows`) to `filepath`, one JSON line each: the file is replaced
        atomically (complete or untouched), or with `append=True` the lines are added at its end in one write.
        Appending to this dataset's own output file is refused: `generate` writes it, and a rerun resumes from
        what it holds."""
        records = self.data_rows if rows is None else list(rows)
        if not append:
            write_jsonl(filepath, records)
            return
        path = Path(filepath)
        if path.resolve() == Path(self.config.output_file).resolve():
            raise ConfigError(
                f"to_jsonl(append=True) on {filepath}: that is this dataset's output file, which generate() "
                "writes (its records are already there); append to another file"
            )
        data = b"".join(record.model_dump_json().encode("utf-8") + b"\n" for record in records)
        if not data:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as f:
            if f.tell() > 0 and not _ends_with_newline(path):
                data = b"\n" + data  # its last line has no newline: the new lines start on their own
            f.write(data)

    def to_parquet(self, filepath: str | Path) -> Path:
        """Write `data_rows` to a Parquet file (atomically); nested fields keep their Arrow types."""
        from datafast.outputs.export import to_parquet

        return to_parquet(self.data_rows, filepath)

    def to_csv(self, filepath: str | Path) -> Path:
        """Write `data_rows` to a CSV file (atomically); nested fields are JSON strings."""
        from datafast.outputs.export import to_csv

        return to_csv(self.data_rows, filepath)

    def to_hf_dataset(self) -> Any:
        """`data_rows` as a `datasets.Dataset`; a classification dataset's `label` is a ClassLabel."""
        from datafast.outputs.export import to_hf_dataset

        return to_hf_dataset(self.data_rows, class_names=self.class_names())

    def push_to_hub(
        self,
        repo_id: str,
        token: str | None = None,
        private: bool = True,
        commit_message: str | None = None,
        train_size: float | None = None,
        seed: int | None = 42,
        shuffle: bool | None = True,
        upload_card: bool = True,
    ) -> str:
        """Upload `data_rows` to the Hub dataset repo `repo_id` (created private unless `private=False`) as
        Parquet, split into train/test when `train_size` is given (stratified by label, drawn with `seed`, 42
        when None; `shuffle=False` keeps file order: the first records train, the last test), with a generated
        dataset card unless `upload_card=False`, in one commit (`commit_message`). The token is `token`, else
        `HF_TOKEN`. Returns the repo URL. The arguments are Datafast 0.0.36's, in its order."""
        from datafast.outputs.hub import push_to_hub

        options: dict[str, Any] = {"commit_message": commit_message} if commit_message else {}
        return push_to_hub(
            self.data_rows,
            repo_id,
            config=self.config.model_dump(mode="json"),
            train_size=train_size,
            seed=42 if seed is None else seed,
            private=private,
            token=token,
            class_names=self.class_names(),
            text_fields=self.quality_fields(),
            hub_card=self.hub_card,
            shuffle=shuffle is not False,
            upload_card=upload_card,
            **options,
        )


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, 2)
        return f.read(1) == b"\n"


def _provider_list(llms: LLMs) -> list[LLMProvider]:
    if llms is None:
        from datafast.llms.providers import default_providers

        return default_providers()
    if isinstance(llms, Mapping):  # a type without roles takes {"llms": ...}, or the providers themselves
        unknown = [role for role in llms if role != "llms"]
        if unknown:
            raise ConfigError(f"this dataset type has no role {unknown[0]!r}: give its providers as a list")
        llms = llms.get("llms")
        if llms is None:
            raise ConfigError("give at least one LLM provider, e.g. generate([OpenAIProvider()])")
    providers = [llms] if isinstance(llms, LLMProvider) else list(llms)
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
