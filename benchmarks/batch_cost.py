"""What batch mode costs against online, for the same run: an example config (the sentiment one by default)
run with `datafast generate` online and with `--batch`, against the local test server (OpenAI's wire format,
its batch API, answers the same in both modes), with some prompt tokens reported as cached. Prints each run's
tokens and cost from its summary.json, and the ratio batch / online (0.5 at OpenAI's batch price).

    .venv/bin/python benchmarks/batch_cost.py [--config examples/sentiment.yaml] [--cached 0.5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from datafast.testing import LLMTestServer, ServerBehavior

ROOT = Path(__file__).resolve().parent.parent


def run(config: Path, folder: Path, server: LLMTestServer, batch: bool) -> dict:
    """One `datafast generate` of `config` in a fresh folder; its summary.json."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy(config, folder / config.name)
    env = {**os.environ, "OPENAI_BASE_URL": server.openai_base, "OPENAI_API_KEY": "sk-bench"}
    command = [sys.executable, "-m", "datafast", "generate", config.name, "--no-progress"]
    if batch:
        command += ["--batch", "--batch-poll", "0.2"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"datafast generate failed:\n{done.stderr}")
    summaries = list(folder.glob("*.datafast/summary.json"))
    summary = json.loads(summaries[0].read_text())
    summary["seconds"] = time.monotonic() - started
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "examples" / "sentiment.yaml"))
    parser.add_argument("--cached", type=float, default=0.5, help="share of prompt tokens the server reports cached")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    config = Path(args.config).resolve()
    work = Path(tempfile.mkdtemp(prefix="datafast-batch-cost-"))
    with LLMTestServer() as server:
        server.set_behavior(ServerBehavior(batch_delay_s=1.0, cached_prompt_share=args.cached))
        for round_ in range(1, args.rounds + 1):
            costs = {}
            for mode in ("online", "batch"):
                server.reset()  # the server answers a prompt it has seen before differently: the same answers
                summary = run(config, work / mode, server, mode == "batch")
                totals = summary["whole_run"]
                costs[mode] = totals["cost_usd"]
                print(
                    f"round {round_} {mode:>6}: {totals['done']} requests, {totals['prompt_tokens']:,} prompt tokens "
                    f"({totals['cached_tokens']:,} cached) + {totals['completion_tokens']:,} output tokens, "
                    f"${totals['cost_usd']:.6f}, {len(summary['batches'])} batch(es), {summary['seconds']:.1f}s"
                )
            print(f"round {round_}: cost batch / online = {costs['batch'] / costs['online']:.4f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
