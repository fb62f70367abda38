"""OpenAIPolicy: a Policy backed by any OpenAI-compatible ``/chat/completions`` endpoint over raw httpx.

One shared ``httpx.AsyncClient`` (keep-alive, sized for hundreds of concurrent requests) and one retry policy:
429, 5xx, timeouts, connection errors and malformed replies are retried with capped exponential backoff and
jitter (honouring ``Retry-After``); other 4xx fail at once. Failures end as ``PolicyError``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
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
    the deadline of one attempt, including any wait for a free pooled connection; ``max_retries`` more
    attempts follow a retryable failure. ``extra_body`` is merged into every request last.
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
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.max_retries, self.backoff, self.max_backoff = max(0, max_retries), backoff, max_backoff
        self.max_connections = max_connections
        self.extra_body = dict(extra_body or {})
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        api_key = os.environ.get(api_key_env)
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"OpenAIPolicy(model={self.model!r}, base_url={self.base_url!r})"

    def _get_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:  # a pool is bound to its event loop
            self._client = httpx.AsyncClient(
                headers=self._headers,
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout, pool=None),
                limits=httpx.Limits(
                    max_connections=self.max_connections,
                    max_keepalive_connections=self.max_connections,
                    keepalive_expiry=30.0,
                ),
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the shared HTTP client (a later generate opens a new one)."""
        client, self._client, self._client_loop = self._client, None, None
        if client is not None:
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
        client = self._get_client()
        start = time.perf_counter()
        attempts = self.max_retries + 1
        kind, message = "unknown", ""
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self.timeout):
                    response = await client.post(self.url, content=content)
            except (TimeoutError, httpx.TimeoutException):
                kind, message = "timeout", f"no reply within {self.timeout:g} s"
            except httpx.TransportError as exc:
                kind, message = "connection", f"{type(exc).__name__}: {exc}"
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
