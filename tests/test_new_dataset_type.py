"""A new dataset type needs its module, its config and its test, nothing else: here all three are this file.
The type, short product names with a slogan each, is registered with one `@register` and then runs like the
built-in ones: from a config file on the command line, resumable, planned, cleaned, reported, pushed with
its own card."""

import json
from typing import Any, ClassVar, Literal

from cli_run import run_datafast
from pydantic import BaseModel, Field

from datafast.datasets.base import DatasetBase, MandatoryCombination, PromptRequest
from datafast.datasets.registry import DATASET_TYPES, register
from datafast.llms import OpenAICompatibleProvider
from datafast.outputs import hub_files
from datafast.outputs.card import HubCard
from datafast.planning import plan_run
from datafast.schema.base_config import CONFIG_TYPES, DatasetConfig
from datafast.schema.data_rows import DatasetRow

# -- the config ------------------------------------------------------------------------------------------


class SloganDatasetConfig(DatasetConfig):
    """Slogans for products of some industries."""

    mandatory_placeholders: ClassVar[dict[str, str]] = {
        "industry": "one of industries",
        "num_samples": "num_samples_per_prompt",
        "language_name": "the language name",
        "language_code": "the language code",
    }
    required_placeholders: ClassVar[frozenset[str]] = frozenset({"industry"})
    default_prompts: ClassVar[tuple[str, ...]] = (
        "Invent {num_samples} products of the {industry} industry in {language_name}, each with a slogan.",
    )

    dataset_type: Literal["slogans"] = "slogans"
    industries: list[str] = Field(min_length=1)


# -- the module ------------------------------------------------------------------------------------------


class SloganRow(DatasetRow):
    """One product and its slogan."""

    product: str
    slogan: str
    industry: str


class Slogans(BaseModel):
    products: list[str] = Field(description="product names")
    slogans: list[str] = Field(description="one slogan per product, in the same order")


@register
class SloganDataset(DatasetBase):
    """Products and slogans, per industry × language."""

    config_class: ClassVar[type[SloganDatasetConfig]] = SloganDatasetConfig
    record_class: ClassVar[type[SloganRow]] = SloganRow
    output_tokens_per_sample: ClassVar[int] = 30
    hub_card: ClassVar[HubCard] = HubCard("product slogan", ("text-generation",), ("slogan-writing",))
    config: SloganDatasetConfig

    def mandatory_combinations(self) -> list[MandatoryCombination]:
        return [
            MandatoryCombination(
                {"industry": industry, "num_samples": str(self.config.num_samples_per_prompt),
                 **self.language_placeholders(code)},
                code,
                {"industry": industry},
            )
            for industry in self.config.industries
            for code in self.config.languages
        ]  # fmt: skip

    def response_model(self) -> type[BaseModel]:
        return Slogans

    def records_from(self, request: PromptRequest, answer: Any) -> list[dict[str, Any]]:
        pairs = zip(answer.products, answer.slogans, strict=False)
        return [{"product": p, "slogan": s, "industry": request.fields["industry"]} for p, s in pairs]

    @classmethod
    def quality_fields_of(cls, config: DatasetConfig | None) -> tuple[str, ...]:
        return ("slogan",)


# -- the test --------------------------------------------------------------------------------------------

CONFIG = """
dataset_type: slogans
industries: [outdoor gear, coffee, bicycles]
num_samples_per_prompt: 2
output_file: {output}
llms:
  - provider: openai_compatible
    model_id: m
    api_base: {base}
"""


def test_one_register_line_makes_the_type_known_everywhere():
    assert DATASET_TYPES["slogans"] is SloganDataset and CONFIG_TYPES["slogans"] is SloganDatasetConfig


def test_the_new_type_runs_from_python_resumes_plans_and_has_its_own_card(llm_server, tmp_path):
    llm = OpenAICompatibleProvider("m", api_base=llm_server.openai_base)
    config = SloganDatasetConfig(industries=["coffee", "bicycles"], num_samples_per_prompt=2,
                                 output_file=str(tmp_path / "s.jsonl"))  # fmt: skip
    dataset = SloganDataset(config).generate(llm, show_progress=False)
    assert dataset.get_num_expected_rows([llm]) == 4 and dataset.stats.succeeded == 2
    assert {r.industry for r in dataset.data_rows} <= {"coffee", "bicycles"} and dataset.data_rows
    assert dataset.report["text_fields"] == ["slogan"]
    llm_server.reset()
    SloganDataset(config).generate(llm, show_progress=False)
    assert llm_server.requests() == []
    plan = plan_run(SloganDataset(config), [llm])
    assert plan.providers[0].completion_tokens == 2 * 2 * 30
    card = hub_files(dataset.data_rows, "me/slogans", config=config.model_dump(mode="json")).card
    assert "A synthetic product slogan dataset" in card and "slogan-writing" in card


def test_the_new_type_runs_from_a_config_file(llm_server, tmp_path):
    config = tmp_path / "slogans.yaml"
    config.write_text(CONFIG.format(output=tmp_path / "s.jsonl", base=llm_server.openai_base))
    plugin = tmp_path / "run_slogans.py"
    # A user's script: importing the module that registers the type is all it takes.
    plugin.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})\n"
        "import test_new_dataset_type  # registers the type\n"
        "from datafast.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(plugin), "generate", str(config), "--no-progress"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert lines and {line["dataset_type"] for line in lines} == {"slogans"}
    assert run_datafast("generate", str(config)).returncode != 0  # without the module, the type is unknown
