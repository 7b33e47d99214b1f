"""Cleaning: each rule on focused cases, and the whole filter on a dataset made by the local LLM server with
planted duplicates and near-duplicates, with the dropped-records file."""

import json

import pytest
from conftest import FAST_RETRY
from pydantic import ValidationError

from datafast.datasets import ClassificationDataset
from datafast.llms import OpenAIProvider
from datafast.outputs import DroppedRecords, dropped_path
from datafast.quality import RecordCleaner, restates_label
from datafast.quality.text import normalized, words
from datafast.schema.config import ClassificationDatasetConfig, CleaningConfig

ENGLISH = "The new tent kept us perfectly dry during three nights of heavy mountain rain."
LONG = (
    "We took the new tent up to the lake for a long weekend and it kept all four of us perfectly dry during three "
    "nights of heavy mountain rain, even though the pegs were hard to push into the rocky ground."
)
FRENCH = "La nouvelle tente nous a gardés parfaitement au sec pendant trois nuits de pluie."


def test_normalisation_ignores_case_whitespace_and_unicode_punctuation():
    assert normalized("  Hello,   WORLD!! «Ça» va — bien…") == "hello world ça va bien"
    assert normalized("Straße") == normalized("STRASSE")
    assert words("very_negative") == ["very", "negative"]


def test_each_rule_gives_its_reason():
    cleaner = RecordCleaner(CleaningConfig(min_words=3))
    assert cleaner.check("  ... !! ") == "empty"
    assert cleaner.check(ENGLISH, truncated=True) == "truncated"
    assert cleaner.check("2021-09-23 13:17:54.1549") == "not_text"
    assert cleaner.check("Sold out") == "too_short"
    assert cleaner.check("Positive!", label="positive") == "restates_label"
    assert cleaner.check(FRENCH, language="en") == "wrong_language"
    assert cleaner.check(ENGLISH, language="en") is None
    assert cleaner.check("the NEW tent kept us, perfectly dry during three nights of heavy mountain rain") == (
        "exact_duplicate"
    )
    assert cleaner.check(LONG) is None
    assert cleaner.check(LONG + " Recommended.") == "near_duplicate"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("10.05.2014", False),
        ("185.25%", False),
        ("385.21Kg/727.6Lbs/144Kgs/247.9Lbs/38.1Ml/50Lt", False),
        ("🍁💪, 🌳💪, 👐🎚, 👃🎦,👩👧, 6.5/12.5", False),
        ("PirateSoul S-A-1040, A 10.4kGK, 32g S/S, 25/75T, A2018.43.26.6", False),
        ("100% Product Refuse 2,100,SUNYBA,AARM-38363986", False),
        ("#53B5EB89-D30F-4A7C-8E2D-6E1C9E07E2A7_NON_POSITIVE_LANGUAGERS_INSPIRED-LASCAR", False),
        ("2022-07-18T17:33:23.59.1465844+0000,Soyof,Mantra,Foogladei,Otterstegladei", False),
        ("The XJ-2000-PRO-ULTRA headlamp lasted the whole trip on one charge.", True),
        ("我2023年买了X200型号的帐篷，非常好用。", True),
        ("Solve 3x + 5 = 20 for x.", True),
        ("I paid $129.99 on 2024-03-02 and it broke after 3 days!", True),
        ("मुझे यह तंबू बहुत पसंद आया, बारिश में भी सूखा रहा।", True),  # vowel signs count with their letters
        ("هذه الخيمة رائعة جداً", True),
        ("这个帐篷非常好用，下雨也不漏水。", True),
        ("Great! 👍", True),
    ],
)
def test_not_text_drops_numbers_codes_and_emoji_but_not_prose_in_any_script(text, kept):
    cleaner = RecordCleaner(CleaningConfig())  # on unless switched off
    assert (cleaner.check(text) is None) is kept


def test_not_text_is_on_for_prose_types_and_off_for_the_generic_pipeline_unless_asked(tmp_path):
    from datafast.datasets import GenericPipelineDataset
    from datafast.schema.config import GenericPipelineDatasetConfig

    classification = ClassificationDataset(ClassificationDatasetConfig(classes=[{"name": "a", "description": "b"}]))
    assert classification.cleaning().drop_non_text is True
    rows = [{"question": "What is 6 times 7?"}]
    pipeline = GenericPipelineDataset(
        GenericPipelineDatasetConfig(
            input_rows=rows,
            input_columns=["question"],
            output_columns=["answer"],
            prompts=["Answer {question} in {language_name}."],
        )
    )
    assert pipeline.cleaning().drop_non_text is False
    assert RecordCleaner(pipeline.cleaning()).check("42") is None
    asked = GenericPipelineDatasetConfig(**{**pipeline.config.model_dump(), "cleaning": {"drop_non_text": True}})
    assert GenericPipelineDataset(asked).cleaning().drop_non_text is True


def test_truncated_text_is_not_remembered():
    cleaner = RecordCleaner(CleaningConfig())
    assert cleaner.check(ENGLISH, truncated=True) == "truncated"
    assert cleaner.check(ENGLISH) is None


def test_every_rule_can_be_switched_off():
    config = CleaningConfig(
        drop_empty=False,
        drop_truncated=False,
        drop_non_text=False,
        label_restatement=False,
        wrong_language=False,
        exact_duplicates=False,
        near_duplicates=False,
    )
    cleaner = RecordCleaner(config)
    for text, options in [
        ("", {}),
        (ENGLISH, {"truncated": True}),
        ("positive", {"label": "positive"}),
        (FRENCH, {"language": "en"}),
        (ENGLISH, {}),
        (ENGLISH.replace("three", "four"), {}),
    ]:
        assert cleaner.check(text, **options) is None


def test_exact_duplicates_off_still_catches_them_as_near_duplicates():
    cleaner = RecordCleaner(CleaningConfig(exact_duplicates=False))
    assert cleaner.check(ENGLISH) is None
    assert cleaner.check(ENGLISH.upper()) == "near_duplicate"


def test_label_restatement_definition():
    def restates(text, label, extra=3):
        return restates_label(words(text), label, extra)

    assert restates("positive", "positive")
    assert restates("This is positive.", "positive")
    assert restates("Label: Very Negative", "very_negative")
    assert not restates("This review is positive overall!", "positive")  # 4 other words
    assert not restates("I felt positive about the whole trip", "positive")
    assert not restates("negative very", "very_negative")  # not in order
    assert restates("This review is positive overall!", "positive", extra=4)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (ENGLISH, "en"),
        (FRENCH, "fr"),
        ("Das Zelt ist wasserdicht, leicht und in fünf Minuten aufgebaut.", "de"),
        ("El servicio fue terrible y la comida llegó fría a la mesa.", "es"),
        ("The kayak is stable enough for beginners and fast enough for me.", "en-GB"),
    ],
)
def test_right_language_is_kept(text, language):
    assert RecordCleaner(CleaningConfig()).check(text, language=language) is None


@pytest.mark.parametrize(
    ("text", "language"),
    [(ENGLISH, "fr"), (FRENCH, "en"), ("Ce kayak est stable pour les débutants et assez rapide pour moi.", "en")],
)
def test_wrong_language_is_dropped(text, language):
    assert RecordCleaner(CleaningConfig()).check(text, language=language) == "wrong_language"


@pytest.mark.parametrize("text", ["Great kayak.", "Super tente !", "Terrible service", "ok", "Merci beaucoup"])
def test_short_texts_the_identifier_is_unsure_of_are_kept_in_any_language(text):
    assert RecordCleaner(CleaningConfig()).check(text, language="de") is None


def test_unknown_language_code_is_not_judged():
    assert RecordCleaner(CleaningConfig()).check(ENGLISH, language="tlh") is None


def test_remember_seeds_duplicates():
    cleaner = RecordCleaner(CleaningConfig())
    cleaner.remember(ENGLISH)
    cleaner.remember(LONG)
    assert cleaner.check(LONG.lower()) == "exact_duplicate"
    assert cleaner.check(LONG.replace("rocky ground.", "rocky ground. Recommended!")) == "near_duplicate"
    # One word of 40 changed: 36 of 42 shingles shared, Jaccard 0.857 >= 0.8.
    assert cleaner.check(LONG.replace("heavy", "light")) == "near_duplicate"
    assert cleaner.check(ENGLISH.replace("heavy", "light")) is None  # 9 of 15 shared in a short text: 0.6


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("near_duplicate_threshold", 0, "near_duplicate_threshold is 0"),
        ("near_duplicate_threshold", 1.2, "above 0 and at most 1"),
        ("language_min_confidence", 0, "language_min_confidence is 0"),
        ("language_min_chars", 0, "language_min_chars is 0"),
        ("label_restatement_max_extra_words", -1, "label_restatement_max_extra_words is -1"),
        ("min_words", -2, "min_words is -2: use 0 or more"),
        ("min_letter_share", 0, "min_letter_share is 0"),
        ("min_letter_share", 50, "above 0 and at most 1"),
        ("drop_emptyy", True, "drop_emptyy"),
    ],
)
def test_config_errors_name_the_field(field, value, message):
    with pytest.raises(ValidationError, match=message):
        CleaningConfig(**{field: value})


def test_cleaning_is_part_of_dataset_configs():
    config = ClassificationDatasetConfig(
        classes=[{"name": "a", "description": "b"}], cleaning={"near_duplicate_threshold": 0.9}
    )
    assert config.cleaning.near_duplicate_threshold == 0.9
    assert ClassificationDatasetConfig(classes=[{"name": "a", "description": "b"}]).cleaning == CleaningConfig()


def test_dropped_path_is_next_to_the_output(tmp_path):
    assert dropped_path(tmp_path / "sentiment.jsonl") == tmp_path / "sentiment.dropped.jsonl"


def test_generated_dataset_with_planted_duplicates(llm_server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    output = tmp_path / "sentiment.jsonl"
    config = ClassificationDatasetConfig(
        classes=[
            {"name": "positive", "description": "Text expressing positive emotions"},
            {"name": "negative", "description": "Text expressing negative emotions"},
        ],
        num_samples_per_prompt=4,
        output_file=str(output),
    )
    dataset = ClassificationDataset(config)
    dataset.generate([OpenAIProvider()], show_progress=False, retry=FAST_RETRY)
    generated = [row.model_dump(mode="json") for row in dataset.data_rows]
    assert len(generated) == 8

    def planted(source, text, suffix):
        return {**source, "uuid": source["uuid"] + suffix, "text": text}

    first, second, third = generated[0], generated[1], generated[2]
    # The server writes short sentences; a longer record made of three of them carries the near-duplicate plant.
    long_text = " ".join(r["text"] for r in generated[5:8])
    long_record = planted(second, long_text, "-long")
    near_text = long_text + " Truly."  # one word more: all 3-word shingles but one shared
    stream = [
        *generated[:4],
        long_record,
        planted(first, "  " + first["text"].upper().replace(".", " !! ") + "   ", "-case"),
        planted(third, third["text"].replace(" ", "\n  "), "-space"),
        planted(second, near_text, "-near"),
        planted(first, first["label"].capitalize() + ".", "-label"),
        *generated[4:],
        planted(generated[5], "", "-empty"),
        planted(generated[6], generated[6]["text"].lower().rstrip(".") + "?", "-punct"),
    ]
    cleaner = RecordCleaner(config.cleaning)
    kept = []
    with DroppedRecords(output) as dropped:
        for record in stream:
            reason = cleaner.check(record["text"], language=record["language"], label=record["label"])
            if reason is None:
                kept.append(record)
            else:
                dropped.add(reason, record)

    assert [r["uuid"] for r in kept] == [r["uuid"] for r in generated[:4]] + [long_record["uuid"]] + [
        r["uuid"] for r in generated[4:]
    ]
    lines = [json.loads(line) for line in dropped_path(output).read_text().splitlines()]
    assert [(line["reason"], line["record"]["uuid"]) for line in lines] == [
        ("exact_duplicate", first["uuid"] + "-case"),
        ("exact_duplicate", third["uuid"] + "-space"),
        ("near_duplicate", second["uuid"] + "-near"),
        ("restates_label", first["uuid"] + "-label"),
        ("empty", generated[5]["uuid"] + "-empty"),
        ("exact_duplicate", generated[6]["uuid"] + "-punct"),
    ]
    assert lines[2]["record"] == planted(second, near_text, "-near")
    assert lines[2]["record"]["text"] != long_text
    assert list(DroppedRecords(output).read()) == lines

    # On resume the kept records seed a new cleaner: the same plants are dropped again.
    resumed = RecordCleaner(config.cleaning)
    for record in kept:
        resumed.remember(record["text"])
    assert resumed.check(generated[7]["text"]) == "exact_duplicate"
    assert resumed.check(near_text) == "near_duplicate"
    assert resumed.check(first["text"].lower()) == "exact_duplicate"


def test_dropped_records_rejects_unknown_reason(tmp_path):
    with DroppedRecords(tmp_path / "x.jsonl") as dropped, pytest.raises(ValueError, match="unknown drop reason"):
        dropped.add("boring", {"text": "x"})
