"""The scheduler's steps one by one, with a fake provider (no HTTP): retries, 429 waits, rejections, replay,
and what the ledger counts. The same paths over real HTTP are in test_engine.py and test_learned_limits.py."""

import asyncio
import time

from pydantic import BaseModel

from datafast.engine import RetryPolicy, RunStats, RunStore, Scheduler, Stream, WorkItem
from datafast.llms.base import Completion, LLMProvider
from datafast.llms.failures import CallFailure


class Answer(BaseModel):
    text: str


class ScriptedProvider(LLMProvider):
    """Answers from a script of failures, then valid answers; counts what it was asked."""

    provider_name = "scripted"
    needs_api_key = False

    def __init__(self, failures: list[CallFailure], **kwargs):
        super().__init__("m", max_concurrency=2, **kwargs)
        self.failures = list(failures)
        self.asked = 0

    async def prepare(self, response_model=None):
        pass  # nothing to import or route: it answers itself

    async def acomplete(self, messages, response_model=None):
        self.asked += 1
        if self.failures:
            raise self.failures.pop(0)
        return Completion('{"text": "hi"}', Answer(text="hi"), "stop", prompt_tokens=10, completion_tokens=5)


class Observer:
    def __init__(self, rejections: int = 0):
        self.rejections = rejections
        self.accepted: list[str] = []
        self.failed: list[str] = []

    def on_success(self, item, completion, resumed):
        if self.rejections and not resumed:
            self.rejections -= 1
            raise CallFailure("invalid_response", "unusable")
        self.accepted.append(item.key)
        return []

    def on_failure(self, item, failure):
        self.failed.append(failure.kind)

    def on_retry(self, item, failure, delay):
        pass


def run(provider, observer, tmp_path, policy, keys=("k1",), done=None):
    items = iter([WorkItem(key, provider, [{"role": "user", "content": key}], Answer) for key in keys])
    changes = []
    stats = RunStats(listener=lambda: changes.append(1))
    with RunStore(tmp_path / "store.sqlite") as store:
        scheduler = Scheduler(
            [Stream(items, [provider])], observer, store, policy=policy, stats=stats, done=done or set()
        )
        asyncio.run(scheduler.run())
        attempts = {key: store.get(key).attempts for key in keys if store.get(key)}
    return stats, changes, attempts


def test_429s_wait_without_using_up_attempts_and_the_ledger_counts_them(tmp_path):
    limited = [CallFailure("rate_limit", "429", retry_after=0.0, status_code=429)] * 5
    provider = ScriptedProvider(limited)
    observer = Observer()
    stats, changes, attempts = run(provider, observer, tmp_path, RetryPolicy(max_attempts=2, base_delay=0.001))
    assert observer.accepted == ["k1"] and provider.asked == 6
    assert (stats.succeeded, stats.retries, stats.rate_limited, stats.failed) == (1, 5, 5, 0)
    assert attempts == {"k1": 1}  # the 429s were not attempts
    assert stats.providers["scripted/m"].succeeded == 1 and len(changes) == 6


def test_transient_failures_use_up_attempts_then_the_item_is_given_up(tmp_path):
    provider = ScriptedProvider([CallFailure("transient", "500", status_code=500)] * 3)
    observer = Observer()
    stats, _, attempts = run(provider, observer, tmp_path, RetryPolicy(max_attempts=2, base_delay=0.001))
    assert observer.failed == ["transient"] and provider.asked == 2 and attempts == {"k1": 2}
    assert (stats.succeeded, stats.failed, stats.retries) == (0, 1, 1)
    assert dict(stats.failures_by_reason) == {"transient": 1}


def test_rate_limited_past_the_wait_cap_gives_up(tmp_path):
    provider = ScriptedProvider([CallFailure("rate_limit", "429", retry_after=0.02, status_code=429)] * 100)
    policy = RetryPolicy(max_attempts=2, base_delay=0.001, max_rate_limit_wait=0.1)
    started = time.monotonic()
    stats, _, _ = run(provider, Observer(), tmp_path, policy)
    assert stats.failed == 1 and dict(stats.failures_by_reason) == {"rate_limit": 1}
    assert 0.1 <= time.monotonic() - started < 2


def test_a_rejected_answer_is_paid_for_counted_apart_and_asked_again(tmp_path):
    provider = ScriptedProvider([])
    observer = Observer(rejections=1)
    stats, _, _ = run(provider, observer, tmp_path, RetryPolicy(base_delay=0.001))
    assert provider.asked == 2 and observer.accepted == ["k1"]
    assert (stats.succeeded, stats.asked_again, stats.retries) == (1, 1, 0)
    assert stats.prompt_tokens == 20 and stats.completion_tokens == 10  # both answers were paid for


def test_stored_answers_are_replayed_not_asked(tmp_path):
    provider = ScriptedProvider([])
    run(provider, Observer(), tmp_path, RetryPolicy(), keys=("k1", "k2"))
    again = ScriptedProvider([])
    observer = Observer()
    stats, _, _ = run(again, observer, tmp_path, RetryPolicy(), keys=("k1", "k2"), done={"k1", "k2"})
    assert again.asked == 0 and sorted(observer.accepted) == ["k1", "k2"]
    assert (stats.resumed, stats.succeeded, stats.tokens) == (2, 0, 0)
