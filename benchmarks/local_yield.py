"""How many usable records the built-in local model gives for the quickstart config, with and without
asking again when an answer holds nothing usable (`RetryPolicy.max_rejections`).

    /tmp/venv/bin/python benchmarks/local_yield.py --rounds 5

Each round runs `examples/quickstart.yaml` (12 requests, one review each) twice on one `LocalProvider`, in
alternating order: once with re-asking off (`max_rejections=0`) and once with the default policy. It prints,
per side, the records kept of 12, the requests sent and the seconds `generate()` took, and the totals.
The model samples at temperature 0.8, so single rounds vary a lot: compare totals over several rounds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_calibration_ms, datafast_revision, machine_line, offline_env

offline_env()

from datafast.datasets import ClassificationDataset  # noqa: E402
from datafast.engine import RetryPolicy  # noqa: E402
from datafast.llms import LocalProvider  # noqa: E402
from datafast.schema.loading import load_dataset_config  # noqa: E402

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart.yaml"


def run_once(llm: LocalProvider, workdir: Path, name: str, policy: RetryPolicy) -> tuple[int, int, float]:
    config, _ = load_dataset_config(QUICKSTART)
    config = config.model_copy(update={"output_file": str(workdir / f"{name}.jsonl")})
    started = time.perf_counter()
    dataset = ClassificationDataset(config).generate(llm, show_progress=False, retry=policy)
    seconds = time.perf_counter() - started
    stats = dataset.stats
    requests = stats.succeeded + stats.failed + stats.retries + stats.asked_again
    return len(dataset.data_rows), requests, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(machine_line())
    print(f"datafast {datafast_revision()}")
    print(f"cpu calibration {cpu_calibration_ms():.0f} ms")
    sides = {"re-ask off": RetryPolicy(max_rejections=0), "re-ask on (default)": RetryPolicy()}
    totals = {side: [0, 0, 0.0] for side in sides}
    llm = LocalProvider()
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for side in order:
                kept, requests, seconds = run_once(llm, Path(tmp), f"{round_}-{list(sides).index(side)}", sides[side])
                print(f"round {round_ + 1} {side:20} {kept:2}/12 kept, {requests:2} requests, {seconds:5.1f} s")
                for i, value in enumerate((kept, requests, seconds)):
                    totals[side][i] += value
    for side, (kept, requests, seconds) in totals.items():
        n = args.rounds
        print(f"{side:20} mean {kept / n:4.1f}/12 kept, {requests / n:4.1f} requests, {seconds / n:5.1f} s per run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
