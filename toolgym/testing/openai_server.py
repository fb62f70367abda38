"""A scriptable OpenAI-compatible server on raw asyncio streams, for tests and benchmarks.

``ScriptedOpenAIServer(handler)`` answers ``POST /v1/chat/completions`` with the :class:`Reply` that
``handler(request_json)`` returns and records every request; it runs its own event loop in a background
thread, so sync and async code can both use it: ``with ScriptedOpenAIServer.from_replies([...]) as srv:``.
``python -m toolgym.testing.openai_server --port 8000`` serves the instant "ok" handler in the foreground.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
_ids = itertools.count(1)


@dataclass
class Reply:
    """One scripted answer to a chat request.

    ``body=None`` builds a standard chat.completion from ``content``/``tool_calls`` when ``status`` is 200,
    else an OpenAI-style error body; a str ``body`` is sent verbatim (e.g. malformed JSON). ``tool_calls``
    entries are full OpenAI dicts or ``{"name": ..., "arguments": dict | str}`` shorthands. ``delay`` sleeps
    before answering; ``hang`` never answers and holds the connection open until the client (or ``stop()``)
    closes it. Token counts default to rough length/4 estimates.
    """

    status: int = 200
    body: dict[str, Any] | str | None = None
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    delay: float = 0.0
    hang: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


Handler = Callable[[dict[str, Any]], "Reply | Awaitable[Reply]"]


def instant_handler(request: dict[str, Any]) -> Reply:
    """Answer "ok" at once (the default handler, and what benchmarks hit)."""
    return Reply(content="ok", prompt_tokens=1, completion_tokens=1)


def _tool_call(index: int, call: dict[str, Any]) -> dict[str, Any]:
    if "function" in call:
        return call
    args = call.get("arguments", {})
    args = args if isinstance(args, str) else json.dumps(args)
    function = {"name": call["name"], "arguments": args}
    return {"id": call.get("id", f"call_{index}"), "type": "function", "function": function}


def _completion(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    calls = [_tool_call(i, c) for i, c in enumerate(reply.tool_calls or [])]
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if calls:
        message["tool_calls"] = calls
    elif reply.content is None:
        message["content"] = ""
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = max(1, len(json.dumps(request.get("messages", []))) // 4)
    completion = reply.completion_tokens
    if completion is None:
        completion = max(1, (len(reply.content or "") + len(json.dumps(calls)) * bool(calls)) // 4)
    finish = reply.finish_reason or ("tool_calls" if calls else "stop")
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    head = {"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion", "created": int(time.time())}
    return {**head, "model": request.get("model", "scripted"), "choices": [choice], "usage": usage}


def _error(status: int, message: str) -> tuple[int, bytes, dict[str, str]]:
    body = {"error": {"message": message, "type": "scripted_error", "code": status}}
    return status, json.dumps(body).encode(), {}


class ScriptedOpenAIServer:
    """An OpenAI-compatible chat endpoint on ``host:port`` (0 = any free port) driven by ``handler``.

    ``requests`` records every chat request body (and ``request_headers`` its lower-cased headers) unless
    ``record=False``. Use ``start()``/``stop()``, ``with``, or ``async with``; ``base_url`` ends in ``/v1``.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        models: Iterable[str] = ("scripted",),
        record: bool = True,
    ) -> None:
        self.handler: Handler = handler or instant_handler
        self.host, self.port = host, port
        self.models = list(models)
        self.record = record
        self.request_count = 0  # chat requests received, recorded or not
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._conns: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_replies(cls, replies: Iterable[Reply | str], **kwargs: Any) -> ScriptedOpenAIServer:
        """Serve ``replies`` in order, one per chat request; once they run out, the last one repeats.

        A str stands for ``Reply(content=str)``. Other keyword arguments go to the constructor.
        """
        script = [r if isinstance(r, Reply) else Reply(content=r) for r in replies]
        if not script:
            raise ValueError("from_replies needs at least one reply")
        remaining = iter(script)
        return cls(lambda _request: next(remaining, script[-1]), **kwargs)

    def start(self) -> ScriptedOpenAIServer:
        """Listen in a background thread; returns once ``base_url`` is set."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run_thread, name="scripted-openai-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and close every connection, hanging ones included."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = None

    def run(self) -> None:
        """Serve in the foreground until interrupted; prints ``base_url`` once listening."""
        asyncio.run(self._serve(on_ready=lambda: print(self.base_url, flush=True)))

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ScriptedOpenAIServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def _run_thread(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self, on_ready: Callable[[], None] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._on_connection, self.host, self.port, backlog=4096)
        self.port = server.sockets[0].getsockname()[1]
        self.base_url = f"http://{self.host}:{self.port}/v1"
        self._ready.set()
        if on_ready is not None:
            on_ready()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._conns):
                task.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _version = head[0].split(" ", 2)
                fields = (line.partition(":") for line in head[1:] if line)
                headers = {key.strip().lower(): value.strip() for key, _, value in fields}
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                answer = await self._answer(method, target.split("?", 1)[0], headers, body)
                if answer is None:  # hang: hold the connection until the client gives up
                    while await reader.read(65536):
                        pass
                    return
                keep = headers.get("connection", "").lower() != "close"
                writer.write(_response(*answer, keep=keep))
                await writer.drain()
                if not keep:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            return
        except asyncio.CancelledError:  # stop(): swallowed, as 3.11's stream callback chokes on cancelled tasks
            return
        finally:
            self._conns.discard(task)
            writer.close()

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]] | None:
        if path in ("/v1/models", "/models"):
            if method != "GET":
                return _error(405, f"{method} not allowed")
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "toolgym"} for m in self.models]
            return 200, json.dumps({"object": "list", "data": data}).encode(), {}
        if path not in _CHAT_PATHS or method != "POST":
            return _error(404 if path not in _CHAT_PATHS else 405, f"no route {method} {path}")
        try:
            request = json.loads(body)
        except ValueError as exc:
            return _error(400, f"request body is not JSON: {exc}")
        self.request_count += 1
        if self.record:
            self.requests.append(request)
            self.request_headers.append(headers)
        try:
            reply = self.handler(request)
            if inspect.isawaitable(reply):
                reply = await reply
        except Exception as exc:
            return _error(500, f"handler raised {exc!r}")
        if reply.delay > 0:
            await asyncio.sleep(reply.delay)
        if reply.hang:
            return None
        if isinstance(reply.body, str):
            payload = reply.body.encode()
        elif reply.body is not None:
            payload = json.dumps(reply.body).encode()
        elif reply.status == 200:
            payload = json.dumps(_completion(request, reply)).encode()
        else:
            payload = _error(reply.status, f"scripted HTTP {reply.status}")[1]
        return reply.status, payload, reply.headers


def _response(status: int, payload: bytes, headers: dict[str, str], *, keep: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    connection = "keep-alive" if keep else "close"
    all_headers = {
        "Content-Type": "application/json",
        **headers,
        "Content-Length": str(len(payload)),
        "Connection": connection,
    }
    lines += [f"{key}: {value}" for key, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def main(argv: list[str] | None = None) -> None:
    """Run the instant server in the foreground (for benchmarks in a separate process)."""
    parser = argparse.ArgumentParser(description="Serve an instant OpenAI-compatible endpoint ('ok').")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    args = parser.parse_args(argv)
    reply = Reply(content="ok", prompt_tokens=1, completion_tokens=1, delay=args.delay)
    server = ScriptedOpenAIServer(lambda _request: reply, args.host, args.port, record=False)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


if __name__ == "__main__":
    main()
