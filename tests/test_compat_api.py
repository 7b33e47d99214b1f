"""Datafast 0.0.36's API kept (issue #13 items 2 and 3): the OpenRouter and Mistral providers, 0.0.36's
provider arguments and batch `generate()`, and its config fields, placeholders, sources, dataset type names and
dataset methods, each through the local LLM server over real HTTP where it sends requests."""

import io
import json
import logging
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants
import pyarrow.parquet as pq
import pytest
from conftest import FAST_RETRY
from hub_stand_in import HubStandIn
from pydantic import BaseModel, ValidationError

from datafast.datasets import (
    ClassificationDataset,
    GenericPipelineDataset,
    MCQDataset,
    PreferenceDataset,
    UltrachatDataset,
)
from datafast.datasets.registry import DATASET_TYPES
from datafast.engine import work_key
from datafast.errors import ConfigError, MissingAPIKeyError, ProviderError
from datafast.llms import (
    PROVIDERS,
    AnthropicProvider,
    GeminiProvider,
    MistralProvider,
    OllamaProvider,
    OpenAIProvider,
    OpenRouterProvider,
)
from datafast.llms.registry import providers_from_specs
from datafast.planning import plan_run
from datafast.schema.config import (
    CONFIG_TYPES,
    ClassificationDatasetConfig,
    GenericPipelineDatasetConfig,
    MCQDatasetConfig,
    PreferenceDatasetConfig,
    RawDatasetConfig,
    UltrachatDatasetConfig,
)
from datafast.schema.loading import load_dataset_config
from datafast.testing import key_hash
from datafast.testing.protocols import OPENROUTER_PRICE_PER_TOKEN

KEY = "sk-compat-0123456789"


@pytest.fixture(autouse=True)
def no_new_provider_variables(monkeypatch):
    """The variables this file's providers read are not the developer's."""
    for name in (
        "OPENROUTER_API_KEY",
        "OPENROUTER_API_BASE",
        "OPENROUTER_BASE_URL",
        "MISTRAL_API_KEY",
        "MISTRAL_API_BASE",
        "MISTRAL_BASE_URL",
        "OLLAMA_API_BASE",
    ):
        monkeypatch.delenv(name, raising=False)


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


class City(BaseModel):
    city: str


# -- providers: OpenRouter and Mistral ----------------------------------------------------------------------


def test_openrouter_by_its_environment_variables(llm_server, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    monkeypatch.setenv("OPENROUTER_API_BASE", llm_server.openrouter_base)
    llm = OpenRouterProvider()
    assert llm.model_id == "openai/gpt-5-mini" and llm.env_key_name == "OPENROUTER_API_KEY"
    assert isinstance(llm.generate("Biggest city in France?", response_format=City), City)
    (request,) = llm_server.requests()
    assert (request.protocol, request.path) == ("openrouter", "/api/v1/chat/completions")
    assert request.model == "openai/gpt-5-mini" and request.api_key_sha256 == key_hash(KEY)
    assert request.schema_requested


def test_openrouter_dataset_run_costs_what_openrouter_reports(llm_server, tmp_path):
    llm = OpenRouterProvider("qwen/qwen3-next-80b-a3b-instruct", api_key=KEY, api_base=llm_server.openrouter_base)
    config = ClassificationDatasetConfig(
        classes=[{"name": "yes", "description": "agrees"}, {"name": "no", "description": "disagrees"}],
        num_samples_per_prompt=2,
        output_file=str(tmp_path / "out.jsonl"),
    )
    dataset = ClassificationDataset(config).generate([llm], show_progress=False, retry=FAST_RETRY)
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 4
    log = llm_server.requests()
    tokens = sum(r.prompt_tokens + r.completion_tokens for r in log)
    assert dataset.stats is not None
    assert dataset.stats.cost_usd == pytest.approx(tokens * OPENROUTER_PRICE_PER_TOKEN)


def test_mistral_by_its_environment_variables(llm_server, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    monkeypatch.setenv("MISTRAL_API_BASE", llm_server.openai_base)
    llm = MistralProvider(temperature=0.2)
    assert llm.model_id == "mistral-small-latest" and llm.env_key_name == "MISTRAL_API_KEY"
    assert isinstance(llm.generate("Biggest city in Italy?", response_format=City), City)
    (request,) = llm_server.requests()
    assert (request.path, request.model) == ("/v1/chat/completions", "mistral-small-latest")
    assert request.api_key_sha256 == key_hash(KEY) and request.params == {"temperature": 0.2}


def test_hosted_defaults_keys_and_config_file_entries():
    assert OpenRouterProvider(api_key=KEY).api_base == "https://openrouter.ai/api/v1"
    assert MistralProvider(api_key=KEY).api_base == "https://api.mistral.ai/v1"
    with pytest.raises(MissingAPIKeyError, match="OPENROUTER_API_KEY"):
        OpenRouterProvider()
    with pytest.raises(MissingAPIKeyError, match="MISTRAL_API_KEY"):
        MistralProvider()
    assert PROVIDERS["openrouter"] is OpenRouterProvider and PROVIDERS["mistral"] is MistralProvider
    specs = [
        {"provider": "openrouter", "model_id": "z-ai/glm-4.6", "frequency_penalty": 0.5},
        {"provider": "mistral", "reasoning_effort": "low"},
    ]
    built = providers_from_specs(specs, "c.yaml", require_keys=False)
    assert [type(p) for p in built] == [OpenRouterProvider, MistralProvider]
    assert built[0].frequency_penalty == 0.5 and built[1].reasoning_effort == "low"


# -- 0.0.36's provider arguments ----------------------------------------------------------------------------


def test_frequency_penalty_and_reasoning_effort_reach_the_wire_and_the_work_keys(openai_env):
    plain = OpenAIProvider()
    penalised = OpenAIProvider(frequency_penalty=0.7)
    reasoning = OpenAIProvider("gpt-5-mini", reasoning_effort="high")
    for llm in (plain, penalised, reasoning):
        llm.generate("Name a city.")
    params = [r.params for r in openai_env.requests()]
    assert params == [{}, {"frequency_penalty": 0.7}, {"reasoning_effort": "high"}]
    # They shape answers, so they are part of the work keys; left out, the keys are those of earlier runs.
    assert set(plain.generation_params()) == {
        "provider", "model_id", "temperature", "top_p", "max_completion_tokens", "string_max_length"
    }  # fmt: skip
    assert penalised.generation_params()["frequency_penalty"] == 0.7
    messages = [{"role": "user", "content": "x"}]
    assert work_key(messages, plain, None, "s", 0) != work_key(messages, penalised, None, "s", 0)
    with pytest.raises(ConfigError, match=r"frequency_penalty must be between -2\.0 and 2\.0"):
        OpenAIProvider(frequency_penalty=3)
    with pytest.raises(ConfigError, match="reasoning_effort must be one of"):
        OpenAIProvider(reasoning_effort="extreme")


def test_positional_arguments_in_0036_order(llm_server):
    openai = OpenAIProvider("gpt-5-mini", KEY, 300, "low", None, None, 0.1, 30)
    assert (openai.max_completion_tokens, openai.reasoning_effort, openai.frequency_penalty) == (300, "low", 0.1)
    assert openai.timeout == 30
    anthropic = AnthropicProvider("claude-haiku-4-5-20251001", KEY, 0.3, 50, 20)
    assert (anthropic.temperature, anthropic.max_completion_tokens, anthropic.timeout) == (0.3, 50, 20)
    gemini = GeminiProvider("gemini-2.0-flash", KEY, 0.5, 100, 0.9, 0.2, 15, None)
    assert (gemini.top_p, gemini.frequency_penalty, gemini.rpm_limit, gemini.timeout) == (0.9, 0.2, 15, 120)
    ollama = OllamaProvider("gemma3:4b", 0.4, 64, 0.8, 0.3, llm_server.url, 10)
    assert (ollama.temperature, ollama.api_base, ollama.rpm_limit) == (0.4, llm_server.url, 10)
    router = OpenRouterProvider("z-ai/glm-4.6", KEY, 1.0, 200, 0.95, 0.0, 60)
    assert (router.top_p, router.timeout) == (0.95, 60)
    mistral = MistralProvider("mistral-large-latest", KEY, 0.1, 10, 0.5, 0.0, 30, 45)
    assert (mistral.rpm_limit, mistral.timeout) == (30, 45)
    with pytest.raises(TypeError, match="takes at most 8 positional arguments"):
        OpenAIProvider("m", KEY, 1, "low", 0.1, 0.1, 0.1, 10, "extra")
    with pytest.raises(TypeError, match="multiple values for argument 'api_key'"):
        OpenAIProvider("m", KEY, api_key=KEY)


def test_timeout_none_and_ollama_api_base(llm_server, monkeypatch):
    assert OpenAIProvider(api_key=KEY, timeout=None).timeout == 120
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("OLLAMA_API_BASE", llm_server.url)  # 0.0.36's variable (LiteLLM's), before OLLAMA_HOST
    llm = OllamaProvider("llama3")
    assert llm.api_base == llm_server.url and llm.env_key_name == "OLLAMA_API_BASE"
    assert isinstance(llm.generate("Say hi."), str)
    assert [r.protocol for r in llm_server.requests()] == ["ollama"]


def test_env_key_name_of_each_provider():
    names = {
        OpenAIProvider: "OPENAI_API_KEY",
        AnthropicProvider: "ANTHROPIC_API_KEY",
        GeminiProvider: "GEMINI_API_KEY",
        OpenRouterProvider: "OPENROUTER_API_KEY",
        MistralProvider: "MISTRAL_API_KEY",
    }
    for cls, name in names.items():
        assert cls(api_key=KEY).env_key_name == name


# -- generate() on lists: 0.0.36's batch form, asked concurrently -------------------------------------------


def test_generate_a_list_of_prompts_concurrently_in_order(openai_env):
    openai_env.set_behavior(latency_s=0.2)
    prompts = [f"Name city number {i}." for i in range(8)]
    answers = OpenAIProvider().generate(prompts, response_format=City)
    assert len(answers) == 8 and all(isinstance(a, City) for a in answers)
    log = openai_env.requests()
    assert sorted(r.prompt_text for r in log) == sorted(prompts)
    assert openai_env.stats().max_in_flight == 8  # all at once, not one after another
    # Each answer is the one to its own prompt, in the order given: the server's answer is seeded by the prompt
    # and how often it was asked, so after a reset the same prompts asked one by one get the same answers.
    openai_env.reset()
    openai_env.set_behavior(latency_s=0.0)
    assert answers == [OpenAIProvider().generate(p, response_format=City) for p in prompts]


def test_generate_a_list_of_conversations_and_the_single_forms(openai_env):
    llm = OpenAIProvider(max_concurrency=2)
    conversations = [[{"role": "user", "content": f"Question {i}?"}] for i in range(3)]
    texts = llm.generate(messages=conversations)
    assert isinstance(texts, list) and len(texts) == 3 and all(isinstance(t, str) and t for t in texts)
    assert isinstance(llm.generate(messages=conversations[0]), str)
    assert isinstance(llm.generate("One question?"), str)
    assert isinstance(llm.generate("One question?", None, City), City)  # 0.0.36's positional order
    assert openai_env.stats().max_in_flight <= 2
    with pytest.raises(ConfigError, match="not both or neither"):
        llm.generate()
    with pytest.raises(ConfigError, match="non-empty list of prompts"):
        llm.generate([])
    with pytest.raises(ConfigError, match="role"):
        llm.generate(messages=[["not a message"]])


def test_generate_asks_again_after_a_429_and_names_a_question_that_fails_for_good(openai_env):
    openai_env.set_behavior(script=["429"], retry_after_s=0.05)
    assert len(OpenAIProvider().generate(["a?", "b?"])) == 2
    assert sorted(r.outcome for r in openai_env.requests()) == ["429", "ok", "ok"]

    llm = OpenAIProvider(api_base=openai_env.url + "/nowhere")  # every request is a 404: no retry helps
    with pytest.raises(ProviderError, match=r"question 1 of 2 failed: .*404.* \(1 more failed\)"):
        llm.generate(["a?", "b?"])


# -- dataset_type names of 0.0.36 -----------------------------------------------------------------------------

ALIASES = {
    "text": RawDatasetConfig,
    "instruction_dataset": UltrachatDatasetConfig,
    "mcq_dataset": MCQDatasetConfig,
    "preference_dataset": PreferenceDatasetConfig,
    "generic_pipeline_dataset": GenericPipelineDatasetConfig,
    "text_classification": ClassificationDatasetConfig,
}


def test_0036_dataset_type_names_find_the_same_config_class(tmp_path):
    for alias, cls in ALIASES.items():
        assert CONFIG_TYPES[alias] is cls and alias in CONFIG_TYPES
        assert DATASET_TYPES[alias] is DATASET_TYPES[cls.model_fields["dataset_type"].default]
    assert "text" not in list(CONFIG_TYPES) and "raw_text" in list(CONFIG_TYPES)  # listed once, by its own name
    raw = RawDatasetConfig(dataset_type="text", document_types=["memo"], topics=["rain"])
    assert raw.dataset_type == "raw_text"
    with pytest.raises(ValidationError, match="Input should be 'raw_text'"):
        RawDatasetConfig(dataset_type="instruction_dataset", document_types=["memo"], topics=["rain"])

    path = tmp_path / "chat.yaml"
    path.write_text("dataset_type: instruction_dataset\ntopics_and_subtopics: {Space: [comets]}\n")
    config, _ = load_dataset_config(path)
    assert type(config) is UltrachatDatasetConfig and config.dataset_type == "ultrachat"
    # Same config whichever name it was given by: the same run, resumable under either.
    same = UltrachatDatasetConfig(topics_and_subtopics={"Space": ["comets"]})
    assert config.model_dump(mode="json") == same.model_dump(mode="json")


def test_unknown_fields_stay_errors_that_name_the_field(tmp_path):
    with pytest.raises(ValidationError, match="conversation_continuation_probability"):
        UltrachatDatasetConfig(topics_and_subtopics={"a": ["b"]}, conversation_continuation_probability=0.5)
    path = tmp_path / "c.yaml"
    path.write_text("dataset_type: instruction_dataset\ntopics_and_subtopics: {a: [b]}\nconversation_prob: 0.5\n")
    with pytest.raises(ConfigError, match="conversation_prob: unknown field \\(did you mean 'conversation_continu"):
        load_dataset_config(path)


# -- conversation_continuation_prob ---------------------------------------------------------------------------


def chat_config(path, **overrides):
    values = {
        "topics_and_subtopics": {"Astronomy": ["black holes", "comets"]},
        "num_samples": 4,
        "min_turns": 1,
        "max_turns": 4,
        "output_file": str(path),
    }
    return UltrachatDatasetConfig(**{**values, **overrides})


def test_conversation_continuation_prob_sets_the_turns_seeded_and_exactly_counted(openai_env, tmp_path):
    # 2 subtopics × 4 conversations: one request for each subtopic's questions, then 2 per turn.
    never = UltrachatDataset(chat_config(tmp_path / "a.jsonl", conversation_continuation_prob=0.0))
    always = UltrachatDataset(chat_config(tmp_path / "b.jsonl", conversation_continuation_prob=1.0))
    assert never.num_requests() == 2 + 8 * 2 * 1 and always.num_requests() == 2 + 8 * 2 * 4
    from_two = UltrachatDataset(chat_config(tmp_path / "c.jsonl", conversation_continuation_prob=0.0, min_turns=2))
    assert from_two.num_requests() == 2 + 8 * 2 * 2

    config = chat_config(tmp_path / "chat.jsonl", conversation_continuation_prob=0.5, max_turns=5)
    dataset = UltrachatDataset(config)
    planned = dataset.num_requests()
    assert planned == UltrachatDataset(config).num_requests()  # seeded: the same on every build
    dataset.generate(OpenAIProvider(), show_progress=False, retry=FAST_RETRY)
    records = read_jsonl(config.output_file)
    turns = [r["num_turns"] for r in records]
    assert len(records) == 8 and len(set(turns)) > 1 and min(turns) >= 1 and max(turns) <= 5
    assert planned == 2 + sum(2 * t for t in turns) == len(openai_env.requests())
    assert all(len(r["messages"]) == 2 * r["num_turns"] for r in records)
    with pytest.raises(ValidationError, match="conversation_continuation_prob"):
        chat_config(tmp_path / "c.jsonl", conversation_continuation_prob=1.5)


# -- generic pipeline: skip_function, {language}, .json and .txt sources ------------------------------------

ROWS = [
    {"id": "r1", "review": "Great kettle, boils fast.", "stars": 5},
    {"id": "r2", "review": "Broke after a week.", "stars": 1},
    {"id": "r3", "review": "Fine for the price.", "stars": 3},
]


def skip_low_stars(row):
    """A skip_function for the config file test: leaves out one-star reviews."""
    return row["stars"] < 2


def pipeline_config(tmp_path, **overrides):
    source = tmp_path / "reviews.json"
    source.write_text(json.dumps(ROWS, indent=2))  # a JSON array
    values = {
        "local_file_path": str(source),
        "input_columns": ["review"],
        "forward_columns": ["id"],
        "output_columns": ["summary"],
        "prompts": ["Summarise in {language}, {num_samples} times: {review}"],
        "languages": {"en": "English", "de": "German"},
        "output_file": str(tmp_path / "out.jsonl"),
    }
    return GenericPipelineDatasetConfig(**{**values, **overrides})


def test_skip_function_rows_are_not_asked_and_language_is_filled(openai_env, tmp_path):
    seen = []

    def skip(row):
        seen.append(dict(row))
        return row["stars"] >= 5

    config = pipeline_config(tmp_path, skip_function=skip)
    dataset = GenericPipelineDataset(config)
    assert [r.document_id for r in dataset.rows] == ["r2", "r3"]
    assert [r["id"] for r in seen] == ["r1", "r2", "r3"]
    llm = OpenAIProvider()
    assert dataset.get_num_expected_rows([llm]) == 2 * 2
    dataset.generate([llm], show_progress=False)
    sent = [r.prompt_text for r in openai_env.requests()]
    assert len(sent) == 4 and not any("Great kettle" in text for text in sent)
    assert "Summarise in German, 1 times: Broke after a week." in sent
    assert {r["id"] for r in read_jsonl(config.output_file)} == {"r2", "r3"}
    assert config.model_dump(mode="json")["skip_function"].endswith("skip")

    with pytest.raises(ConfigError, match="skip_function skips every one of the 3 rows"):
        GenericPipelineDataset(pipeline_config(tmp_path, skip_function=lambda row: True)).get_num_expected_rows()
    with pytest.raises(ConfigError, match="skip_function raised KeyError on row 0"):
        GenericPipelineDataset(
            pipeline_config(tmp_path, skip_function=lambda row: row["missing"])
        ).get_num_expected_rows()
    with pytest.raises(ValidationError, match="skip_function must be a function"):
        pipeline_config(tmp_path, skip_function=3)


def test_skip_function_by_import_path_in_a_config_file(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    config = pipeline_config(tmp_path, skip_function="test_compat_api.skip_low_stars")
    assert [r.document_id for r in GenericPipelineDataset(config).rows] == ["r1", "r3"]
    with pytest.raises(ValidationError, match=r"skip_function 'test_compat_api\.nothing' is not a function"):
        pipeline_config(tmp_path, skip_function="test_compat_api.nothing")


def test_language_placeholder_is_the_column_when_a_column_has_that_name(tmp_path):
    rows = [{"text": "Hallo", "language": "de"}]
    config = GenericPipelineDatasetConfig(
        input_rows=rows,
        input_columns=["text", "language"],
        output_columns=["translation"],
        prompts=["Translate from {language} into {language_name}: {text} ({num_samples})"],
        output_file=str(tmp_path / "out.jsonl"),
    )
    (request,) = GenericPipelineDataset(config).prompt_requests()
    assert request.prompt == "Translate from de into English: Hallo (1)"
    with pytest.raises(ValidationError, match="missing the mandatory placeholder \\{language_name\\}"):
        GenericPipelineDatasetConfig(
            input_rows=rows,
            input_columns=["text", "language"],
            output_columns=["translation"],
            prompts=["Translate {text} from {language}"],
            languages={"en": "English", "fr": "French"},
        )


def test_json_lines_and_txt_sources(tmp_path):
    lines = tmp_path / "rows.json"
    lines.write_text("".join(json.dumps(r) + "\n" for r in ROWS))  # 0.0.36 read .json as JSON lines
    rows = GenericPipelineDataset(pipeline_config(tmp_path, local_file_path=str(lines))).rows
    assert [r.document_id for r in rows] == ["r1", "r2", "r3"]

    text = tmp_path / "docs.txt"
    text.write_text("The Danube flows through ten countries.\n\n  Photosynthesis turns light into energy.  \n")
    config = MCQDatasetConfig(
        local_file_path=str(text), text_column="body", min_document_length=10, output_file=str(tmp_path / "m.jsonl")
    )
    dataset = MCQDataset(config)
    assert [r.values for r in dataset.rows] == [
        {"body": "The Danube flows through ten countries."},
        {"body": "Photosynthesis turns light into energy."},
    ]
    pipeline = GenericPipelineDataset(
        GenericPipelineDatasetConfig(
            local_file_path=str(text),
            input_columns=["text"],
            output_columns=["fact"],
            prompts=["One fact from: {text}"],
            output_file=str(tmp_path / "g.jsonl"),
        )
    )
    assert len(pipeline.rows) == 2
    bad = tmp_path / "bad.json"
    bad.write_text('[{"a": 1}, "b"]')
    with pytest.raises(ConfigError, match="item 1 of the array is a str"):
        GenericPipelineDataset(pipeline_config(tmp_path, local_file_path=str(bad))).get_num_expected_rows()


# -- classification: {labels_listing} ------------------------------------------------------------------------


def test_labels_listing_names_every_class(tmp_path):
    config = ClassificationDatasetConfig(
        classes=[
            {"name": "positive", "description": "happy"},
            {"name": "negative", "description": "unhappy"},
            {"name": "neutral", "description": "neither"},
        ],
        prompts=["Classes: {labels_listing}. Write {num_samples} texts of class {label_name}."],
        output_file=str(tmp_path / "c.jsonl"),
    )
    prompts = [r.prompt for r in ClassificationDataset(config).prompt_requests()]
    assert prompts[0] == "Classes: positive, negative, neutral. Write 5 texts of class positive."
    assert len(prompts) == 3


# -- preference: evolution_llm ------------------------------------------------------------------------------

DOCS = [
    "Doc-A. Honey never spoils because its low water content and acidity stop microbes from growing.",
    "Doc-B. The Rhine flows from the Swiss Alps to the North Sea through six countries.",
]


def test_preference_evolution_llm_evolves_the_questions(openai_env, tmp_path):
    config = PreferenceDatasetConfig(
        input_documents=DOCS, num_samples_per_prompt=2, evol_instruct=True, output_file=str(tmp_path / "p.jsonl")
    )
    dataset = PreferenceDataset(config)
    question, chosen, rejected = OpenAIProvider(), OpenAIProvider("gpt-4.1"), OpenAIProvider("gpt-4o-mini")
    evolution = OpenAIProvider("gpt-5-mini")
    plan = plan_run(dataset, {"question": question, "chosen": chosen, "rejected": rejected, "evolution": evolution})
    assert plan.requests_by_role == {"question": 2, "chosen": 4, "rejected": 4, "evolution": 4}
    assert {p.name: p.requests for p in plan.providers}["openai/gpt-5-mini"] == 4
    dataset.generate(question, chosen, rejected, evolution_llm=evolution, show_progress=False, retry=FAST_RETRY)
    evolved = [r for r in openai_env.requests() if "harder version" in r.prompt_text]
    assert len(evolved) == 4 and {r.model for r in evolved} == {"gpt-5-mini"}
    rows = read_jsonl(config.output_file)
    assert len(rows) == 4 and all(r["question_model_id"] == "gpt-5-mini" and r["original_question"] for r in rows)

    # Without evolution_llm, the question LLM evolves them, and counts them as its own.
    assert dataset.num_requests_by_role() == {"question": 2 + 4, "chosen": 4, "rejected": 4}
    plain = plan_run(dataset, {"question": question, "chosen": chosen, "rejected": rejected})
    assert {p.name: p.requests for p in plain.providers}["openai/gpt-4.1-mini"] == 6

    unevolved = PreferenceDataset(PreferenceDatasetConfig(input_documents=DOCS, output_file=str(tmp_path / "q.jsonl")))
    with pytest.raises(ConfigError, match="evolution_llm is given but evol_instruct is false"):
        unevolved.generate(question, chosen, rejected, evolution_llm=evolution)


# -- MCQ: get_num_expected_rows(llms, source_data_num_rows) ----------------------------------------------------


def test_mcq_expected_rows_takes_0036_source_data_num_rows(tmp_path, caplog):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": f"Document {i} " + "word " * 30}) + "\n" for i in range(5)))
    dataset = MCQDataset(
        MCQDatasetConfig(local_file_path=str(docs), text_column="text", sample_count=4, output_file=str(tmp_path / "m"))
    )
    llms = [OpenAIProvider(api_key=KEY), OpenAIProvider("gpt-4.1", api_key=KEY)]
    assert dataset.get_num_expected_rows(llms) == 4 * 3 * 2
    with caplog.at_level(logging.WARNING, logger="datafast"):
        assert dataset.get_num_expected_rows(llms, source_data_num_rows=20) == 4 * 3 * 2  # sample_count: 4
        assert not caplog.records
        assert dataset.get_num_expected_rows(llms, 3) == 4 * 3 * 2
    assert "source_data_num_rows=3, but 4 documents" in caplog.text


# -- to_jsonl(filepath, rows, append) and push_to_hub(shuffle, commit_message, upload_card) -------------------


def small_run(tmp_path):
    config = ClassificationDatasetConfig(
        classes=[{"name": "yes", "description": "agrees"}, {"name": "no", "description": "disagrees"}],
        num_samples_per_prompt=3,
        output_file=str(tmp_path / "run.jsonl"),
    )
    return ClassificationDataset(config).generate(OpenAIProvider(), show_progress=False, retry=FAST_RETRY)


def test_to_jsonl_rows_and_append(openai_env, tmp_path):
    dataset = small_run(tmp_path)
    copy = tmp_path / "copy" / "rows.jsonl"
    dataset.to_jsonl(str(copy), dataset.data_rows[:2])
    dataset.to_jsonl(copy, dataset.data_rows[2:3], append=True)
    dataset.to_jsonl(copy, [], append=True)
    assert [r["uuid"] for r in read_jsonl(copy)] == [r.uuid for r in dataset.data_rows[:3]]
    copy.write_text(copy.read_text().rstrip("\n"))  # a file whose last line has no newline
    dataset.to_jsonl(copy, rows=dataset.data_rows[3:4], append=True)
    assert [r["uuid"] for r in read_jsonl(copy)] == [r.uuid for r in dataset.data_rows[:4]]
    dataset.to_jsonl(copy)  # no append: replaced by every record
    assert len(read_jsonl(copy)) == 6
    with pytest.raises(ConfigError, match="this dataset's output file"):
        dataset.to_jsonl(tmp_path / "run.jsonl", append=True)


def test_push_to_hub_with_0036_arguments(openai_env, tmp_path, monkeypatch):
    dataset = small_run(tmp_path)
    messages = []
    create_commit = huggingface_hub.HfApi.create_commit

    def recording(self, *args, **kwargs):
        messages.append(kwargs.get("commit_message"))
        return create_commit(self, *args, **kwargs)

    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", recording)
    with HubStandIn() as hub:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.endpoint)
        # 0.0.36's positional order: repo_id, token, private, commit_message, train_size, seed, shuffle.
        dataset.push_to_hub("me/ordered", "hf_x", True, "first push", 0.5, None, False, upload_card=False)
        files = hub.files["me/ordered"]
        assert "README.md" not in files

        def uuids(split):
            return pq.read_table(io.BytesIO(files[f"data/{split}-00000-of-00001.parquet"])).column("uuid").to_pylist()

        in_order = [r.uuid for r in dataset.data_rows]
        assert uuids("train") == in_order[:3] and uuids("test") == in_order[3:]  # no shuffle: file order
        dataset.push_to_hub("me/shuffled", token="hf_x", train_size=0.5, shuffle=True)
        assert "README.md" in hub.files["me/shuffled"]
    assert messages == ["first push", "Upload dataset generated with datafast"]


# -- the 0.0.36 sdist's examples (benchmarks/run_036_examples.py runs them all) ----------------------------


def test_generic_pipeline_output_columns_default_to_generated_text(openai_env, tmp_path):
    # generic_pipeline_row_model_example.py: a config without output_columns, as 0.0.36 allowed.
    from datafast.utils import create_generic_pipeline_row_model

    config = pipeline_config(tmp_path, output_columns=None, forward_columns=None)
    assert config.output_columns == ["generated_text"]
    row = create_generic_pipeline_row_model(config)(review="x", generated_text="a summary", model_id="gpt-4")
    assert row.generated_text == "a summary"
    GenericPipelineDataset(config).generate(OpenAIProvider(), show_progress=False, retry=FAST_RETRY)
    records = read_jsonl(config.output_file)
    assert len(records) == 3 * 2 and all(r["generated_text"] for r in records)
    with pytest.raises(ValidationError, match="not both"):
        pipeline_config(tmp_path, output_model=City)


def test_source_datasets_are_built_without_reading_their_source(openai_env, tmp_path, monkeypatch):
    # show_dataset_examples.py builds an MCQDataset over "dummy.jsonl" (which does not exist) only to show
    # rows set by hand; 0.0.36 read the source in generate, and so does datafast now (still before asking).
    monkeypatch.chdir(tmp_path)
    mcq = MCQDataset(MCQDatasetConfig(text_column="source_document", local_file_path="dummy.jsonl"))
    mcq.data_rows = []
    pipeline = GenericPipelineDataset(pipeline_config(tmp_path, local_file_path="dummy.jsonl"))
    preference = PreferenceDataset(PreferenceDatasetConfig(local_file_path="dummy.jsonl", llm_as_judge=False))
    for dataset in (mcq, pipeline):
        with pytest.raises(ConfigError, match=r"'dummy\.jsonl': file not found"):
            dataset.generate(OpenAIProvider(), show_progress=False)
    with pytest.raises(ConfigError, match=r"'dummy\.jsonl': file not found"):
        preference.generate(OpenAIProvider(), OpenAIProvider(), OpenAIProvider(), show_progress=False)
    assert openai_env.requests() == []


def test_an_ultrachat_config_without_topics_builds_and_asks_for_one_when_run(openai_env, tmp_path, monkeypatch):
    # show_dataset_examples.py: UltrachatDataset(UltrachatDatasetConfig()) only holds rows set by hand.
    monkeypatch.chdir(tmp_path)
    dataset = UltrachatDataset(UltrachatDatasetConfig())
    assert dataset.config.topics_and_subtopics == {}
    with pytest.raises(ConfigError, match="topics_and_subtopics is empty: give at least one topic"):
        dataset.get_num_expected_rows()
    with pytest.raises(ConfigError, match="topics_and_subtopics is empty"):
        dataset.generate(OpenAIProvider(), show_progress=False)
    assert openai_env.requests() == []
