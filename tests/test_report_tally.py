"""The report tallied one record at a time: distinct n-grams and length figures against direct computations,
and a sink's tally against the report built from the file it wrote."""

import json
import random
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from datafast.engine.sink import RecordSink
from datafast.quality import build_report, ngrams
from datafast.quality.report import read_records
from datafast.quality.tally import summary
from datafast.schema.cleaning import CleaningConfig
from datafast.schema.data_rows import TextClassificationRow

WORDS = [
    "the", "a", "river", "library", "baker", "opened", "studied", "found", "quiet", "steady", "silent", "meadow",
    "traveler", "garden", "old", "new", "small", "bright", "evening", "morning", "letter", "window", "walked",
    "through", "under", "over", "and", "but", "with", "near", "far", "kind", "warm",
]  # fmt: skip


def naive_ratios(texts: list[list[str]]) -> dict[str, float]:
    result = {}
    for n in (1, 2, 3):
        grams = [tuple(t[i : i + n]) for t in texts for i in range(len(t) - n + 1)]
        result[f"distinct_{n}"] = round(len(set(grams)) / len(grams), 6) if grams else 0.0
    return result


def test_distinct_ngrams_across_batches_and_a_late_second_group(monkeypatch):
    monkeypatch.setattr(ngrams, "_BATCH_WORDS", 50)  # many batches, and merges of the key sets
    rng = random.Random(3)
    texts = [[rng.choice(WORDS) for _ in range(rng.randint(0, 12))] for _ in range(400)]
    groups = [0 if i < 150 else rng.choice([0, 1, 2]) for i in range(400)]  # a second group only after batches
    distinct = ngrams.DistinctNgrams()
    for tokens, group in zip(texts, groups, strict=True):
        distinct.add(tokens, group)
    assert distinct.ratios() == naive_ratios(texts)
    for group in (0, 1, 2):
        assert distinct.ratios(group) == naive_ratios([t for t, g in zip(texts, groups, strict=True) if g == group])
    assert distinct.ratios(7) == {"distinct_1": 0.0, "distinct_2": 0.0, "distinct_3": 0.0}


def test_one_group_keeps_one_copy_of_the_keys(monkeypatch):
    monkeypatch.setattr(ngrams, "_BATCH_WORDS", 10)
    distinct = ngrams.DistinctNgrams()
    texts = [["a", "b", "c", "a", "b"], ["a", "b"], ["c"]] * 5
    for tokens in texts:
        distinct.add(tokens, 4)
    assert distinct.ratios(4) == distinct.ratios() == naive_ratios(texts)
    assert distinct._by_group == {}


def test_length_summary_matches_numpy():
    rng = random.Random(7)
    for size in (1, 2, 3, 4, 5, 10, 11, 97, 1000):
        values = [rng.choice([0, 1, 2, 3, 5, 8, 40, 41, 300, 10_000]) for _ in range(size)]
        figures = summary(Counter(values), histogram=True)
        array = np.array(values)
        assert figures["median"] == float(np.median(array))
        assert figures["mean"] == round(float(array.mean()), 3)
        for p in (10, 25, 75, 90):
            assert figures[f"p{p}"] == float(np.percentile(array, p)), (size, p)
        assert sum(figures["histogram"]["counts"]) == size and len(figures["histogram"]["counts"]) <= 20
    assert summary(Counter()) == {"count": 0}


def sentence(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def row(i: int, text: str, model: str = "m1") -> TextClassificationRow:
    return TextClassificationRow(
        uuid=f"u{i}", request_id=f"r{i}", dataset_type="text_classification", model_id=model, language="en",
        prompt_template="Write about {topic}", placeholders={"topic": f"t{i % 3}"}, text=text, label="pos",
    )  # fmt: skip


@pytest.mark.parametrize(
    "cleaning",
    [{}, {"near_duplicates": False}, {"near_duplicates": False, "exact_duplicates": False},
     {"near_duplicate_shingle_words": 2}, {"near_duplicate_threshold": 0.5}],
)  # fmt: skip
def test_a_sinks_tally_is_the_report_of_the_file_it_wrote(tmp_path, cleaning):
    rng = random.Random(11)
    texts = [sentence(rng) for _ in range(30)]
    # An earlier run (cleaning off) left near and exact duplicates in the output.
    path = tmp_path / "out.jsonl"
    earlier = [texts[0], texts[1], texts[0] + " Truly.", texts[1], texts[2]]
    path.write_text("".join(row(100 + i, t).model_dump_json() + "\n" for i, t in enumerate(earlier)))
    config = CleaningConfig(**cleaning)
    sink = RecordSink(path, config, ["text"], TextClassificationRow)
    sink.scan()
    batches = [
        [row(1, texts[3]), row(2, texts[3] + " Indeed."), row(3, texts[2])],
        [row(4, texts[4], "m2"), row(5, texts[5], "m2"), row(6, "!!")],
        [row(7 + i, t, rng.choice(["m1", "m2"])) for i, t in enumerate(texts[6:])],
    ]
    with sink:
        for batch in batches:
            sink.write(sink.judge(batch, truncated=False))
    report = sink.report()
    threshold = config.near_duplicate_threshold
    assert report == build_report(read_records(path), ["text"], near_duplicate_threshold=threshold)
    assert report["total"] == len(path.read_text().splitlines()) == len(earlier) + sink.kept
    assert report["diversity"]["near_duplicates"] >= 2  # the earlier run's, at least
    json.dumps(report)


def test_starting_a_run_loads_no_heavy_library():
    code = (
        "import sys; import datafast.engine.run; "
        "print([m for m in ('numpy', 'scipy', 'datasketch', 'py3langid', 'matplotlib', 'PIL') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
