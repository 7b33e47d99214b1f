"""The figures the hardening issue (#11) asks for, measured over real processes and HTTP:

1. two `datafast generate` started at once on the same output: records, duplicate uuids, requests paid twice;
2. a disk that fills up mid-run (a small tmpfs in a user namespace, `unshare`) and a rerun with room:
   records against expected, answers bought again;
3. the concept page's two examples against a server with 20 % malformed answers, 5 % 429s and 5 % 500s:
   rows (kept + dropped) against expected in one run, over several seeds.

    .venv/bin/python benchmarks/hardening.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from _common import datafast_revision, machine_line, offline_env

offline_env()

from concept_examples import concept_classification, concept_raw  # noqa: E402

from datafast.datasets import ClassificationDataset, RawDataset  # noqa: E402
from datafast.engine import RetryPolicy  # noqa: E402
from datafast.llms import OpenAICompatibleProvider  # noqa: E402
from datafast.testing import LLMTestServer  # noqa: E402

CONFIG = """
dataset_type: raw_text
document_types: [memo, story, report]
topics: [{topics}]
num_samples_per_prompt: 2
output_file: {output}
llms:
  - provider: openai_compatible
    model_id: m
    api_base: {base}
    max_concurrency: 16
"""


def write_config(folder: Path, server: LLMTestServer, output: Path, topics: int) -> Path:
    path = folder / "run.yaml"
    names = ", ".join(f'"topic {i}"' for i in range(topics))
    path.write_text(CONFIG.format(topics=names, output=output, base=server.openai_base))
    return path


def paid_twice(server: LLMTestServer) -> int:
    answered = Counter(r.prompt_text for r in server.requests() if r.outcome == "ok")
    return sum(n - 1 for n in answered.values() if n > 1)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def two_runs_at_once(folder: Path) -> None:
    with LLMTestServer(latency_s=0.05) as server:
        output = folder / "two.jsonl"
        config = write_config(folder, server, output, 120)  # 360 requests, 720 records
        command = [sys.executable, "-m", "datafast", "generate", str(config), "--no-progress"]
        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        second = subprocess.run(command, capture_output=True, text=True, timeout=300)
        first.communicate(timeout=300)
        rows = records(output)
        refusal = next((line for line in second.stderr.splitlines() if "another datafast process" in line), "")
        print(
            f"1. two runs at once: first exit {first.returncode}, second exit {second.returncode}; "
            f"{len(rows)} records of 720 expected, {len(rows) - len({r['uuid'] for r in rows})} duplicate uuids, "
            f"{paid_twice(server)} requests paid twice\n   second run said: {refusal.strip()[:160]}"
        )


DISK = """
set -e
mount -t tmpfs -o size={size} tmpfs {small}
set +e
{python} -m datafast generate {config} --no-progress 2>{big}/stderr.txt
echo "exit=$?"
cp -a {small}/. {big}/
"""


def disk_full(folder: Path, size: str) -> None:
    small, big = folder / f"small-{size}", folder / f"big-{size}"
    small.mkdir()
    big.mkdir()
    with LLMTestServer() as server:
        config = write_config(folder, server, small / "out.jsonl", 300)  # 900 requests, 1800 records
        script = DISK.format(size=size, small=small, big=big, config=config, python=sys.executable)
        crash = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=600,
        )
        message = (big / "stderr.txt").read_text().strip().splitlines() if (big / "stderr.txt").exists() else []
        written = (big / "out.jsonl").read_bytes() if (big / "out.jsonl").exists() else b""
        whole = written == b"" or written.endswith(b"\n")
        first = Counter(r.prompt_text for r in server.requests() if r.outcome == "ok")
        server.reset()
        rerun_config = write_config(folder, server, big / "out.jsonl", 300)
        rerun = subprocess.run(
            [sys.executable, "-m", "datafast", "generate", str(rerun_config), "--no-progress"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        second = Counter(r.prompt_text for r in server.requests() if r.outcome == "ok")
        rows = records(big / "out.jsonl")
        dropped = records(big / "out.dropped.jsonl")
        print(
            f"2. disk of {size}: crash {crash.stdout.strip()}, {len(message)} line(s) of error: "
            f"{message[-1][:150] if message else ''}\n"
            f"   file left with whole lines only: {whole}; {len(written.splitlines())} records before the rerun; "
            f"{sum(first.values())} answers bought in the crashed run\n"
            f"   rerun exit {rerun.returncode}: {len(rows)} records + {len(dropped)} dropped of 1800 expected, "
            f"{len({r['uuid'] for r in rows})} distinct; {sum(second.values())} answers bought by the rerun, "
            f"{len(set(first) & set(second))} of them bought again"
        )


def malformed(rounds: int) -> None:
    for example, kind, make in (
        ("classification", ClassificationDataset, concept_classification),
        ("raw", RawDataset, concept_raw),
    ):
        results = []
        for seed in range(rounds):
            faults = {"rate_malformed": 0.2, "rate_429": 0.05, "rate_500": 0.05, "retry_after_s": 0.05}
            with LLMTestServer(seed=seed, **faults) as server:
                folder = Path(tempfile.mkdtemp(dir="/tmp"))
                llm = OpenAICompatibleProvider("m", api_base=server.openai_base, max_concurrency=8)
                dataset = kind(make(folder / "out.jsonl"))
                policy = RetryPolicy(base_delay=0.05, max_delay=0.5)
                dataset.generate(llm, show_progress=False, retry=policy)
                summary = json.loads((folder / "out.datafast" / "summary.json").read_text())
                rows = len(dataset.data_rows) + sum(summary["records_dropped"].values())
                results.append((rows, dataset.get_num_expected_rows([llm]), len(dataset.failures)))
                shutil.rmtree(folder)
        line = ", ".join(f"{rows}/{expected}" + (f" ({n} failed)" if n else "") for rows, expected, n in results)
        print(f"3. {example}, 20 % malformed + 5 % 429 + 5 % 500, rows (kept + dropped) / expected per round: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(machine_line())
    print(datafast_revision())
    folder = Path(tempfile.mkdtemp(prefix="datafast-hardening-", dir="/tmp"))
    two_runs_at_once(folder)
    if shutil.which("unshare"):
        for size in ("600k", "1200k"):
            disk_full(folder, size)
    malformed(args.rounds)
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
