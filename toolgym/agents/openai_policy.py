"""OpenAIPolicy: a Policy backed by any OpenAI-compatible ``/chat/completions`` endpoint over raw httpx.

One shared pool of keep-alive connections (up to ``max_connections``, for hundreds of concurrent requests) and
one retry policy: 429, 5xx, timeouts, connection errors and malformed replies are retried with capped exponential
backoff and jitter (honouring ``Retry-After``); other 4xx fail at once. Failures end as ``PolicyError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import ssl
import time
import uuid
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from toolgym.agents.policy import Generation, PolicyError, Sampling

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_DEFAULT_SAMPLING = Sampling().model_dump(exclude_none=True)


class _BadResponse(Exception):
    """A 200 reply that is not a usable chat.completion."""


class OpenAIPolicy:
    """Chat completions from an OpenAI-compatible server; safe to share among many concurrent coroutines.

    ``base_url`` defaults to ``$OPENAI_BASE_URL``, else the OpenAI API. The API key is read (at construction)
    from the environment variable ``api_key_env``; when unset no Authorization header is sent. ``timeout`` is
    the deadline of one HTTP attempt (time queued for one of the ``max_connections`` connections is not
    counted); ``max_retries`` more attempts follow a retryable failure. ``extra_body`` is merged into every
    request last.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_connections: int = 512,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.name = model
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        if httpx.URL(self.url).scheme not in ("http", "https"):  # fail fast on a misconfigured endpoint
            raise ValueError(f"base_url must be an http(s) URL, not {self.base_url!r}")
        if max_connections < 1 or timeout <= 0:
            raise ValueError("max_connections must be >= 1 and timeout > 0")
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.max_retries, self.backoff, self.max_backoff = max(0, max_retries), backoff, max_backoff
        self.max_connections = max_connections
        self.extra_body = dict(extra_body or {})
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        api_key = os.environ.get(api_key_env)
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._ssl: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[httpx.AsyncClient] = []
        self._clients: list[httpx.AsyncClient] = []

    def __repr__(self) -> str:
        return f"OpenAIPolicy(model={self.model!r}, base_url={self.base_url!r})"

    def _new_client(self) -> httpx.AsyncClient:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        client = httpx.AsyncClient(
            headers=self._headers,
            timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=30.0),
            verify=self._ssl,
        )
        self._clients.append(client)
        return client

    async def _post(self, content: bytes) -> httpx.Response:
        """One HTTP attempt, with its deadline, on a free keep-alive lane (waiting for one if all are busy).

        The lanes are single-connection httpx clients shared by every caller: httpcore's pool scans all of
        its connections on each request, which at hundreds of connections costs more than the request.
        """
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:  # connections are bound to their event loop
            self._loop, self._slots = loop, asyncio.Semaphore(self.max_connections)
            self._idle, self._clients = [], []
        idle = self._idle
        async with self._slots:
            client = idle.pop() if idle else self._new_client()
            try:
                async with asyncio.timeout(self.timeout):
                    return await client.post(self.url, content=content)
            finally:
                idle.append(client)

    async def aclose(self) -> None:
        """Close every pooled connection (a later generate opens new ones)."""
        clients, self._clients, self._idle, self._slots, self._loop = self._clients, [], [], None, None
        for client in clients:
            with contextlib.suppress(Exception):  # e.g. a client of an event loop that is gone
                await client.aclose()

    def build_request(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: Sampling | None = None,
    ) -> dict[str, Any]:
        """The JSON body sent for one generation."""
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if tools:
            body["tools"] = tools
        body.update(_DEFAULT_SAMPLING if sampling is None else sampling.model_dump(exclude_none=True))
        body.update(self.extra_body)
        return body

    async def generate(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: Sampling | None = None,
    ) -> Generation:
        """The assistant's next message; ``seconds`` spans all attempts. Raises PolicyError for good."""
        content = json.dumps(self.build_request(messages, tools, sampling)).encode()
        start = time.perf_counter()
        attempts = self.max_retries + 1
        kind, message = "unknown", ""
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            try:
                response = await self._post(content)
            except TimeoutError:
                kind, message = "timeout", f"no reply within {self.timeout:g} s"
            except httpx.TimeoutException as exc:
                kind, message = "timeout", f"{type(exc).__name__}: {exc}"
            except httpx.TransportError as exc:
                kind, message = "connection", f"{type(exc).__name__}: {exc}"
            except httpx.HTTPError as exc:  # e.g. an undecodable body
                kind, message = "bad_response", f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status == 200:
                    try:
                        generation = _parse(response.content)
                    except (_BadResponse, ValueError, TypeError, AttributeError) as exc:
                        kind, message = "bad_response", f"malformed chat.completion: {exc}"
                    else:
                        generation.seconds = time.perf_counter() - start
                        if attempt > 1:
                            generation.extra["attempts"] = attempt
                        return generation
                else:
                    kind, message = f"http_{status}", f"HTTP {status}: {_snippet(response.content)}"
                    if status != 429 and status < 500:
                        raise PolicyError(kind, f"{self.url}: {message} (not retried)")
                    retry_after = _retry_after(response.headers)
            if attempt < attempts:
                await asyncio.sleep(self._delay(attempt, retry_after))
        raise PolicyError(kind, f"{self.url}: {message} (gave up after {attempts} attempts)")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff)
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base / 2 + random.uniform(0, base / 2)


def _snippet(content: bytes, limit: int = 300) -> str:
    text = content.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds asked for by ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), if any."""
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return float(ms) / 1000
        if (value := headers.get("retry-after")) is None:
            return None
        try:
            return float(value)
        except ValueError:
            return parsedate_to_datetime(value).timestamp() - time.time()
    except (ValueError, TypeError, OverflowError):
        return None


def _parse(raw: bytes) -> Generation:
    """A Generation from a chat.completion body; raises _BadResponse when it is not one."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise _BadResponse(f"reply is not JSON ({exc}): {_snippet(raw)}") from None
    if not isinstance(data, dict):
        raise _BadResponse(f"reply is not a JSON object: {_snippet(raw)}")
    choices = data.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        detail = data.get("error") or _snippet(raw)
        raise _BadResponse(f"reply has no choices: {detail}")
    choice = choices[0]
    msg = choice.get("message")
    if not isinstance(msg, dict):
        raise _BadResponse(f"choice has no message: {_snippet(raw)}")
    text = msg.get("content")
    if isinstance(text, list):  # content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    calls = msg.get("tool_calls") or []
    if not calls and isinstance(msg.get("function_call"), dict):  # legacy function calling
        calls = [{"function": msg["function_call"]}]
    if not isinstance(calls, list):
        raise _BadResponse(f"tool_calls is not a list: {_snippet(raw)}")
    message: dict[str, Any] = {"role": "assistant", "content": text if text is not None or calls else ""}
    if calls:
        message["tool_calls"] = [_tool_call(c) for c in calls]
    usage = data.get("usage") or {}
    extra: dict[str, Any] = {}
    if msg.get("reasoning_content"):
        extra["reasoning_content"] = msg["reasoning_content"]
    if choice.get("logprobs"):
        extra["logprobs"] = choice["logprobs"]
    return Generation(
        message=message,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason=choice.get("finish_reason"),
        extra=extra,
    )


def _tool_call(call: Any) -> dict[str, Any]:
    """The OpenAI shape ``{id, type: function, function: {name, arguments: str}}`` of one tool call."""
    if not isinstance(call, dict):
        raise _BadResponse(f"tool call is not an object: {call!r}")
    fn = call.get("function") if isinstance(call.get("function"), dict) else call
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise _BadResponse(f"tool call without a name: {call!r}")
    args = fn.get("arguments")
    if args is None:
        args = "{}"
    elif not isinstance(args, str):
        args = json.dumps(args)
    call_id = call.get("id") or f"call_{uuid.uuid4().hex[:24]}"
    return {"id": str(call_id), "type": "function", "function": {"name": name, "arguments": args}}
