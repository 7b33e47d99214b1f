"""Tests of the test LLM server's provider-style rate limits (``rpm_limit``, ``tpm_limit``, ``rate_burst_s``).

Everything goes over real HTTP on 127.0.0.1 with a raw aiohttp client, so the limits, the 429s and the headers
are seen as a provider client would see them. Limits are small (a bucket of 2 requests, or of 100 tokens) so
that each test takes at most about a second.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from pydantic import ValidationError

from datafast.testing import LLMTestServer, RateLimiter, ServerBehavior
from datafast.testing.llm_server import behavior_from_args, parse_args
from datafast.testing.rate_limits import go_duration, retry_headers

PROTOCOLS = ["openai", "anthropic", "gemini", "ollama"]
HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    headers: CIMultiDictProxy[str]
    body: Any

    def limit_headers(self) -> dict[str, str]:
        """The rate-limit headers sent, lower-cased."""
        return {k.lower(): v for k, v in self.headers.items() if k.lower().startswith(HEADER_PREFIXES)}

    def usage_tokens(self) -> int:
        """Prompt plus completion tokens of a successful OpenAI or Anthropic answer."""
        usage = self.body["usage"]
        return usage.get("total_tokens") or usage["input_tokens"] + usage["output_tokens"]


def request_parts(protocol: str, base: str, prompt: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and body of a plain-text request in ``protocol``'s wire format."""
    messages = [{"role": "user", "content": prompt}]
    if protocol == "openai":
        return f"{base}/v1/chat/completions", {"Authorization": "Bearer sk-rl"}, {"model": "x", "messages": messages}
    if protocol == "anthropic":
        body = {"model": "claude-x", "messages": messages, "max_tokens": 1024}
        return f"{base}/v1/messages", {"x-api-key": "sk-rl"}, body
    if protocol == "gemini":
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        return f"{base}/models/gemini-x:generateContent", {"x-goog-api-key": "sk-rl"}, body
    return f"{base}/api/chat", {}, {"model": "llama3", "messages": messages, "stream": False}


async def _post(http: aiohttp.ClientSession, protocol: str, base: str, prompt: str) -> Reply:
    url, headers, body = request_parts(protocol, base, prompt)
    async with http.post(url, json=body, headers=headers) as resp:
        return Reply(resp.status, resp.headers, await resp.json(content_type=None))


def send(server: LLMTestServer, protocol: str, n: int = 1, prompt: str = "Say hi", gap_s: float = 0.0) -> list[Reply]:
    """``n`` requests one after the other, ``gap_s`` apart."""

    async def go() -> list[Reply]:
        replies = []
        async with aiohttp.ClientSession() as http:
            for i in range(n):
                if i and gap_s:
                    await asyncio.sleep(gap_s)
                replies.append(await _post(http, protocol, server.url, prompt))
        return replies

    return asyncio.run(go())


def burst(server: LLMTestServer, protocol: str, n: int, prompt: str = "Say hi") -> list[Reply]:
    """``n`` requests sent at once."""

    async def go() -> list[Reply]:
        connector = aiohttp.TCPConnector(limit=n)
        async with aiohttp.ClientSession(connector=connector) as http:
            return list(await asyncio.gather(*(_post(http, protocol, server.url, prompt) for _ in range(n))))

    return asyncio.run(go())


def parse_go_duration(text: str) -> float:
    """Seconds in an OpenAI reset duration such as ``120ms``, ``8.64s`` or ``6m0s``."""
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?([\d.]+)s", text)
    assert match, f"not a duration: {text!r}"
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)


def parse_rfc3339(text: str) -> datetime:
    assert RFC3339.match(text), f"not an RFC 3339 UTC time: {text!r}"
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[LLMTestServer]:
    """A fresh thread-mode server per test, so every bucket starts full."""
    with LLMTestServer() as srv:
        yield srv


# -- headers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_limit_means_no_rate_limit_headers(server: LLMTestServer, protocol: str) -> None:
    replies = burst(server, protocol, 20)
    assert [r.status for r in replies] == [200] * 20
    assert all(r.limit_headers() == {} and "Retry-After" not in r.headers for r in replies)
    assert server.stats().rate_limited == 0


def test_openai_headers_advertise_the_per_minute_limits(server: LLMTestServer) -> None:
    server.set_behavior(rpm_limit=60, tpm_limit=1200, rate_burst_s=30)  # buckets: 30 requests, 600 tokens
    first, second = send(server, "openai", 2)
    assert first.status == 200 and second.status == 200
    h = first.limit_headers()
    assert set(h) == {f"x-ratelimit-{what}-{kind}" for what in ("limit", "remaining", "reset")
                      for kind in ("requests", "tokens")}  # fmt: skip
    assert h["x-ratelimit-limit-requests"] == "60" and h["x-ratelimit-limit-tokens"] == "1200"
    assert h["x-ratelimit-remaining-requests"] == "29"
    assert 0.9 <= parse_go_duration(h["x-ratelimit-reset-requests"]) <= 1.0  # one request refills in 1 s
    used = first.usage_tokens()
    assert used == first.body["usage"]["prompt_tokens"] + first.body["usage"]["completion_tokens"] > 1
    remaining = int(h["x-ratelimit-remaining-tokens"])
    assert 600 - used <= remaining <= 602 - used  # 1200/60 × 30 s = 600 tokens, minus this request's
    assert parse_go_duration(h["x-ratelimit-reset-tokens"]) == pytest.approx(used / 20, abs=0.1)  # 20 a second
    h2 = second.limit_headers()
    assert h2["x-ratelimit-remaining-requests"] == "28"
    assert 1.9 <= parse_go_duration(h2["x-ratelimit-reset-requests"]) <= 2.0
    assert int(h2["x-ratelimit-remaining-tokens"]) <= remaining - second.usage_tokens() + 2


def test_anthropic_headers_advertise_the_per_minute_limits(server: LLMTestServer) -> None:
    server.set_behavior(rpm_limit=60, tpm_limit=1200, rate_burst_s=30)
    before = datetime.now(UTC).replace(microsecond=0)
    [reply] = send(server, "anthropic")
    assert reply.status == 200
    h = reply.limit_headers()
    assert set(h) == {f"anthropic-ratelimit-{kind}-{what}" for kind in ("requests", "tokens")
                      for what in ("limit", "remaining", "reset")}  # fmt: skip
    assert h["anthropic-ratelimit-requests-limit"] == "60" and h["anthropic-ratelimit-tokens-limit"] == "1200"
    assert h["anthropic-ratelimit-requests-remaining"] == "29"
    used = reply.usage_tokens()
    assert 600 - used <= int(h["anthropic-ratelimit-tokens-remaining"]) <= 602 - used
    requests_reset = parse_rfc3339(h["anthropic-ratelimit-requests-reset"])
    assert 1 <= (requests_reset - before).total_seconds() <= 3  # full again one second from now, rounded up
    tokens_reset = parse_rfc3339(h["anthropic-ratelimit-tokens-reset"])
    assert used / 20 - 0.5 <= (tokens_reset - before).total_seconds() <= used / 20 + 2  # 20 tokens a second
    assert not any(k.startswith("x-ratelimit-") for k in reply.headers)


@pytest.mark.parametrize("protocol", ["gemini", "ollama"])
def test_gemini_and_ollama_advertise_nothing_but_enforce(server: LLMTestServer, protocol: str) -> None:
    server.set_behavior(rpm_limit=60, rate_burst_s=2)
    replies = burst(server, protocol, 3)
    assert sorted(r.status for r in replies) == [200, 200, 429]
    assert all(r.limit_headers() == {} for r in replies)


def test_remaining_decreases_and_reset_grows(server: LLMTestServer) -> None:
    server.set_behavior(rpm_limit=60, rate_burst_s=10)  # a bucket of 10, refilled at one a second
    replies = send(server, "openai", 5)
    assert [r.headers["x-ratelimit-remaining-requests"] for r in replies] == ["9", "8", "7", "6", "5"]
    resets = [parse_go_duration(r.headers["x-ratelimit-reset-requests"]) for r in replies]
    assert resets == sorted(resets) and resets[0] <= 1.0 < resets[-1] <= 5.0
    assert "x-ratelimit-limit-tokens" not in replies[0].headers  # no tpm_limit, no token headers


# -- enforcement ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_burst_over_the_bucket_gets_429s_in_the_protocols_shape(server: LLMTestServer, protocol: str) -> None:
    server.set_behavior(rpm_limit=60, rate_burst_s=2)
    replies = burst(server, protocol, 6)
    ok = [r for r in replies if r.status == 200]
    limited = [r for r in replies if r.status == 429]
    assert len(ok) == 2 and len(limited) == 4
    for reply in limited:
        retry_after = int(reply.headers["Retry-After"])
        retry_ms = int(reply.headers["retry-after-ms"])
        assert retry_after >= 1 and 0 < retry_ms <= 1000 and retry_after == max(1, math.ceil(retry_ms / 1000))
        body = reply.body
        if protocol == "openai":
            assert body["error"]["code"] == "rate_limit_exceeded" and body["error"]["type"] == "requests"
            assert "per minute: limit 60" in body["error"]["message"]
            assert reply.headers["x-ratelimit-remaining-requests"] == "0"
        elif protocol == "anthropic":
            assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
            assert reply.headers["anthropic-ratelimit-requests-remaining"] == "0"
        elif protocol == "gemini":
            assert body["error"]["code"] == 429 and body["error"]["status"] == "RESOURCE_EXHAUSTED"
            [info] = body["error"]["details"]
            assert info["@type"].endswith("RetryInfo") and info["retryDelay"] == f"{retry_after}s"
        else:
            assert "Rate limit reached" in body["error"]
    stats = server.stats()
    assert stats.by_outcome == {"ok": 2, "429": 4} and stats.rate_limited == 4
    records = server.requests()
    assert sorted((r.outcome, r.status, r.rate_limited) for r in records) == [("429", 429, True)] * 4 + [
        ("ok", 200, False)
    ] * 2


def test_requests_at_the_allowed_rate_all_succeed(server: LLMTestServer) -> None:
    server.set_behavior(rpm_limit=1200, rate_burst_s=0.1)  # 20 a second, a bucket of 2
    paced = send(server, "anthropic", 12, gap_s=0.06)
    assert [r.status for r in paced] == [200] * 12
    server.reset()  # a full bucket again: the same requests without pacing are turned away
    assert [r.status for r in burst(server, "anthropic", 12)].count(429) >= 6


def test_a_rate_limited_request_takes_nothing(server: LLMTestServer) -> None:
    server.set_behavior(rpm_limit=60, rate_burst_s=2, script=["500"])  # one a second, a bucket of 2
    first, second = send(server, "openai", 2)
    assert (first.status, second.status) == (500, 200)  # the script's entry went to the first admitted one
    server.set_behavior(script=["500"])
    refused = send(server, "openai", 10)
    assert [r.status for r in refused] == [429] * 10
    assert server.behavior().script == ["500"]  # refused before any fault was chosen
    time.sleep(int(refused[-1].headers["retry-after-ms"]) / 1000 + 0.01)
    # Had the ten 429s each taken a request, the bucket would need ten more seconds to refill.
    [after] = send(server, "openai")
    assert after.status == 500 and server.behavior().script == []


def test_600_rpm_and_a_burst_of_64(server: LLMTestServer) -> None:
    server.set_behavior(rpm_limit=600)  # default rate_burst_s=10: the bucket holds 100 requests
    assert [r.status for r in burst(server, "openai", 64)] == [200] * 64
    server.set_behavior(rpm_limit=600, rate_burst_s=1.0)  # limits changed: a full bucket of 10
    statuses = [r.status for r in burst(server, "openai", 64)]
    assert 10 <= statuses.count(200) <= 20 and statuses.count(200) + statuses.count(429) == 64


def test_tpm_limit_counts_prompt_and_completion_tokens(server: LLMTestServer) -> None:
    server.set_behavior(tpm_limit=3000, rate_burst_s=2)  # a bucket of 100 tokens, refilled at 50 a second
    prompt = "word " * 48  # 240 characters: 60 prompt tokens
    first, second = send(server, "openai", 2, prompt=prompt)
    assert first.status == 200 and first.body["usage"]["prompt_tokens"] == 60
    used = first.usage_tokens()
    h = first.limit_headers()
    assert set(h) == {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"}
    assert h["x-ratelimit-limit-tokens"] == "3000"
    assert max(0, 100 - used) <= int(h["x-ratelimit-remaining-tokens"]) <= max(0, 100 - used) + 2
    assert parse_go_duration(h["x-ratelimit-reset-tokens"]) == pytest.approx(used / 50, abs=0.05)
    # 100 - 60 - completion < 60 tokens left: the second one waits for its prompt's tokens to trickle in.
    assert second.status == 429 and second.body["error"]["type"] == "tokens"
    wait_s = int(second.headers["retry-after-ms"]) / 1000
    assert wait_s == pytest.approx((60 - (100 - used)) / 50, abs=0.05)
    assert int(second.headers["x-ratelimit-remaining-tokens"]) <= max(0, 100 - used) + 2  # +2: refill meanwhile
    time.sleep(wait_s + 0.01)
    [third] = send(server, "openai", prompt=prompt)
    assert third.status == 200
    assert server.stats().rate_limited == 1 and server.stats().by_outcome == {"ok": 2, "429": 1}


def test_limits_change_reset_and_injected_429s(server: LLMTestServer) -> None:
    server.set_behavior(rpm_limit=60, rate_burst_s=2)
    assert [r.status for r in send(server, "openai", 3)] == [200, 200, 429]
    server.set_behavior(latency_s=0.0)  # limits unchanged: the bucket is still empty
    assert send(server, "openai")[0].status == 429
    server.reset()  # refills, and the counters start again
    server.set_behavior(script=["429"], retry_after_s=3)
    [injected] = send(server, "openai")
    assert injected.status == 429 and injected.headers["Retry-After"] == "3"
    assert injected.headers["x-ratelimit-remaining-requests"] == "1"  # admitted, then the injected fault
    assert server.stats().rate_limited == 0 and server.stats().by_outcome == {"429": 1}
    assert server.requests()[0].rate_limited is False
    server.set_behavior(rpm_limit=None)
    assert [r.status for r in burst(server, "openai", 5)] == [200] * 5
    assert send(server, "openai")[0].limit_headers() == {}


# -- subprocess mode, configuration -----------------------------------------------------------------------


def test_subprocess_mode_enforces_and_counts() -> None:
    with LLMTestServer(subprocess=True, rpm_limit=60, rate_burst_s=2, log_bodies=False) as server:
        replies = burst(server, "anthropic", 5)
        assert sorted(r.status for r in replies) == [200, 200, 429, 429, 429]
        assert all(r.headers["anthropic-ratelimit-requests-limit"] == "60" for r in replies)
        stats = server.stats()
        assert stats.rate_limited == 3 and stats.by_outcome == {"ok": 2, "429": 3}
        assert sum(r.rate_limited for r in server.requests()) == 3
        server.set_behavior(rpm_limit=None)
        assert [r.status for r in burst(server, "anthropic", 5)] == [200] * 5
        assert server.behavior().rpm_limit is None


def test_limit_fields_are_validated_and_reach_the_cli() -> None:
    with pytest.raises(ValidationError):
        ServerBehavior(rpm_limit=0)
    with pytest.raises(ValidationError):
        ServerBehavior(rate_burst_s=0)
    with pytest.raises(ValidationError):
        ServerBehavior(rate_burst_s=61)
    defaults = ServerBehavior()
    assert (defaults.rpm_limit, defaults.tpm_limit, defaults.rate_burst_s) == (None, None, 10.0)
    behavior = behavior_from_args(parse_args(["--rpm", "60", "--tpm", "1000", "--rate-burst", "2"]))
    assert (behavior.rpm_limit, behavior.tpm_limit, behavior.rate_burst_s) == (60, 1000, 2.0)


# -- the limiter and the header formats on their own ------------------------------------------------------


def test_limiter_with_a_fake_clock() -> None:
    now = [100.0]
    limiter = RateLimiter(rpm_limit=60, tpm_limit=None, burst_s=2, clock=lambda: now[0])
    assert limiter.admit(5) is None and limiter.admit(5) is None
    rejection = limiter.admit(5)
    assert rejection is not None and rejection.kind == "requests" and rejection.wait_s == pytest.approx(1.0)
    now[0] += 0.5
    assert limiter.admit(5) is not None and limiter.state().requests.remaining == 0  # type: ignore[union-attr]
    now[0] += 0.5
    assert limiter.admit(5) is None
    now[0] += 60
    state = limiter.state().requests
    assert state is not None and (state.limit, state.remaining, state.reset_s) == (60, 2, 0.0)
    tiny = RateLimiter(rpm_limit=1, tpm_limit=None, burst_s=10, clock=lambda: now[0])
    assert tiny.admit(1) is None and tiny.admit(1) is not None  # a bucket always holds at least one request


def test_header_formats() -> None:
    assert [go_duration(s) for s in (0, 0.12, 0.9999, 1, 8.64, 17.281, 360, 3723.5)] == [
        "0s", "120ms", "1s", "1s", "8.64s", "17.281s", "6m0s", "1h2m3.5s"
    ]  # fmt: skip
    assert retry_headers(0.001) == {"Retry-After": "1", "retry-after-ms": "1"}
    assert retry_headers(2.3) == {"Retry-After": "3", "retry-after-ms": "2300"}
