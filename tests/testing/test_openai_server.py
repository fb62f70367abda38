"""The scripted OpenAI-compatible server: routes, recording, scripts, lifecycle."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from toolgym.testing.openai_server import Reply, ScriptedOpenAIServer

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_records_requests_and_answers_ok() -> None:
    with ScriptedOpenAIServer() as srv:
        assert srv.base_url.startswith("http://127.0.0.1:") and srv.base_url.endswith("/v1")
        with httpx.Client(base_url=srv.base_url) as client:
            r1 = client.post("/chat/completions", json=BODY, headers={"X-Test": "1"})
            r2 = client.post(srv.base_url.removesuffix("/v1") + "/chat/completions", json={**BODY, "n": 2})
            models = client.get("/models")
            missing = client.post("/nope", json=BODY)
    assert r1.status_code == 200 and r2.status_code == 200
    data = r1.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "ok"}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"]["prompt_tokens"] >= 1 and data["usage"]["completion_tokens"] >= 1
    assert srv.requests == [BODY, {**BODY, "n": 2}]
    assert srv.request_count == 2
    assert srv.request_headers[0]["x-test"] == "1"
    assert models.status_code == 200 and models.json()["data"][0]["id"] == "scripted"
    assert missing.status_code == 404


def test_from_replies_in_order_then_last_repeats() -> None:
    replies = ["first", Reply(tool_calls=[{"name": "add", "arguments": {"a": 1}}]), Reply(status=503)]
    with ScriptedOpenAIServer.from_replies(replies) as srv, httpx.Client(base_url=srv.base_url) as client:
        answers = [client.post("/chat/completions", json=BODY) for _ in range(4)]
    assert answers[0].json()["choices"][0]["message"]["content"] == "first"
    choice = answers[1].json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "call_0", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
    ]
    assert [a.status_code for a in answers[2:]] == [503, 503]
    assert answers[3].json()["error"]["code"] == 503
    assert srv.request_count == 4


def test_headers_raw_bodies_and_async_handler() -> None:
    async def handler(request: dict) -> Reply:
        if request.get("raw"):
            return Reply(body="{not json")
        return Reply(status=429, headers={"Retry-After": "3"})

    with ScriptedOpenAIServer(handler) as srv, httpx.Client(base_url=srv.base_url) as client:
        limited = client.post("/chat/completions", json=BODY)
        raw = client.post("/chat/completions", json={**BODY, "raw": True})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert raw.status_code == 200 and raw.content == b"{not json"


def test_keep_alive_on_one_raw_socket() -> None:
    payload = json.dumps(BODY).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    with ScriptedOpenAIServer() as srv, socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            header, _, body = head.partition(b"\r\n\r\n")
            length = int(header.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += sock.recv(65536)
            assert header.startswith(b"HTTP/1.1 200")
            assert json.loads(body)["choices"][0]["message"]["content"] == "ok"
    assert srv.request_count == 2


def test_stop_closes_hanging_connections_promptly() -> None:
    srv = ScriptedOpenAIServer(lambda _request: Reply(hang=True)).start()
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(httpx.post(srv.base_url + "/chat/completions", json=BODY, timeout=30))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    client = threading.Thread(target=call)
    client.start()
    deadline = time.monotonic() + 5
    while srv.request_count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.request_count == 1
    began = time.monotonic()
    srv.stop()
    client.join(5)
    assert time.monotonic() - began < 2
    assert not client.is_alive()
    assert isinstance(outcome[0], httpx.HTTPError)


def test_delay_is_applied() -> None:
    with ScriptedOpenAIServer(lambda _request: Reply(content="slow", delay=0.2)) as srv:
        began = time.monotonic()
        reply = httpx.post(srv.base_url + "/chat/completions", json=BODY)
    assert time.monotonic() - began >= 0.2
    assert reply.json()["choices"][0]["message"]["content"] == "slow"


async def test_async_context_manager() -> None:
    async with ScriptedOpenAIServer() as srv, httpx.AsyncClient() as client:
        reply = await client.post(srv.base_url + "/chat/completions", json=BODY)
    assert reply.status_code == 200 and srv.request_count == 1


def test_start_twice_and_port_in_use() -> None:
    with ScriptedOpenAIServer() as srv:
        with pytest.raises(RuntimeError):
            srv.start()
        with pytest.raises(OSError):
            ScriptedOpenAIServer(port=srv.port).start()


def test_module_runs_instant_server_in_foreground() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolgym.testing.openai_server", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        reply = httpx.post(base_url + "/chat/completions", json=BODY, timeout=5)
        assert reply.json()["choices"][0]["message"]["content"] == "ok"
    finally:
        proc.terminate()
        proc.wait(5)
