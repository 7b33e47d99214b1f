"""Provider batch APIs on the wire: OpenAI's files and batches (also served by some OpenAI-compatible
servers) and Anthropic's message batches. Half the price of online requests, answered within 24 hours.

Each request of a batch is the body an online request would send (`Route.encode`, LiteLLM's transform) and
each answer the body an online answer would hold, read back by `Route.decode`; this module only moves them.
We speak these endpoints ourselves rather than through LiteLLM's batch functions: LiteLLM does not create
Anthropic batches, and its OpenAI path goes through an SDK that retries a timed-out create on its own, which
would submit (and pay for) the same batch twice. Nothing here retries: the engine decides.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from datafast.llms.failures import CallFailure, redact
from datafast.llms.http import HttpPool
from datafast.llms.wire import Route

_TIMEOUT_S = 300.0  # an upload of a 200 MB batch takes a while


@dataclass
class BatchState:
    """A batch as the provider last described it: its own status word, whether it has ended (its results
    can be read, or there are none to read), its request counts in words, and, for a batch refused as a
    whole (an input the provider could not use), why."""

    remote_id: str
    status: str
    ended: bool
    counts: str = ""
    refused: str | None = None  # why the provider refused the whole batch (none of it was answered)


@dataclass
class BatchResult:
    """One request's outcome in an ended batch: the answer's body (what an online answer's body would be),
    or why there is none."""

    custom_id: str
    body: bytes | None = None
    failure: CallFailure | None = None


class BatchAPI:
    """One provider endpoint's batch API. `max_requests` and `max_bytes` are the provider's limits for one
    batch; `submit` sends requests as one batch tagged `tag` (so that `find` can tell, after a crash between
    sending and recording it, whether the provider took it)."""

    kind: ClassVar[str] = ""
    max_requests: ClassVar[int] = 50_000
    max_bytes: ClassVar[int] = 200 * 1024 * 1024

    def __init__(self, route: Route, http: HttpPool) -> None:
        self.route = route
        self.http = http
        self.name = route.name

    def line_size(self, custom_id: str, data: dict[str, Any]) -> int:
        """Bytes one request takes in a batch (for the batch's size limit)."""
        return len(json.dumps(self._entry(custom_id, data), ensure_ascii=False).encode("utf-8")) + 1

    def _entry(self, custom_id: str, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def submit(self, requests: list[tuple[str, dict[str, Any]]], tag: str) -> BatchState:
        raise NotImplementedError

    async def poll(self, remote_id: str) -> BatchState:
        raise NotImplementedError

    async def results(self, state: BatchState) -> list[BatchResult]:
        raise NotImplementedError

    async def cancel(self, remote_id: str) -> BatchState:
        raise NotImplementedError

    async def find(self, tag: str, requests: int, since: float) -> str | None:
        """The id of a batch this run submitted with `tag` at or after `since` (holding `requests`
        requests), if the provider has it; None if it never took it."""
        raise NotImplementedError

    # -- HTTP --------------------------------------------------------------------------------------------

    async def _http(
        self, method: str, url: str, *, body: Any = None, data: Any = None, headers: Mapping[str, str] | None = None
    ) -> bytes:
        """One request; its body, or a CallFailure (the provider's error, or a transient one)."""
        import aiohttp

        sent_headers = dict(headers if headers is not None else self.route.headers)
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            sent_headers["content-type"] = "application/json"
        try:
            async with self.http.session().request(
                method,
                url,
                data=data,
                headers=sent_headers,
                proxy=self.route.proxy,
                timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S),
            ) as response:
                status, answer_headers, payload = response.status, response.headers, await response.read()
        except TimeoutError:
            why = f"{self.name}: no answer from the batch API within {_TIMEOUT_S:.0f}s"
            raise CallFailure("transient", why) from None
        except (aiohttp.ClientError, OSError) as exc:
            why = redact(f"{self.name}: {type(exc).__name__}: {exc}", self.route.secrets)
            raise CallFailure("transient", why) from None
        if status >= 300:
            raise self.route.failure(status, answer_headers, payload)
        return bytes(payload)

    async def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        payload = await self._http(method, url, **kwargs)
        try:
            return json.loads(payload)
        except ValueError:
            raise CallFailure("transient", f"{self.name}: the batch API answered something that is not JSON") from None


class OpenAIBatchAPI(BatchAPI):
    """OpenAI's Batch API: the requests uploaded as a JSONL file (`/v1/files`), a batch made of it
    (`/v1/batches`), its output and error files read back when it has ended."""

    kind: ClassVar[str] = "openai"
    max_requests: ClassVar[int] = 50_000
    max_bytes: ClassVar[int] = 200 * 1024 * 1024

    def __init__(self, route: Route, http: HttpPool) -> None:
        super().__init__(route, http)
        self.base = route.url.removesuffix("/chat/completions")
        self.endpoint = "/v1/chat/completions"
        self._last: dict[str, dict[str, Any]] = {}  # each batch as last seen (its output files)

    def _entry(self, custom_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": self.endpoint, "body": data}

    async def submit(self, requests: list[tuple[str, dict[str, Any]]], tag: str) -> BatchState:
        import aiohttp

        lines = "".join(json.dumps(self._entry(c, d), ensure_ascii=False) + "\n" for c, d in requests)
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", lines.encode("utf-8"), filename=f"{tag}.jsonl", content_type="application/jsonl")
        headers = {k: v for k, v in self.route.headers.items() if k.lower() != "content-type"}
        uploaded = await self._json("POST", f"{self.base}/files", data=form, headers=headers)
        batch = await self._json(
            "POST",
            f"{self.base}/batches",
            body={
                "input_file_id": uploaded["id"],
                "endpoint": self.endpoint,
                "completion_window": "24h",
                "metadata": {"datafast_batch": tag},
            },
        )
        return self._state(batch)

    def _state(self, batch: dict[str, Any]) -> BatchState:
        status = str(batch.get("status"))
        counts = batch.get("request_counts") or {}
        words = f"{counts.get('completed', 0)} of {counts.get('total', 0)} answered" if counts else ""
        state = BatchState(str(batch["id"]), status, status in ("completed", "expired", "cancelled", "failed"), words)
        if status == "failed":
            errors = (batch.get("errors") or {}).get("data") or []
            why = "; ".join(str(e.get("message")) for e in errors[:3]) or "no reason given"
            state.refused = f"{self.name}: the provider refused batch {state.remote_id}: {why}"
        self._last[state.remote_id] = batch
        return state

    async def poll(self, remote_id: str) -> BatchState:
        return self._state(await self._json("GET", f"{self.base}/batches/{remote_id}"))

    async def cancel(self, remote_id: str) -> BatchState:
        return self._state(await self._json("POST", f"{self.base}/batches/{remote_id}/cancel"))

    async def results(self, state: BatchState) -> list[BatchResult]:
        batch = self._last.get(state.remote_id) or await self._json("GET", f"{self.base}/batches/{state.remote_id}")
        results: list[BatchResult] = []
        for field in ("output_file_id", "error_file_id"):
            file_id = batch.get(field)
            if not file_id:
                continue
            content = await self._http("GET", f"{self.base}/files/{file_id}/content")
            for line in content.decode("utf-8").splitlines():
                if line.strip():
                    results.append(self._result(json.loads(line)))
        return results

    def _result(self, line: dict[str, Any]) -> BatchResult:
        custom_id = str(line.get("custom_id"))
        response, error = line.get("response") or {}, line.get("error")
        status = int(response.get("status_code") or 0)
        if response and status < 300:
            return BatchResult(custom_id, json.dumps(response.get("body")).encode("utf-8"))
        if response:
            failure = self.route.failure(status, {}, json.dumps(response.get("body")).encode("utf-8"))
            return BatchResult(custom_id, failure=failure)
        code = (error or {}).get("code") or "error"
        message = (error or {}).get("message") or "no answer"
        failure = CallFailure("transient", f"{self.name}: {code}: {message}")
        if code not in ("batch_expired", "batch_cancelled"):
            failure.kind = "fatal"
        return BatchResult(custom_id, failure=failure)

    async def find(self, tag: str, requests: int, since: float) -> str | None:
        after = ""
        while True:
            page = await self._json("GET", f"{self.base}/batches?limit=100{after}")
            for batch in page.get("data") or []:
                if (batch.get("metadata") or {}).get("datafast_batch") == tag:
                    return str(batch["id"])
                if int(batch.get("created_at") or 0) < since - 60:  # newest first: the rest are older
                    return None
            if not page.get("has_more") or not page.get("data"):
                return None
            after = f"&after={page['data'][-1]['id']}"


class AnthropicBatchAPI(BatchAPI):
    """Anthropic's Message Batches API (`/v1/messages/batches`): requests posted inline, results read
    from the batch's `results_url` once it has ended."""

    kind: ClassVar[str] = "anthropic"
    max_requests: ClassVar[int] = 100_000
    max_bytes: ClassVar[int] = 256 * 1024 * 1024

    def __init__(self, route: Route, http: HttpPool) -> None:
        super().__init__(route, http)
        self.base = route.url.rstrip("/") + "/batches"
        self._results_urls: dict[str, str] = {}

    def _entry(self, custom_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": custom_id, "params": data}

    def _state(self, batch: dict[str, Any]) -> BatchState:
        status = str(batch.get("processing_status"))
        counts = batch.get("request_counts") or {}
        words = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        state = BatchState(str(batch["id"]), status, status == "ended", words)
        if batch.get("results_url"):
            self._results_urls[state.remote_id] = str(batch["results_url"])
        return state

    async def submit(self, requests: list[tuple[str, dict[str, Any]]], tag: str) -> BatchState:
        entries = [self._entry(c, d) for c, d in requests]
        return self._state(await self._json("POST", self.base, body={"requests": entries}))

    async def poll(self, remote_id: str) -> BatchState:
        return self._state(await self._json("GET", f"{self.base}/{remote_id}"))

    async def cancel(self, remote_id: str) -> BatchState:
        return self._state(await self._json("POST", f"{self.base}/{remote_id}/cancel"))

    async def results(self, state: BatchState) -> list[BatchResult]:
        url = self._results_urls.get(state.remote_id) or f"{self.base}/{state.remote_id}/results"
        content = await self._http("GET", url)
        results = []
        for line in content.decode("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            custom_id, result = str(row.get("custom_id")), row.get("result") or {}
            kind = result.get("type")
            if kind == "succeeded":
                results.append(BatchResult(custom_id, json.dumps(result.get("message")).encode("utf-8")))
                continue
            error = ((result.get("error") or {}).get("error") or {}) if kind == "errored" else {}
            message = error.get("message") or kind or "no answer"
            retry = kind in ("expired", "canceled") or error.get("type") in ("api_error", "overloaded_error")
            failure = CallFailure("transient", f"{self.name}: {kind}: {message}")
            if not retry:
                failure.kind = "fatal"
            results.append(BatchResult(custom_id, failure=failure))
        return results

    async def find(self, tag: str, requests: int, since: float) -> str | None:
        # Anthropic's batches carry no metadata: the one made right after `since` with as many requests is it.
        page = await self._json("GET", f"{self.base}?limit=100")
        for batch in page.get("data") or []:
            created = _iso_time(str(batch.get("created_at") or ""))
            total = sum(int(n) for n in (batch.get("request_counts") or {}).values())
            if created is not None and since - 60 <= created <= since + 600 and total == requests:
                return str(batch["id"])
        return None


def _iso_time(text: str) -> float | None:
    import calendar

    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


BATCH_APIS: dict[str, type[BatchAPI]] = {api.kind: api for api in (OpenAIBatchAPI, AnthropicBatchAPI)}
