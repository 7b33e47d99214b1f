"""Pooled HTTP connections for one provider: one aiohttp session on the running event loop, shared by
every request and every run on that loop, closed when the last run using it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


def proxy_for(url: str) -> str | None:
    """The HTTP(S) proxy the environment names for this URL (`HTTPS_PROXY`, `NO_PROXY`, ...), looked up once
    per route: aiohttp's own `trust_env` reads the environment and `~/.netrc` again for every request."""
    from urllib.parse import urlsplit
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or (parts.hostname and proxy_bypass(parts.hostname)):
        return None
    return proxy


class HttpPool:
    """A provider's connection pool. `session()` gives the session of the running loop (made on first use;
    a session left from a closed loop is dropped); `held()` keeps it open for a run and closes it when the
    last holder leaves. The engine bounds concurrency, so the pool itself does not."""

    def __init__(self) -> None:
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holders = 0

    def session(self) -> Any:
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
            self._loop = loop
        return self._session

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        self._holders += 1
        try:
            yield
        finally:
            self._holders -= 1
            if self._holders == 0:
                await self.aclose()

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()
