"""RetrieverBackend: any Search-R1 compatible retrieval server over HTTP.

The protocol of Search-R1's ``retrieval_server.py``: ``POST /retrieve`` with
``{"queries": [...], "topk": k, "return_scores": true}`` answers
``{"result": [[{"document": {"id": ..., "contents": "\\"Title\\"\\ntext"}, "score": s}, ...], ...]}``
(one list per query; without scores, the documents alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from typing import Any

import httpx

from toolgym.search.backends import HitCache
from toolgym.search.corpus import split_contents
from toolgym.search.records import OpenedText, SearchHit
from toolgym.tools.base import ToolError


class RetrieverBackend:
    """Search through a Search-R1 retriever at ``url`` (``http://host:port/retrieve``; a bare base URL gets
    ``/retrieve``). Each request has a deadline (``timeout``); timeouts, connection errors, 429 and 5xx are
    retried ``max_retries`` times with capped backoff, then reported to the model as a tool error.
    The retriever cannot fetch by id, so ``open`` serves the text of hits it returned earlier.
    """

    name = "retriever"

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
        max_retries: int = 2,
        backoff: float = 0.25,
        max_backoff: float = 2.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"retriever url must be an http(s) URL, not {url!r}")
        if parsed.path in ("", "/"):
            parsed = parsed.copy_with(path="/retrieve")
        if timeout <= 0 or max_retries < 0:
            raise ValueError("timeout must be > 0 and max_retries >= 0")
        self.url = str(parsed)
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.headers = dict(headers or {})
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cache = HitCache()

    def __repr__(self) -> str:
        return f"RetrieverBackend({self.url!r})"

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:  # connections are bound to their event loop
            self._loop = loop
            self._client = httpx.AsyncClient(
                headers=self.headers, timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout)
            )
        return self._client

    async def search(self, query: str, k: int) -> list[SearchHit]:
        body = {"queries": [query], "topk": k, "return_scores": True}
        attempts = self.max_retries + 1
        problem = ""
        for attempt in range(1, attempts + 1):
            try:
                async with asyncio.timeout(self.timeout):
                    response = await self._http().post(self.url, json=body)
            except (TimeoutError, httpx.TimeoutException):
                problem = f"no reply within {self.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"unreachable ({type(exc).__name__}: {exc})"
            else:
                if response.status_code == 200:
                    hits = parse_response(response, k)
                    self._cache.add(hits)
                    return hits
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code != 429 and response.status_code < 500:
                    raise ToolError(f"retriever {self.url} refused the query: {problem}", kind="backend_error")
            if attempt < attempts:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
        raise ToolError(f"retriever {self.url} failed after {attempts} attempts: {problem}", kind="backend_unavailable")

    async def open(self, ref: str) -> OpenedText:
        return self._cache.open(ref)

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            with contextlib.suppress(Exception):  # e.g. a client of an event loop that is gone
                await client.aclose()


def parse_response(response: httpx.Response, k: int) -> list[SearchHit]:
    """The hits of the first query of a retriever reply; ToolError if the reply is not of that shape."""
    try:
        data = response.json()
    except ValueError:
        raise ToolError(f"retriever reply is not JSON: {response.text[:200]!r}", kind="backend_error") from None
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, list) or (result and not isinstance(result[0], list)):
        raise ToolError(f"retriever reply has no 'result' list of lists: {response.text[:200]!r}", kind="backend_error")
    return [_hit(item) for item in (result[0] if result else [])[:k]]


def _hit(item: Any) -> SearchHit:
    if not isinstance(item, dict):
        raise ToolError(f"retriever result is not an object: {item!r:.200}", kind="backend_error")
    doc = item["document"] if isinstance(item.get("document"), dict) else item
    contents = doc.get("contents", doc.get("text", ""))
    if not isinstance(contents, str):
        raise ToolError(f"retriever document has no 'contents' text: {doc!r:.200}", kind="backend_error")
    title, text = split_contents(contents)
    title = str(doc.get("title") or title)
    ref = doc.get("id")
    if ref is None:
        ref = "h" + hashlib.sha1(contents.encode("utf-8", "replace")).hexdigest()[:12]
    try:
        score = float(item.get("score", 0.0))
    except (TypeError, ValueError):
        score = 0.0
    return SearchHit(str(ref), title, text.strip(), score)
