"""Runs the 13 example scripts of the Datafast 0.0.36 sdist, unchanged, against this checkout and the test server.

    .venv/bin/python benchmarks/run_036_examples.py [--sdist DIR] [--out /tmp/ex036] [--timeout 300]
        [--stage-missing-data] [--only NAME ...]

Each `datafast/examples/*.py` of the sdist is copied into a folder of its own under `--out` and run there with
this checkout's Python (`sys.executable`, datafast installed editable), one process each, killed after
`--timeout` seconds. The only changes allowed, and the only ones made:
- each `....push_to_hub(...)` call is replaced by `None` (found with `ast`, so commented-out calls stay as they
  are; `url = None` keeps a following `print(url)` valid);
- each `hf_dataset_name="NAME"` literal gets a local folder `NAME/` holding `train.jsonl`, a few rows in the
  columns the example reads (`datasets.load_dataset(NAME)` reads such a folder offline); the Hub is never
  contacted (`HF_HUB_OFFLINE=1`, `HF_DATASETS_OFFLINE=1`);
- `keywords_extraction_example.py` reads `generic_pipeline_test_dataset.jsonl`, which its docstring says is
  the output of `generic_pipeline_example.py`: that example runs first and its output file is copied in.
Data files the examples read but the sdist does not ship (`datafast/examples/data/...`) are staged only with
`--stage-missing-data` (small files in the columns the example reads), to see what happens past them.

Every provider is pointed at one test server (`python -m datafast.testing.llm_server`, started here on a free
port): `OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, `GEMINI_API_BASE`, `OLLAMA_API_BASE`, `OPENROUTER_API_BASE`,
`MISTRAL_API_BASE`, with fake keys; `BROWSER=true` makes opening the viewer a no-op. Per example it prints
the exit code, whether it ran to completion (exit 0), the records in each `output_file="..."` it names, and
for a failure the last line of stderr; a JSON summary is written to `--out/results.json`.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._common import offline_env  # noqa: E402

offline_env()

from datafast.testing import LLMTestServer  # noqa: E402

SDIST = Path("/tmp/df036-sdist/datafast-0.0.36")
# generic_pipeline_example writes the file keywords_extraction_example reads.
AFTER = {"keywords_extraction_example.py": ("generic_pipeline_example.py", "generic_pipeline_test_dataset.jsonl")}

_TOPICS = ["electrostatic charging", "propellant boil-off", "atomic oxygen", "thermal cycling", "micrometeoroids"]


def _space_text(i: int) -> str:
    topic = _TOPICS[i % len(_TOPICS)]
    return (
        f"Section {i + 1}. Spacecraft in low Earth orbit face {topic}. Engineers size margins, pick materials and "
        f"run qualification tests so that {topic} does not end the mission early; this note summarises how "
        f"design reviews trade mass, cost and risk when {topic} is the driving environment effect."
    )


# Rows in the columns each example reads from the Hub dataset it names (input/forward/text columns).
HUB_ROWS: dict[str, list[dict[str, Any]]] = {
    "patrickfleith/FinePersonas-v0.1-100k-space-filtered": [
        {"id": f"p{i}", "persona": p, "summary_label": label}
        for i, (p, label) in enumerate(
            [
                ("A propulsion engineer who restores vintage motorbikes at weekends.", "Engineering"),
                ("An astrophysics PhD student running a stargazing club.", "Science"),
                ("A satellite operations manager and amateur marathon runner.", "Operations"),
                ("A science journalist covering lunar exploration.", "Media"),
                ("A high-school physics teacher who builds model rockets.", "Education"),
                ("A space lawyer specialising in orbital debris liability.", "Law"),
            ]
        )
    ],
    "patrickfleith/space_engineering_environment_effects_texts": [
        {"text": _space_text(i), "document_type": "personal blog of a space engineer", "topic": _TOPICS[i % 5]}
        for i in range(24)
    ],
    "imdb": [
        {"text": "A warm, funny film with a great cast.", "label": 1},
        {"text": "Two hours I will never get back.", "label": 0},
    ],
}

# Files the examples read that the 0.0.36 sdist does not ship (staged only with --stage-missing-data).
MISSING_DATA: dict[str, dict[str, list[dict[str, Any]]]] = {
    "mcq_contextual_example.py": {
        "datafast/examples/data/mcq/ar6.jsonl": [
            {
                "chunk_text": _space_text(i).replace("Spacecraft in low Earth orbit", "Coastal regions"),
                "document_summary": "IPCC AR6 working group report, chapter on impacts and adaptation.",
                "chunk_grade": ["OK", "GREAT", "BAD"][i % 3],
            }
            for i in range(15)
        ]
    },
    "preference_dataset_example.py": {
        "data/preferences/nasa_lsi_sample.jsonl": [{"text": _space_text(i)} for i in range(3)]
    },
}


def _literal_keywords(tree: ast.AST, name: str) -> list[str]:
    return [
        kw.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == name and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)
    ]


def without_push_to_hub(source: str) -> tuple[str, int]:
    """`source` with every `x.push_to_hub(...)` call replaced by `None`, and how many were replaced."""
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "push_to_hub"
    ]
    lines = source.splitlines(keepends=True)
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset), reverse=True):
        assert call.end_lineno is not None and call.end_col_offset is not None
        start, end = call.lineno - 1, call.end_lineno - 1
        head, tail = lines[start][: call.col_offset], lines[end][call.end_col_offset :]
        lines[start : end + 1] = [head + "None  # push_to_hub(...) left out" + tail]
    return "".join(lines), len(calls)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _count_lines(path: Path) -> int | None:
    if not path.exists():
        return None
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def run_example(
    example: Path, out: Path, env: dict[str, str], timeout: float, stage_missing: bool
) -> dict[str, Any]:
    folder = out / example.stem
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    source, n_push = without_push_to_hub(example.read_text())
    (folder / example.name).write_text(source)
    tree = ast.parse(source)
    staged = []
    for name in dict.fromkeys(_literal_keywords(tree, "hf_dataset_name")):
        if name not in HUB_ROWS:
            raise SystemExit(f"{example.name} names Hub dataset {name!r}: add rows for it to HUB_ROWS")
        _write_jsonl(folder / name / "train.jsonl", HUB_ROWS[name])
        staged.append(f"{name}/train.jsonl")
    if example.name in AFTER:
        previous, file_name = AFTER[example.name]
        produced = out / Path(previous).stem / file_name
        if produced.exists():
            shutil.copy(produced, folder / file_name)
            staged.append(f"{file_name} (from {previous})")
    if stage_missing:
        for rel, rows in MISSING_DATA.get(example.name, {}).items():
            _write_jsonl(folder / rel, rows)
            staged.append(rel)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, example.name], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout
        )
        code: int | None = proc.returncode
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = None
        stdout = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr = ((exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")) + (
            f"\nTimeout after {timeout:.0f} s"
        )
    (folder / "stdout.txt").write_text(stdout)
    (folder / "stderr.txt").write_text(stderr)
    outputs = dict.fromkeys(_literal_keywords(tree, "output_file"))
    records = {name: _count_lines(folder / name) for name in outputs}
    error_lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return {
        "example": example.name,
        "exit_code": code,
        "completed": code == 0,
        "seconds": round(time.monotonic() - started, 1),
        "push_to_hub_calls_left_out": n_push,
        "staged": staged,
        "records": records,
        "error": None if code == 0 else (error_lines[-1] if error_lines else "(no stderr)"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, default=SDIST)
    parser.add_argument("--out", type=Path, default=Path("/tmp/ex036"))
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--stage-missing-data", action="store_true")
    parser.add_argument("--only", nargs="*", default=None, help="example file names (default: all)")
    args = parser.parse_args(argv)
    examples = sorted((args.sdist / "datafast" / "examples").glob("*.py"))
    examples = [e for e in examples if e.name != "__init__.py" and (not args.only or e.name in args.only)]
    # An example that reads another's output runs after it.
    examples.sort(key=lambda e: e.name in AFTER)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    with LLMTestServer(subprocess=True) as server:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.openai_base,
            "OPENAI_API_KEY": "sk-test-0000",
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": "sk-ant-test-0000",
            "GEMINI_API_BASE": server.url,
            "GEMINI_API_KEY": "gemini-test-0000",
            "OLLAMA_API_BASE": server.url,
            "OPENROUTER_API_BASE": server.openrouter_base,
            "OPENROUTER_API_KEY": "sk-or-test-0000",
            "MISTRAL_API_BASE": server.openai_base,
            "MISTRAL_API_KEY": "mistral-test-0000",
            "BROWSER": "true",
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        for example in examples:
            result = run_example(example, args.out, env, args.timeout, args.stage_missing_data)
            results.append(result)
            records = ", ".join(f"{k}: {v}" for k, v in result["records"].items()) or "-"
            print(
                f"{result['example']:45} exit={result['exit_code']} {result['seconds']:6.1f}s records[{records}]"
                + (f"\n    {result['error']}" if result["error"] else ""),
                flush=True,
            )
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    done = sum(r["completed"] for r in results)
    print(f"{done} of {len(results)} ran to completion; details in {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
