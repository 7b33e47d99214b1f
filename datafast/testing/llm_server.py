"""Run the test LLM server standalone.

    python -m datafast.testing.llm_server --port 8000 --latency 0.3

The first line printed on stdout is the base URL (``http://127.0.0.1:PORT``); nothing else is printed per
request. Ctrl-C or SIGTERM stops it cleanly. Drive it with the ``/_control`` routes (log, stats, behavior,
reset) or from Python with ``LLMTestServer(subprocess=True)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence

from datafast.testing.app import ServerState, create_app
from datafast.testing.behavior import ServerBehavior
from datafast.testing.server import start_site

RATE_FAULTS = ("429", "500", "timeout", "drop", "malformed", "truncated", "junk", "empty", "html", "no_choices")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--behavior-json`` is applied first, the other flags override it."""
    parser = argparse.ArgumentParser(
        prog="python -m datafast.testing.llm_server", description="Local LLM server for tests and benchmarks."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (the default)")
    parser.add_argument("--behavior-json", default=None, help="ServerBehavior fields as a JSON object")
    parser.add_argument("--latency", type=float, default=None, help="seconds added to every request")
    parser.add_argument("--seed", type=int, default=None)
    for fault in RATE_FAULTS:
        parser.add_argument(f"--rate-{fault}", type=float, default=None, help=f"probability of '{fault}'")
    parser.add_argument("--retry-after", type=float, default=None, help="Retry-After seconds sent with a 429")
    parser.add_argument("--hang", type=float, default=None, help="seconds a 'timeout' request is held")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute before 429s (default: no limit)")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute before 429s (default: no limit)")
    parser.add_argument(
        "--max-concurrent", type=int, default=None, help="requests served at once; more get a 429 (default: no limit)"
    )
    parser.add_argument(
        "--rate-burst", type=float, default=None, help="seconds' worth of --rpm/--tpm a burst may use (default 10)"
    )
    parser.add_argument("--no-log-bodies", action="store_true", help="keep records without prompt/answer text")
    parser.add_argument("--no-log", action="store_true", help="keep no records, only counters")
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true", help="stop when stdin closes (used when run as a child)"
    )
    return parser.parse_args(argv)


def behavior_from_args(args: argparse.Namespace) -> ServerBehavior:
    """Build the starting :class:`ServerBehavior` from parsed options."""
    fields = json.loads(args.behavior_json) if args.behavior_json else {}
    flags = {
        "latency_s": args.latency,
        "seed": args.seed,
        "retry_after_s": args.retry_after,
        "hang_s": args.hang,
        "rpm_limit": args.rpm,
        "tpm_limit": args.tpm,
        "rate_burst_s": args.rate_burst,
        "max_concurrent_requests": args.max_concurrent,
        **{f"rate_{f}": getattr(args, f"rate_{f}") for f in RATE_FAULTS},
    }
    fields.update({k: v for k, v in flags.items() if v is not None})
    if args.no_log_bodies:
        fields["log_bodies"] = False
    if args.no_log:
        fields["log_records"] = False
    return ServerBehavior.model_validate(fields)


def _stop_on_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    fd = sys.stdin.fileno()

    def on_readable() -> None:
        if not os.read(fd, 4096):
            loop.remove_reader(fd)
            stop.set()

    loop.add_reader(fd, on_readable)


async def serve(host: str, port: int, behavior: ServerBehavior, exit_on_stdin_eof: bool = False) -> None:
    """Serve until SIGINT/SIGTERM (or stdin EOF if asked), printing the URL as the first stdout line."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if exit_on_stdin_eof:
        _stop_on_eof(loop, stop)
    runner, url = await start_site(create_app(ServerState(behavior)), host, port)
    print(url, flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m datafast.testing.llm_server``."""
    args = parse_args(argv)
    try:
        behavior = behavior_from_args(args)
    except ValueError as exc:
        print(f"invalid behaviour: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, behavior, args.exit_on_stdin_eof))
    return 0


if __name__ == "__main__":
    sys.exit(main())
