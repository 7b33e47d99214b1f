"""Multi-turn chat in the UltraChat style: opening questions per subtopic, reworded by a persona, then
simulated assistant answers and user follow-ups until each conversation has its number of turns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from datafast.datasets.base import Ask, DatasetBase, LLMs, MandatoryCombination, Outcome, PromptRequest
from datafast.datasets.chains import branch, clean, entries_model, numbered, render, seeded_rng, text_model
from datafast.datasets.registry import register
from datafast.errors import ConfigError
from datafast.outputs.card import HubCard
from datafast.schema.base_config import DatasetConfig
from datafast.schema.config import UltrachatDatasetConfig
from datafast.schema.data_rows import ChatRow
from datafast.schema.judging import JudgeCriterion

# Each step's instructions first and what varies last (the subject, the persona, the question or the
# conversation, the language), so that requests share the longest prefix a provider's prompt cache can reuse.
REFORMULATION_PROMPT = (
    "Rewrite the question at the end the way the person described below would actually type it to an AI "
    "assistant. Keep what is asked and every concrete detail, but use that person's words, worries and tone; "
    "add a sentence of personal context if it fits naturally. Give only the rewritten message.\n\n"
    "The person: {persona}\n\n"
    "Question: {question}\n\n"
    "Write the message in {language_name}."
)
ASSISTANT_PROMPT = (
    "You are a knowledgeable and careful assistant in the domain given below, talking with a user about the "
    "subject given below. Reply to the user's latest message. Be accurate and directly useful: explain the "
    "reasoning, give concrete examples or steps where they help, say so when something is uncertain, and "
    "match the length to what was asked. Put your reply in the 'answer' field.\n\n"
    "Domain: {domain}\n"
    "Subject: {subtopic} ({topic})\n\n"
    "Reply in {language_name}."
)
USER_SYSTEM_PROMPT = (
    "You play a human user, the person described below, chatting with an AI assistant about the subject given "
    "below. Stay in character and write as this person would type.\n\n"
    "Subject: {subtopic} ({domain})\n"
    "You are: {persona}\n\n"
    "Write in {language_name}."
)
FOLLOWUP_PROMPT = (
    "Write your next message to the assistant in the conversation below. Make it a natural follow-up: dig "
    "deeper into one point, ask about something unclear or missing, push back on a claim, or apply the answer "
    "to your own situation. Do not thank the assistant, do not repeat an earlier question, and give only the "
    "message.\n\n"
    "Your conversation with the assistant so far:\n\n{dialog_summary}"
)


@dataclass(frozen=True)
class Conversation:
    """A conversation in progress, rebuilt from its answers alone: its persona and turn count are drawn
    from the config's seed and the chain's origin, `messages` are the (role, content) pairs so far."""

    topic: str
    subtopic: str
    persona: str
    turns: int
    messages: tuple[tuple[str, str], ...] = ()

    def add(self, role: str, content: str) -> Conversation:
        return Conversation(self.topic, self.subtopic, self.persona, self.turns, (*self.messages, (role, content)))


@register
class UltrachatDataset(DatasetBase):
    """Generates `ChatRow`s, one per conversation: for every topic × subtopic × language × prompt ×
    optional-placeholder combination and every provider, `num_samples` conversations of `min_turns` to
    `max_turns` turns (see `conversation_continuation_prob`). Every step of a conversation goes to the same
    provider."""

    config_class: ClassVar[type[UltrachatDatasetConfig]] = UltrachatDatasetConfig
    record_class: ClassVar[type[ChatRow]] = ChatRow
    output_tokens_per_request: ClassVar[int | None] = 250
    hub_card: ClassVar[HubCard] = HubCard("multi-turn chat", ("text-generation",), ("dialogue-modeling",))
    judge_rubric: ClassVar[tuple[JudgeCriterion, ...]] = (
        JudgeCriterion(
            name="helpful", description="The assistant's answers are correct and helpful, and answer what was asked."
        ),
        JudgeCriterion(
            name="coherent",
            description="The conversation hangs together: each turn follows from the ones before, and the user "
            "sounds like a real person.",
        ),
    )
    step_name: ClassVar[str] = "questions"
    config: UltrachatDatasetConfig

    def mandatory_combinations(self) -> list[MandatoryCombination]:
        if not self.config.topics_and_subtopics:
            raise ConfigError(
                "topics_and_subtopics is empty: give at least one topic with its subtopics, e.g. "
                "{'Physics': ['optics', 'gravity']}"
            )
        return [
            MandatoryCombination(
                placeholders={
                    "num_samples": str(self.config.num_samples),
                    "domain": self.config.domain,
                    "topic": topic,
                    "subtopic": subtopic,
                    **self.language_placeholders(code),
                },
                language=code,
                fields={"topic": topic, "subtopic": subtopic},
            )
            for topic, subtopics in self.config.topics_and_subtopics.items()
            for subtopic in subtopics
            for code in self.config.languages
        ]

    def prompt_requests(self) -> Iterator[PromptRequest]:
        return numbered(super().prompt_requests())

    # -- the chain -------------------------------------------------------------------------------------

    def first_asks(self) -> Iterator[Ask]:
        model = entries_model("OpeningQuestions", self.config.num_samples, "opening questions")
        for request in self.prompt_requests():
            yield Ask("questions", [{"role": "user", "content": request.prompt}], model, request)

    def on_answer(self, ask: Ask, answer: Any, model_id: str) -> Outcome:
        conversation: Conversation | None = ask.state
        if ask.step == "questions":
            questions = [clean(q, "opening question", self.cleaning()) for q in answer.entries]
            if len(questions) != self.config.num_samples:
                raise ValueError(f"expected {self.config.num_samples} questions, got {len(questions)}")
            return Outcome(then=[self._reformulate(ask.origin, i, q) for i, q in enumerate(questions)])
        assert conversation is not None
        if ask.step in ("reformulate", "followup"):
            user_message = clean(answer.question, "user message", self.cleaning())
            return Outcome(then=[self._assistant(ask.origin, conversation.add("user", user_message))])
        conversation = conversation.add("assistant", clean(answer.answer, "answer", self.cleaning()))
        if len(conversation.messages) < 2 * conversation.turns:
            return Outcome(then=[self._followup(ask.origin, conversation)])
        messages = [{"role": role, "content": content} for role, content in conversation.messages]
        record = {
            "messages": messages,
            "opening_question": messages[0]["content"],
            "persona": conversation.persona,
            "domain": self.config.domain,
            "topic": conversation.topic,
            "subtopic": conversation.subtopic,
            "num_turns": conversation.turns,
        }
        return Outcome(records=[record])

    def _choices(self, origin: PromptRequest, index: int) -> tuple[str, int]:
        """The persona and number of turns of a conversation, drawn from the seed and the chain's origin: its
        turns are uniform between min_turns and max_turns, or with `conversation_continuation_prob`, min_turns
        and then one more with that probability each time, up to max_turns."""
        config = self.config
        rng = seeded_rng(config.expansion.seed, origin, index)
        persona = rng.choice(config.personas)
        if config.conversation_continuation_prob is None:
            return persona, rng.randint(config.min_turns, config.max_turns)
        turns = config.min_turns
        while turns < config.max_turns and rng.random() < config.conversation_continuation_prob:
            turns += 1
        return persona, turns

    def _values(self, origin: PromptRequest, conversation: Conversation) -> dict[str, str]:
        return {
            "persona": conversation.persona,
            "domain": self.config.domain,
            "topic": conversation.topic,
            "subtopic": conversation.subtopic,
            **self.language_placeholders(origin.language),
        }

    def _reformulate(self, origin: PromptRequest, index: int, question: str) -> Ask:
        persona, turns = self._choices(origin, index)
        conversation = Conversation(origin.fields["topic"], origin.fields["subtopic"], persona, turns)
        template = self.config.persona_question_reformulation_prompt or REFORMULATION_PROMPT
        prompt = render(template, {**self._values(origin, conversation), "question": question})
        model = text_model("ReformulatedQuestion", "question", "the reworded question")
        return Ask(
            "reformulate",
            [{"role": "user", "content": prompt}],
            model,
            branch(origin, index, self.config.num_samples),
            state=conversation,
        )

    def _assistant(self, origin: PromptRequest, conversation: Conversation) -> Ask:
        template = self.config.simulated_assistant_prompt or ASSISTANT_PROMPT
        system = render(template, {**self._values(origin, conversation), "question": conversation.messages[-1][1]})
        messages = [{"role": "system", "content": system}]
        messages += [{"role": role, "content": content} for role, content in conversation.messages]
        model = text_model("AssistantAnswer", "answer", "the assistant's reply")
        return Ask("assistant", messages, model, origin, state=conversation)

    def _followup(self, origin: PromptRequest, conversation: Conversation) -> Ask:
        values = self._values(origin, conversation)
        summary = "\n".join(f"{role.capitalize()}: {content}" for role, content in conversation.messages)
        system = render(self.config.user_system_prompt or USER_SYSTEM_PROMPT, values)
        prompt = render(self.config.user_followup_prompt or FOLLOWUP_PROMPT, {**values, "dialog_summary": summary})
        model = text_model("FollowUp", "question", "the user's next message")
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
        return Ask("followup", messages, model, origin, state=conversation)

    @classmethod
    def quality_fields_of(cls, config: DatasetConfig | None) -> tuple[str, ...]:
        """The whole conversation."""
        return ("messages",)

    # -- counts ----------------------------------------------------------------------------------------

    def num_requests(self) -> int:
        """One request for the opening questions of each prompt, then per conversation one to reword the
        question, one per assistant answer and one per follow-up: 2 × turns."""
        n = self.config.num_samples
        total = 0
        for request in self.prompt_requests():
            total += 1 + sum(2 * self._choices(request, i)[1] for i in range(n))
        return total

    def get_num_expected_rows(self, llms: LLMs = None) -> int:
        """One conversation per opening question: prompts × num_samples × providers."""
        return self.num_requests_per_provider() * self.config.num_samples * len(self.bindings(llms))
