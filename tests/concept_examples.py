"""The concept page's two config examples (`../shared/seed/concepts.txt`), as written there but for where
the output goes."""

from datafast.schema.config import ClassificationDatasetConfig, PromptExpansionConfig, RawDatasetConfig


def concept_classification(output_file="sentiment_dataset.jsonl"):
    return ClassificationDatasetConfig(
        classes=[
            {"name": "positive", "description": "Text expressing positive emotions"},
            {"name": "negative", "description": "Text expressing negative emotions"},
        ],
        num_samples_per_prompt=5,
        output_file=str(output_file),
        languages={"en": "English", "fr": "French"},
    )


def concept_raw(output_file="output.jsonl"):
    return RawDatasetConfig(
        document_types=["research paper", "blog post"],
        topics=["AI", "climate change"],
        num_samples_per_prompt=2,
        output_file=str(output_file),
        languages={"en": "English"},
        prompts=[
            "Generate {num_samples} {document_type} in {language_name} "
            "about {topic} with {{tone}} tone for {{audience}}."
        ],
        expansion=PromptExpansionConfig(
            placeholders={
                "tone": ["formal", "casual", "technical"],
                "audience": ["beginners", "experts", "general public"],
            },
            combinatorial=True,
        ),
    )
