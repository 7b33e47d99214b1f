"""HTTP routes of the test server's batch APIs (OpenAI files and batches, Anthropic message batches)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from datafast.testing.batches import BATCH_KEY, Batch, BatchItem, BatchStore
from datafast.testing.protocols import PROTOCOLS


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body), status=status, content_type="application/json")


def _openai_error(status: int, message: str) -> web.Response:
    return _json(PROTOCOLS["openai"].error(status, message), status)


def _anthropic_error(status: int, message: str) -> web.Response:
    return _json(PROTOCOLS["anthropic"].error(status, message), status)


def _store(request: web.Request) -> BatchStore:
    return request.app[BATCH_KEY]


def _batch(request: web.Request, provider: str) -> Batch | None:
    batch = _store(request).batches.get(request.match_info["batch_id"])
    return batch if batch is not None and batch.provider == provider else None


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _made(request: web.Request, batch: Batch, body: Any) -> web.Response:
    """The answer to a batch's creation, or (``batch_rate_lost_create``) a connection closed without one."""
    if _store(request).lose_answer(batch):
        transport = request.transport
        if transport is not None:
            transport.close()
        return web.Response(status=500)
    return _json(body)


# -- OpenAI -------------------------------------------------------------------------------------------------


async def upload_file(request: web.Request) -> web.Response:
    """``POST /v1/files`` (multipart: ``file``, ``purpose``)."""
    form = await request.post()
    upload, purpose = form.get("file"), str(form.get("purpose") or "")
    if not isinstance(upload, web.FileField):
        return _openai_error(400, "missing multipart field 'file'")
    stored = _store(request).add_file(upload.filename or "upload.jsonl", purpose, upload.file.read())
    _store(request).log("openai", "upload", stored.id)
    return _json(stored.describe())


async def get_file(request: web.Request) -> web.Response:
    """``GET /v1/files/{file_id}``."""
    stored = _store(request).files.get(request.match_info["file_id"])
    if stored is None:
        return _openai_error(404, "No such file")
    return _json(stored.describe())


async def file_content(request: web.Request) -> web.Response:
    """``GET /v1/files/{file_id}/content``."""
    store = _store(request)
    stored = store.files.get(request.match_info["file_id"])
    if stored is None:
        return _openai_error(404, "No such file")
    store.log("openai", "file", stored.id)
    return web.Response(body=stored.content, content_type="application/octet-stream")


def _parse_input(content: bytes, endpoint: str) -> list[BatchItem]:
    items: list[BatchItem] = []
    seen: set[str] = set()
    for number, line in enumerate(content.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        custom_id, body = row.get("custom_id"), row.get("body")
        if not isinstance(custom_id, str) or not isinstance(body, dict):
            raise ValueError(f"line {number}: needs a string 'custom_id' and an object 'body'")
        if row.get("url") != endpoint:
            raise ValueError(f"line {number}: url {row.get('url')!r} is not the batch's endpoint {endpoint!r}")
        if custom_id in seen:
            raise ValueError(f"line {number}: duplicate custom_id {custom_id!r}")
        seen.add(custom_id)
        items.append(BatchItem(custom_id, body))
    if not items:
        raise ValueError("the input file has no requests")
    return items


async def create_batch(request: web.Request) -> web.Response:
    """``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window``)."""
    store = _store(request)
    try:
        body = json.loads(await request.read())
        endpoint = str(body.get("endpoint") or "")
        if endpoint != "/v1/chat/completions":
            raise ValueError(f"unsupported endpoint {endpoint!r} (the test server batches /v1/chat/completions)")
        stored = store.files.get(str(body.get("input_file_id")))
        if stored is None:
            raise ValueError(f"no such input file {body.get('input_file_id')!r}")
        items = _parse_input(stored.content, endpoint)
    except (ValueError, AttributeError, TypeError) as exc:
        return _openai_error(400, f"invalid batch: {exc}")
    batch = store.submit(
        "openai",
        items,
        endpoint=endpoint,
        input_file_id=stored.id,
        completion_window=str(body.get("completion_window") or "24h"),
        metadata=body.get("metadata"),
    )
    return _made(request, batch, store.openai_batch(batch))


async def get_batch(request: web.Request) -> web.Response:
    """``GET /v1/batches/{batch_id}``."""
    batch = _batch(request, "openai")
    if batch is None:
        return _openai_error(404, "No such batch")
    batch.polled = True
    body = _store(request).openai_batch(batch)
    _store(request).log("openai", "poll", batch.id, status=body["status"])
    return _json(body)


async def cancel_batch(request: web.Request) -> web.Response:
    """``POST /v1/batches/{batch_id}/cancel``."""
    batch = _batch(request, "openai")
    if batch is None:
        return _openai_error(404, "No such batch")
    store = _store(request)
    store.cancel(batch)
    body = store.openai_batch(batch)
    store.log("openai", "cancel", batch.id, status=body["status"])
    return _json(body)


async def list_batches(request: web.Request) -> web.Response:
    """``GET /v1/batches`` (newest first; ``limit`` and ``after`` as OpenAI pages them)."""
    store = _store(request)
    store.log("openai", "list")
    page = _page(request, "openai", "after", store.openai_batch)
    return _json({"object": "list", **page})


def _page(request: web.Request, provider: str, after_name: str, describe: Any) -> dict[str, Any]:
    """One page of a provider's batches, newest first, as both APIs page them (``limit``, and the id
    after which the page starts in the query parameter ``after_name``)."""
    batches = [b for b in reversed(_store(request).batches.values()) if b.provider == provider]
    after = request.query.get(after_name)
    if after:
        ids = [b.id for b in batches]
        batches = batches[ids.index(after) + 1 :] if after in ids else []
    limit = int(request.query.get("limit", "20"))
    page = [describe(b) for b in batches[:limit]]
    return {
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(batches) > limit,
    }


# -- Anthropic ----------------------------------------------------------------------------------------------


async def create_message_batch(request: web.Request) -> web.Response:
    """``POST /v1/messages/batches`` (``requests: [{custom_id, params}]``)."""
    store = _store(request)
    try:
        body = json.loads(await request.read())
        rows = body.get("requests")
        if not isinstance(rows, list) or not rows:
            raise ValueError("'requests' must be a non-empty list")
        items = []
        for row in rows:
            if not isinstance(row.get("custom_id"), str) or not isinstance(row.get("params"), dict):
                raise ValueError("each request needs a string 'custom_id' and an object 'params'")
            items.append(BatchItem(row["custom_id"], row["params"]))
        if len({item.custom_id for item in items}) != len(items):
            raise ValueError("custom_id values must be unique")
    except (ValueError, AttributeError, TypeError) as exc:
        return _anthropic_error(400, f"invalid batch: {exc}")
    batch = store.submit("anthropic", items)
    return _made(request, batch, store.anthropic_batch(batch, _base_url(request)))


async def list_message_batches(request: web.Request) -> web.Response:
    """``GET /v1/messages/batches`` (newest first; ``limit`` and ``after_id`` as Anthropic pages them)."""
    store = _store(request)
    store.log("anthropic", "list")
    return _json(_page(request, "anthropic", "after_id", lambda b: store.anthropic_batch(b, _base_url(request))))


async def get_message_batch(request: web.Request) -> web.Response:
    """``GET /v1/messages/batches/{batch_id}``."""
    batch = _batch(request, "anthropic")
    if batch is None:
        return _anthropic_error(404, "No such message batch")
    body = _store(request).anthropic_batch(batch, _base_url(request))
    _store(request).log("anthropic", "poll", batch.id, status=body["processing_status"])
    return _json(body)


async def cancel_message_batch(request: web.Request) -> web.Response:
    """``POST /v1/messages/batches/{batch_id}/cancel``."""
    batch = _batch(request, "anthropic")
    if batch is None:
        return _anthropic_error(404, "No such message batch")
    store = _store(request)
    store.cancel(batch)
    body = store.anthropic_batch(batch, _base_url(request))
    store.log("anthropic", "cancel", batch.id, status=body["processing_status"])
    return _json(body)


async def message_batch_results(request: web.Request) -> web.Response:
    """``GET /v1/messages/batches/{batch_id}/results`` (JSONL; 400 while the batch is still processing)."""
    batch = _batch(request, "anthropic")
    store = _store(request)
    if batch is None:
        return _anthropic_error(404, "No such message batch")
    if not store.settle(batch):
        return _anthropic_error(400, f"Message batch {batch.id} is still processing.")
    store.log("anthropic", "results", batch.id, status="ended")
    return web.Response(body=store.anthropic_results(batch), content_type="application/binary")


ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/files", upload_file),
    ("GET", "/v1/files/{file_id}", get_file),
    ("GET", "/v1/files/{file_id}/content", file_content),
    ("POST", "/v1/batches", create_batch),
    ("GET", "/v1/batches", list_batches),
    ("GET", "/v1/batches/{batch_id}", get_batch),
    ("POST", "/v1/batches/{batch_id}/cancel", cancel_batch),
    ("POST", "/v1/messages/batches", create_message_batch),
    ("GET", "/v1/messages/batches", list_message_batches),
    ("GET", "/v1/messages/batches/{batch_id}", get_message_batch),
    ("POST", "/v1/messages/batches/{batch_id}/cancel", cancel_message_batch),
    ("GET", "/v1/messages/batches/{batch_id}/results", message_batch_results),
]


def add_batch_routes(app: web.Application) -> None:
    """Register the batch routes (the store must be at ``app[BATCH_KEY]``)."""
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
