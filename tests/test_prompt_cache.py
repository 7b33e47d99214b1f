"""Prompt-cache-aware prompts (#14): every default template puts its fixed instructions first, and
`AnthropicProvider(cache_prompt_prefix=True)` marks that fixed prefix with `cache_control`, over real HTTP
through LiteLLM's Anthropic wire format to the test server. Without the option, requests and work keys are
what they were."""

import asyncio
import json
import logging
import pickle
import sqlite3
import urllib.request
from pathlib import Path

import pytest
from cli_run import run_datafast
from concept_examples import concept_classification
from conftest import FAST_RETRY
from pydantic import BaseModel

from datafast.datasets import (
    ClassificationDataset,
    MCQDataset,
    PreferenceDataset,
    RawDataset,
    UltrachatDataset,
)
from datafast.engine.work import work_key
from datafast.errors import ConfigError
from datafast.expansion import Prompt, PromptTemplate
from datafast.llms import AnthropicProvider, GeminiProvider, OllamaProvider, OpenAIProvider
from datafast.llms.prompt_cache import mark_fixed_prefix, min_cacheable_tokens
from datafast.llms.registry import providers_from_specs
from datafast.schema.config import (
    ClassificationDatasetConfig,
    MCQDatasetConfig,
    PreferenceDatasetConfig,
    RawDatasetConfig,
    UltrachatDatasetConfig,
)

KEY = "sk-ant-test"
DOCUMENTS = [
    "The Danube flows through ten countries, more than any other river in the world, on its way to the Black Sea.",
    "Photosynthesis turns light into chemical energy: water is split, oxygen released, and sugars are built.",
    "The printing press spread across Europe after 1450 and made books cheap enough for many more readers.",
]
# The languages, classes, topics and documents of the configs below: none may be in a fixed prefix.
VARYING = ["English", "French", "positive", "negative", "composting", "cycling", "Danube", "Photosynthesis", "optics"]


def configs(tmp_path):
    """One config per dataset type (MCQ twice: with and without a context column), on default prompts."""
    languages = {"en": "English", "fr": "French"}
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": d, "title": f"title {i}"}) + "\n" for i, d in enumerate(DOCUMENTS)))
    return {
        "classification": (ClassificationDataset, concept_classification(tmp_path / "c.jsonl")),
        "raw": (
            RawDataset,
            RawDatasetConfig(
                document_types=["blog post", "FAQ answer"],
                topics=["composting", "cycling"],
                languages=languages,
                output_file=str(tmp_path / "r.jsonl"),
            ),
        ),
        "ultrachat": (
            UltrachatDataset,
            UltrachatDatasetConfig(
                topics_and_subtopics={"Physics": ["optics", "gravity"]},
                num_samples=2,
                min_turns=2,
                max_turns=2,
                languages=languages,
                output_file=str(tmp_path / "u.jsonl"),
            ),
        ),
        "mcq": (
            MCQDataset,
            MCQDatasetConfig(
                local_file_path=str(docs),
                text_column="text",
                num_samples_per_prompt=2,
                min_document_length=10,
                languages=languages,
                output_file=str(tmp_path / "m.jsonl"),
            ),
        ),
        "mcq with context": (
            MCQDataset,
            MCQDatasetConfig(
                local_file_path=str(docs),
                text_column="text",
                context_column="title",
                num_samples_per_prompt=2,
                min_document_length=10,
                languages=languages,
                output_file=str(tmp_path / "mc.jsonl"),
            ),
        ),
        "preference": (
            PreferenceDataset,
            PreferenceDatasetConfig(
                input_documents=DOCUMENTS,
                num_samples_per_prompt=2,
                evol_instruct=True,
                llm_as_judge=True,
                languages=languages,
                output_file=str(tmp_path / "p.jsonl"),
            ),
        ),
    }


TYPES = ["classification", "raw", "ultrachat", "mcq", "mcq with context", "preference"]


@pytest.mark.parametrize("name", TYPES)
def test_the_first_prompts_of_every_type_share_their_fixed_instructions_as_a_prefix(name, tmp_path):
    dataset_class, config = configs(tmp_path)[name]
    prompts = [ask.messages[0]["content"] for ask in dataset_class(config).first_asks()]
    assert len(prompts) >= 4
    assert all(isinstance(p, Prompt) for p in prompts)
    fixed = prompts[0].fixed_prefix
    # The instructions, whole: several sentences, and none of what varies from one request to the next.
    assert len(fixed) > 150 and fixed.count(".") >= 2, fixed
    assert not [word for word in VARYING if word in fixed]
    assert all(p.fixed_prefix == fixed and p.startswith(fixed) for p in prompts)
    # What varies comes after it: the prompts differ only past the fixed prefix.
    assert len({p[len(fixed) :] for p in prompts}) == len(prompts)


def test_a_prompt_is_its_text_to_everything_but_the_cache_mark():
    template = PromptTemplate.parse("Be brief and exact.\n\nLabel: {label} ({{tone}})")
    prompt = template.render({"label": "a {label}"}, {"tone": "dry"})
    assert prompt == "Be brief and exact.\n\nLabel: a {label} (dry)"
    assert prompt.fixed_prefix == "Be brief and exact.\n\nLabel: "
    assert template.fixed_prefix == prompt.fixed_prefix
    assert json.dumps([prompt]) == json.dumps([str(prompt)]) and hash(prompt) == hash(str(prompt))
    assert pickle.loads(pickle.dumps(prompt)).fixed_prefix == prompt.fixed_prefix
    assert PromptTemplate.parse("No placeholder at all.").render({}, {}).fixed_prefix == "No placeholder at all."
    assert PromptTemplate.parse("{label} first").render({"label": "x"}, {}).fixed_prefix == ""


def test_a_rendered_prompt_gives_the_same_work_key_and_request_body_as_its_plain_text(llm_server):
    prompt = PromptTemplate.parse("Fixed instructions, long enough.\n\nTopic: {topic}").render({"topic": "rivers"}, {})
    as_prompt, as_text = [{"role": "user", "content": prompt}], [{"role": "user", "content": str(prompt)}]

    class Answer(BaseModel):
        text: str

    for provider in (
        OpenAIProvider(api_key=KEY, api_base=llm_server.openai_base),
        AnthropicProvider(api_key=KEY, api_base=llm_server.url),
        GeminiProvider(api_key=KEY, api_base=llm_server.url),
        OllamaProvider(api_base=llm_server.url),
    ):
        assert work_key(as_prompt, provider, Answer, "ask", 0) == work_key(as_text, provider, Answer, "ask", 0)
        route = provider._prepare_route(Answer, None)
        assert route.encode(as_prompt)[1] == route.encode(as_text)[1], provider


def test_marking_splits_the_first_message_at_its_fixed_prefix_and_nothing_else():
    prompt = Prompt("Fixed part. Varying part.", len("Fixed part. "))
    later = {"role": "user", "content": Prompt("Another fixed. x", 15)}
    marked, prefix = mark_fixed_prefix([{"role": "system", "content": prompt}, later])
    assert prefix == "Fixed part. "
    assert marked == [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "Fixed part. ", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Varying part."},
            ],
        },
        later,  # one mark: a cache hit covers everything before it
    ]
    whole = Prompt("All of it is fixed.", 19)
    assert mark_fixed_prefix([{"role": "user", "content": whole}])[0][0]["content"] == [
        {"type": "text", "text": "All of it is fixed.", "cache_control": {"type": "ephemeral"}}
    ]
    for unmarked in ("a plain string from a caller", Prompt("x y", 0), Prompt("  \n  rest", 5)):
        messages = [{"role": "user", "content": unmarked}]
        assert mark_fixed_prefix(messages) == (messages, "")


def test_the_cache_minimum_follows_anthropics_models():
    assert min_cacheable_tokens("claude-haiku-4-5-20251001") == 4096
    assert min_cacheable_tokens("claude-opus-4-5") == 4096
    assert min_cacheable_tokens("claude-3-5-haiku-latest") == 2048
    assert min_cacheable_tokens("claude-sonnet-4-5") == 1024


def run(dataset_class, config, provider):
    """Generate with `provider` in every role; the records by uuid."""
    dataset = dataset_class(config)
    roles = dataset.roles if len(dataset.roles) > 1 else ()
    if roles:
        llms = {role: provider for role in dataset.required_roles()}
        if config.evol_instruct:
            llms["evolution"] = provider
        dataset.generate(llms, show_progress=False, retry=FAST_RETRY)
    else:
        dataset.generate(provider, show_progress=False, retry=FAST_RETRY)
    assert not dataset.failures
    lines = Path(config.output_file).read_text().splitlines()
    return {r["uuid"]: r for r in map(json.loads, lines)}


def store_keys(output_file):
    store = output_file.removesuffix(".jsonl") + ".datafast/store.sqlite"
    with sqlite3.connect(store) as db:
        return {row[0] for row in db.execute("SELECT key FROM items")}


@pytest.mark.parametrize("name", TYPES)
def test_the_option_marks_each_requests_fixed_prefix_and_changes_no_key_nor_record(
    name, llm_server, tmp_path, caplog
):
    dataset_class, config = configs(tmp_path)[name]
    plain = run(dataset_class, config, AnthropicProvider(api_key=KEY, api_base=llm_server.url))
    sent_plain = llm_server.requests()
    assert sent_plain and all(r.protocol == "anthropic" and r.cache_marked == [] for r in sent_plain)

    llm_server.reset()
    marked_config = config.model_copy(update={"output_file": config.output_file.replace(".jsonl", "-cached.jsonl")})
    cached = AnthropicProvider(api_key=KEY, api_base=llm_server.url, cache_prompt_prefix=True)
    with caplog.at_level(logging.WARNING, logger="datafast"):
        marked = run(dataset_class, marked_config, cached)
    sent_marked = llm_server.requests()

    # The same requests (the server reads the marked pieces as the one text they are), keys and records.
    assert sorted(r.prompt_text for r in sent_marked) == sorted(r.prompt_text for r in sent_plain)
    assert store_keys(marked_config.output_file) == store_keys(config.output_file)
    assert marked.keys() == plain.keys()
    field = {"classification": "text", "raw": "text", "ultrachat": "messages"}.get(name, "question")
    assert {uuid: r[field] for uuid, r in marked.items()} == {uuid: r[field] for uuid, r in plain.items()}
    # Every request carries exactly one mark, on the leading part of its prompt (the system prompt's, for a
    # chat's later turns); the requests of one template carry the same one.
    assert all(len(r.cache_marked) == 1 and r.prompt_text.startswith(r.cache_marked[0]) for r in sent_marked)
    marks = {r.cache_marked[0] for r in sent_marked}
    templates = {"classification": 1, "raw": 1, "ultrachat": 4, "mcq": 2, "mcq with context": 2, "preference": 5}
    assert len(marks) == templates[name]
    assert all(len(mark) > 150 for mark in marks)
    # The default instructions are far below what Anthropic caches for Haiku 4.5: said once per prefix.
    warnings = [r.getMessage() for r in caplog.records if "cache_prompt_prefix" in r.getMessage()]
    assert len(warnings) == len(marks) and all("below the 4096 tokens" in w for w in warnings)


def test_a_prefix_long_enough_to_cache_is_marked_without_a_warning(llm_server, tmp_path, caplog):
    instructions = "Write one realistic customer review of a product, with concrete details. " * 60
    config = ClassificationDatasetConfig(
        classes=[{"name": "positive", "description": "happy"}, {"name": "negative", "description": "unhappy"}],
        num_samples_per_prompt=1,
        prompts=[instructions + "\n\nClass: {label_name} ({num_samples} review)"],
        output_file=str(tmp_path / "long.jsonl"),
    )
    llm = AnthropicProvider("claude-sonnet-4-5", api_key=KEY, api_base=llm_server.url, cache_prompt_prefix=True)
    with caplog.at_level(logging.WARNING, logger="datafast"):
        ClassificationDataset(config).generate(llm, show_progress=False)
    assert not [r for r in caplog.records if "cache_prompt_prefix" in r.getMessage()]
    assert [r.cache_marked for r in llm_server.requests()] == [[instructions + "\n\nClass: "]] * 2


def test_what_a_batch_carries_is_the_marked_body(llm_server):
    """Batch mode hands `acomplete` a sender that gets the encoded body instead of an online request."""
    llm = AnthropicProvider(api_key=KEY, api_base=llm_server.url, cache_prompt_prefix=True, batch=True)
    fixed = "Fixed instructions, the same for all.\n\nTopic: "
    prompt = PromptTemplate.parse(fixed + "{topic}").render({"topic": "x"}, {})
    carried = []

    async def send(route, messages, data):
        carried.append(data)
        return await llm.post(route, messages, data)

    class Answer(BaseModel):
        text: str

    async def ask():
        async with llm.http.held():
            return await llm.acomplete([{"role": "user", "content": prompt}], Answer, send=send)

    assert asyncio.run(ask()).parsed.text
    (body,) = carried
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": fixed, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "x"},
    ]
    assert llm_server.requests()[0].cache_marked == [fixed]


def test_a_config_files_anthropic_entry_takes_the_option_and_another_provider_is_refused(llm_server, tmp_path):
    output = tmp_path / "sentiment.jsonl"
    config = tmp_path / "sentiment.yaml"
    body = (
        "dataset_type: text_classification\n"
        "classes: [{name: positive, description: happy}, {name: negative, description: sad}]\n"
        f"num_samples_per_prompt: 2\noutput_file: {output}\n"
    )
    config.write_text(
        body + f"llms:\n  - provider: anthropic\n    api_base: {llm_server.url}\n    cache_prompt_prefix: true\n"
    )
    result = run_datafast("generate", config, "--no-progress", env={"ANTHROPIC_API_KEY": KEY})
    assert result.returncode == 0, result.stderr
    assert len(output.read_text().splitlines()) == 4
    default = ClassificationDatasetConfig.default_prompts[0]
    assert [r.cache_marked for r in llm_server.requests()] == [[default[: default.index("{")]]] * 2

    spec = {"provider": "openai", "cache_prompt_prefix": True}
    with pytest.raises(ConfigError, match="'cache_prompt_prefix' is a setting of provider anthropic only; provider "):
        providers_from_specs([spec], "sentiment.yaml")
    with pytest.raises(ConfigError, match="cache_prompt_prefix must be true or false"):
        providers_from_specs([{"provider": "anthropic", "cache_prompt_prefix": "yes"}], "f.yaml", require_keys=False)
    with pytest.raises(TypeError, match="cache_prompt_prefix"):
        OpenAIProvider(api_key=KEY, cache_prompt_prefix=True)  # type: ignore[call-arg]


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_the_server_reads_content_block_messages_in_both_formats(wire, llm_server):
    blocks = [
        {"type": "text", "text": "Fixed instructions. ", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Varying part."},
    ]
    if wire == "openai":
        url, headers = f"{llm_server.openai_base}/chat/completions", {"Authorization": f"Bearer {KEY}"}
        body = {"model": "m", "messages": [{"role": "system", "content": blocks}, {"role": "user", "content": "Hi"}]}
    else:
        url, headers = f"{llm_server.url}/v1/messages", {"x-api-key": KEY}
        messages = [{"role": "user", "content": blocks}]
        body = {"model": "claude-x", "max_tokens": 100, "system": blocks, "messages": messages}
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {**headers, "Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    (record,) = llm_server.requests()
    expected = ["Fixed instructions. Varying part.", "Hi" if wire == "openai" else "Fixed instructions. Varying part."]
    assert record.prompt_text == "\n".join(expected) and record.outcome == "ok"
    assert record.cache_marked == ["Fixed instructions. "] * (1 if wire == "openai" else 2)
