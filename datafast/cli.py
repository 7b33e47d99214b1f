"""The `datafast` command: `generate CONFIG`, `plan CONFIG`, `inspect FILE`, `view FILE` and `push FILE --repo`."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from datafast._env import apply_offline_defaults
from datafast.data_commands import add_commands as add_data_commands
from datafast.data_commands import run_command as run_data_command
from datafast.errors import ConfigError, DatafastError, MissingAPIKeyError

if TYPE_CHECKING:
    from datafast.datasets.base import DatasetBase
    from datafast.datasets.roles import Providers
    from datafast.engine.backends import RayBackend
    from datafast.engine.batches import BatchOptions
    from datafast.engine.ledger import RunStats

console = Console(stderr=True, soft_wrap=True)  # no hard line breaks in messages users copy from
INTERRUPTED = "interrupted: what was written is kept; run the same command again to resume"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("datafast")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """The `datafast` program (`argv` None: the command line) or one command run from Python (`argv` given).
    Returns the exit status: 0, 1 for a run with failed requests, 2 for a user mistake, 130 on Ctrl-C."""
    interrupt = CtrlC()
    if argv is None:  # the program itself: Ctrl-C must end it promptly, whatever is still loading
        interrupt.watch()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        interrupt.say()
        return 130
    except BrokenPipeError:  # `datafast inspect ... | head`: the reader has gone, nothing to say
        with contextlib.suppress(OSError, ValueError):  # what is still buffered goes nowhere, quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: Sequence[str] | None) -> int:
    apply_offline_defaults()
    parser = argparse.ArgumentParser(prog="datafast", description="Generate synthetic text datasets with LLMs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every retry and failure")
    parser.add_argument("--version", action="version", version=f"datafast {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="run a config file (YAML or TOML) and write its dataset")
    generate.add_argument("config", help="the config file: examples/ has one per dataset type")
    generate.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    generate.add_argument("--max-cost", type=float, help="stop cleanly once this run has spent this many USD")
    generate.add_argument("--overwrite", action="store_true", help="delete an earlier output and its run folder first")
    generate.add_argument(
        "--batch",
        action="store_true",
        help="send the requests through the providers' batch APIs (OpenAI, Anthropic): half price, answers within "
        "24 hours; stopped, the run leaves its batches at the provider and the same command collects them later",
    )
    generate.add_argument(
        "--batch-poll", type=float, default=30.0, metavar="SECONDS", help="how often to look at batches (default 30)"
    )
    generate.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where the run's engine runs: this process (default), or shards of the run as tasks on a Ray cluster "
        '(pip install "datafast[ray]")',
    )
    generate.add_argument(
        "--address",
        metavar="ADDRESS",
        help="with --backend ray: the cluster, 'auto' (started with `ray start` on this machine) or ray://HOST:10001; "
        "left out, a local cluster for this run",
    )
    generate.add_argument(
        "--shards",
        type=int,
        metavar="N",
        help="with --backend ray: split the run into N shards (default: as before, else the cluster's CPUs)",
    )
    plan = commands.add_parser("plan", help="show requests, rows, sample prompts and cost before running")
    plan.add_argument("config", help="the config file")
    plan.add_argument("--samples", type=int, default=3, help="how many rendered prompts to show")
    plan.add_argument("--batch", action="store_true", help="show the cost at batch prices too, side by side")
    preview = commands.add_parser(
        "preview", help="run a few requests spread over the config, show their records and the projected cost"
    )
    preview.add_argument("config", help="the config file")
    preview.add_argument("-n", type=int, default=5, help="how many chains (first requests) to run (default 5)")
    for command in (generate, plan, preview):
        command.add_argument(
            "--llm",
            action="append",
            metavar="PROVIDER[:MODEL]",
            help="use this provider instead of the file's llms: (repeat for several), e.g. --llm local or "
            "--llm openai:gpt-4.1-mini; for a type with roles (preference), one --llm takes every role",
        )
    add_data_commands(commands)
    status = commands.add_parser("status", help="where a run stands: records, stored answers, provider batches")
    status.add_argument("run", help="the run's config file, its output file, or its run folder")
    status.add_argument(
        "--cancel-batches",
        action="store_true",
        help="cancel the run's batches still running at the provider (the answers they already hold are "
        "collected by the next generate)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        for noisy in ("LiteLLM", "httpx", "litellm"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
    try:
        if args.command in ("generate", "plan", "preview"):
            _check_config_file(args.config)
        if args.command == "generate":
            from datafast.engine.batches import BatchOptions

            batch = BatchOptions(poll_seconds=args.batch_poll, every_provider=args.batch)
            backend = _backend(args.backend, args.address, args.shards)
            return _generate(args.config, args.llm, not args.no_progress, args.max_cost, args.overwrite, batch, backend)
        if args.command == "status":
            from datafast.run_status import status_command

            return status_command(args.run, args.cancel_batches)
        if args.command in ("inspect", "view", "push"):
            return run_data_command(args) or 0
        if args.command == "preview":
            return _preview(args.config, args.llm, args.n)
        return _plan(args.config, args.llm, args.samples, args.batch)
    except (DatafastError, ValidationError) as exc:
        console.print(Text.assemble(("error: ", "bold red"), str(exc)))
        if isinstance(exc, MissingAPIKeyError) and args.command == "generate":
            console.print(f"to try it on the built-in model, with no key: datafast generate {args.config} --llm local")
        return 2


class CtrlC:
    """Ctrl-C in the `datafast` program: the one-line notice, said once, and an exit within about a second.

    Ctrl-C raises KeyboardInterrupt in the main thread (a run first winds down: what it received is stored),
    and `main` says so and returns 130. But the main thread can then still wait for a thread that is
    importing LiteLLM (seconds on a busy machine): `asyncio.run` waits for its executor's threads, and so
    does the interpreter's exit. So `watch` also has the signal written to a pipe (`signal.set_wakeup_fd`,
    which works whatever Python handler asyncio puts in place) that a daemon thread reads; `GRACE` seconds
    after a Ctrl-C it ends the process with `os._exit(130)` if it is still there. A kill then loses nothing
    a run stored: every answer is committed before it counts, and a rerun resumes."""

    GRACE = 1.0

    def __init__(self) -> None:
        self._said = False
        self._lock = threading.Lock()

    def watch(self) -> None:
        """Arm the watchdog (the main thread only; not for commands run from Python, which must not exit)."""
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            read, write = os.pipe()
            os.set_blocking(write, False)
            signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        except (OSError, ValueError):
            return
        threading.Thread(target=self._watch, args=(read,), name="datafast-ctrl-c", daemon=True).start()

    def say(self) -> None:
        """Print the notice, once."""
        with self._lock:
            if self._said:
                return
            self._said = True
        print(INTERRUPTED, file=sys.stderr, flush=True)

    def _watch(self, read: int) -> None:
        while True:
            received = os.read(read, 64)  # a signal's number, one byte each
            if not received:
                return
            if int(signal.SIGINT) in received:
                break
        time.sleep(self.GRACE)
        with self._lock:
            said, self._said = self._said, True
        if not said:  # straight to the file: no import, no lock another thread may hold
            os.write(2, (INTERRUPTED + "\n").encode())
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os._exit(130)


def _check_config_file(path: str) -> None:
    """A config file that is missing, unreadable or not YAML/TOML is reported at once, before the seconds
    of imports that reading it as a dataset config takes."""
    from datafast.schema.loading import read_config_mapping

    read_config_mapping(path)


def _load(path: str, llm_options: list[str] | None, *, require_keys: bool = True) -> tuple[DatasetBase, Providers]:
    from datafast.datasets.registry import dataset_for
    from datafast.datasets.roles import is_multi_role, providers_for, specs_from_options
    from datafast.schema.loading import load_dataset_config

    config, specs = load_dataset_config(path)
    dataset = dataset_for(config)
    if llm_options:
        return dataset, providers_for(
            dataset, specs_from_options(dataset, llm_options, specs), "--llm", require_keys=require_keys
        )
    if not specs and not is_multi_role(dataset):
        from datafast.llms.providers import default_providers

        llms = default_providers()
        console.print(f"no llms: in {path}; using {llms[0].name}")
        return dataset, llms
    return dataset, providers_for(dataset, specs, path, require_keys=require_keys)


def _generate(
    path: str,
    llm_options: list[str] | None,
    progress: bool,
    max_cost: float | None,
    overwrite: bool,
    batch: bool | BatchOptions = False,
    backend: str | RayBackend = "local",
) -> int:
    from datafast.engine.progress import plural
    from datafast.engine.run import run_folder

    dataset, llms = _load(path, llm_options)
    expected = dataset.get_num_expected_rows(llms)
    dataset.generate(llms, show_progress=progress, max_cost=max_cost, overwrite=overwrite, batch=batch, backend=backend)
    stats = dataset.stats
    assert stats is not None
    folder = run_folder(dataset.config.output_file)
    summary = json.loads((folder / "summary.json").read_text())
    print(f"{plural(len(dataset.data_rows), 'record')} in {dataset.config.output_file} (at most {expected:,} expected)")
    print(_run_line(stats))
    if summary.get("batches"):
        states = [b["status"] for b in summary["batches"]]
        left = states.count("sending") + states.count("running")
        print(
            f"{plural(len(states), 'provider batch', 'provider batches')} in this run's store, "
            f"{states.count('collected')} collected" + (f", {left} still at the provider" if left else "")
        )
    if summary["records_dropped"]:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in summary["records_dropped"].items())
        print(f"dropped by cleaning ({reasons}): see {summary['dropped_file']}")
    if dataset.report is not None:
        from datafast.quality import print_report

        print_report(dataset.report, Console(highlight=False))
    print(f"summary: {folder / 'summary.json'}; report and plots: {folder}")
    if stats.stopped:
        print(f"stopped early: {stats.stopped}; run the same command again to continue")
    return 1 if dataset.failures or stats.stopped else 0


def _backend(name: str, address: str | None, shards: int | None) -> str | RayBackend:
    """The `backend=` of `generate` from the command line's options; Ray's are refused without `--backend ray`."""
    from datafast.engine.backends import RayBackend, import_ray

    if name == "local":
        if address is not None or shards is not None:
            raise ConfigError("--address and --shards go with --backend ray")
        return "local"
    import_ray()  # says how to install it, before the config is read
    return RayBackend(address=address, shards=shards)


def _run_line(stats: RunStats) -> str:
    """The run's figures in one line: requests done, resumed and failed, retries, answers asked again,
    tokens, cost, time and rate (of the requests answered in this run, as the progress line gives it)."""
    from datafast.engine.progress import format_rate, plural

    resumed = f"{stats.resumed:,} resumed from an earlier run, " if stats.resumed else ""
    limited = f" ({stats.rate_limited:,} after a 429)" if stats.rate_limited else ""
    asked_again = f"{plural(stats.asked_again, 'unusable answer')} asked again, " if stats.asked_again else ""
    cost = f", ${stats.cost_usd:.4f}" if stats.cost_usd else ""
    sent = stats.succeeded + stats.failed
    rate = f" ({format_rate(sent / stats.wall_seconds)})" if sent and stats.wall_seconds > 0 else ""
    return (
        f"{plural(stats.succeeded, 'request')} done, {resumed}{stats.failed:,} failed, "
        f"{plural(stats.retries, 'retry')}{limited}, {asked_again}{plural(stats.tokens, 'token')}{cost} "
        f"in {stats.wall_seconds:.1f}s{rate}"
    )


def _plan(path: str, llm_options: list[str] | None, samples: int, batch: bool = False) -> int:
    from datafast.planning import plan_run

    dataset, llms = _load(path, llm_options, require_keys=False)
    plan = plan_run(dataset, llms, samples, batch=batch)
    out = Console(highlight=False, soft_wrap=True)
    if plan.requests_by_role:
        split = ", ".join(f"{role} {n:,}" for role, n in plan.requests_by_role.items())
        per = f"{plan.requests_per_provider} requests by role ({split})"
    else:
        per = f"{plan.requests_per_provider} requests per provider"
    out.print(
        f"[bold]{plan.dataset_type}[/bold]: {per}, {plan.total_requests} requests and {plan.total_rows} rows in all"
    )
    labels = [p.name + (f" ({', '.join(p.roles)})" if p.roles else "") for p in plan.providers]
    width = max(len(label) for label in labels)
    for label, p in zip(labels, plan.providers, strict=True):
        cost = _plan_cost(p.cost_usd)
        if batch:
            cost = f"online {cost}, batch {_plan_cost(p.batch_cost_usd)}"
        out.print(
            Text(
                f"  {label:<{width}}  {p.requests:>7,} requests  {p.rows:>8,} rows  "
                f"~{p.prompt_tokens:,} prompt + ~{p.completion_tokens:,} output tokens  {cost}"
            )
        )
    if batch:
        online = _plan_total([p.cost_usd for p in plan.providers])
        out.print(Text(f"  total: online {online}, batch {_plan_total([p.batch_cost_usd for p in plan.providers])}"))
        for p in plan.providers:
            if p.batch_price_source:
                out.print(Text(f"batch price of {p.name}: {p.batch_price_source}"))
    for llm in llms.values() if isinstance(llms, dict) else llms:
        if batch and llm.batch_api is None:
            out.print(f"{llm.name}: {llm.batch_refusal()}")
        if llm.plan_only:
            out.print(f"{llm.name}: no API key set; generate will need {' or '.join(llm.api_key_env)}")
    if any(p.cost_usd is None for p in plan.providers):
        out.print("cost unknown: the model is not in LiteLLM's price map (local and self-hosted models)")
    out.print("estimates: ~4 characters a token; output length by dataset type")
    for i, prompt in enumerate(plan.sample_prompts, 1):
        out.print(Text.assemble((f"prompt {i}: ", "bold"), prompt))
    return 0


def _preview(path: str, llm_options: list[str] | None, n: int) -> int:
    from datafast.engine.progress import plural
    from datafast.engine.run import run_folder

    dataset, llms = _load(path, llm_options)
    result = dataset.preview(llms, n)
    out = Console(highlight=False, soft_wrap=True)
    fields = dataset.quality_fields()
    for record in result.records:
        text = " | ".join(str(record.get(f, ""))[:300] for f in fields)
        label = record.get(dataset.label_field) if dataset.label_field else None
        tag = f"[{record.get('language')}{', ' + str(label) if label else ''}, {record.get('model_id')}] "
        out.print(Text.assemble((tag, "bold"), text))
    for line in result.dropped:
        record = line["record"]
        text = " | ".join(str(record.get(f, ""))[:200] for f in fields)
        out.print(Text.assemble((f"dropped ({line['reason']}): ", "yellow"), text))
    for failure in result.failures:
        out.print(Text.assemble(("failed: ", "red"), failure))
    reused = f", {result.resumed:,} of them from an earlier preview or run (not paid again)" if result.resumed else ""
    tokens = result.prompt_tokens + result.completion_tokens
    cost = "" if result.cost_usd is None else f", ${result.cost_usd:.4f}"
    print(
        f"preview: {plural(result.chains, 'chain')} of {result.total_chains:,}, "
        f"{plural(result.requests, 'request')}{reused}; {plural(tokens, 'token')}{cost}"
    )
    kept, dropped = len(result.records), len(result.dropped)
    reasons = ", ".join(f"{reason}: {count}" for reason, count in result.drop_reasons.items())
    print(f"{plural(kept, 'record')} kept, {dropped:,} dropped" + (f" ({reasons})" if reasons else ""))
    projected = result.projected_cost_usd
    if projected is not None:
        print(f"projected to the full run ({result.total_chains:,} chains): ~${projected:.4f}")
    folder = run_folder(dataset.config.output_file)
    print(f"records: {folder / 'preview.jsonl'}; the answers are stored: `datafast generate {path}` reuses them")
    return 1 if result.failures else 0


def _plan_cost(cost: float | None) -> str:
    return "cost unknown" if cost is None else "free" if cost == 0 else f"~${cost:.4f}"


def _plan_total(costs: list[float | None]) -> str:
    """The sum of the costs that are known, said to be partial when some are not."""
    known = [c for c in costs if c is not None]
    if not known:
        return "cost unknown"
    return _plan_cost(sum(known)) + (" (priced models only)" if len(known) < len(costs) else "")


if __name__ == "__main__":
    sys.exit(main())
