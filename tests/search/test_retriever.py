"""The Search-R1 retriever backend against real HTTP servers on 127.0.0.1: toolgym's own retrieval
server over an index, and a scripted server for failures (5xx, hangs, malformed replies, refusals)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.search.stub_server import StubServer, ok
from toolgym.search.index import SearchIndex
from toolgym.search.retriever import RetrieverBackend
from toolgym.search.server import RetrievalServer
from toolgym.tools.base import ToolError

DOC = {"id": "7", "contents": '"Lutz"\nLutz is the capital of Zubrowka.'}


@pytest.fixture
def server(small_index: SearchIndex):
    with RetrievalServer(small_index) as srv:
        yield srv


async def test_search_and_open_through_the_retrieval_server(server: RetrievalServer, small_index) -> None:
    backend = RetrieverBackend(server.url)
    try:
        hits = await backend.search("capital of Zubrowka", 2)
        expected = small_index.search("capital of Zubrowka", 2)
        assert [(h.id, h.title, h.text) for h in hits] == [(e.id, e.title, e.text) for e in expected]
        assert [h.score for h in hits] == pytest.approx([e.score for e in expected])
        opened = await backend.open(hits[0].id)
        assert opened.text == expected[0].text and opened.title == "Zubrowka"
        with pytest.raises(ToolError, match="unknown id 'zubrowka#9'") as info:
            await backend.open("zubrowka#9")
        assert info.value.kind == "unknown_id"
        assert await backend.search("the of and", 3) == []
    finally:
        await backend.aclose()


def test_server_speaks_the_search_r1_format(server: RetrievalServer) -> None:
    body = {"queries": ["cheese", "klubeck"], "topk": 1, "return_scores": True}
    reply = httpx.post(server.url, json=body).json()
    assert [[r["document"]["id"] for r in rs] for rs in reply["result"]] == [["cheese#0"], ["zubrowka#0"]]
    assert reply["result"][0][0]["document"]["contents"].startswith('"Lutz cheese"\nLutz cheese is')
    assert isinstance(reply["result"][0][0]["score"], float)
    plain = httpx.post(server.url, json={"queries": ["cheese"], "topk": 1}).json()
    assert plain["result"][0][0]["id"] == "cheese#0"  # without scores: the documents alone
    assert httpx.post(server.url, json={"queries": "cheese"}).status_code == 400
    assert httpx.post(server.url, content=b"{nope").status_code == 400
    assert httpx.post(server.url, json={"queries": ["x"], "topk": -1}).status_code == 400
    assert httpx.get(server.url.replace("/retrieve", "/health")).json() == {"status": "ok", "passages": 13}


async def test_transient_failures_are_retried_then_succeed() -> None:
    answers = iter([(500, b"overloaded", 0.0), (503, b"", 0.0), ok([[{"document": DOC, "score": 3.5}]])])
    with StubServer(lambda body: next(answers)) as stub:
        backend = RetrieverBackend(stub.url, max_retries=2, backoff=0.01)
        hits = await backend.search("capital", 4)
        await backend.aclose()
    assert [(h.id, h.title, h.text, h.score) for h in hits] == [("7", "Lutz", "Lutz is the capital of Zubrowka.", 3.5)]
    assert stub.bodies == [{"queries": ["capital"], "topk": 4, "return_scores": True}] * 3


async def test_persistent_failure_gives_up_after_bounded_retries() -> None:
    with StubServer(lambda body: (500, b"down", 0.0)) as stub:
        backend = RetrieverBackend(stub.url, max_retries=2, backoff=0.01)
        with pytest.raises(ToolError, match="failed after 3 attempts: HTTP 500") as info:
            await backend.search("q", 3)
        await backend.aclose()
    assert info.value.kind == "backend_unavailable" and len(stub.bodies) == 3


async def test_a_hanging_retriever_meets_its_deadline() -> None:
    with StubServer(lambda body: (*ok([[]])[:2], 5.0)) as stub:
        backend = RetrieverBackend(stub.url, timeout=0.3, max_retries=1, backoff=0.01)
        start = time.perf_counter()
        with pytest.raises(ToolError, match=r"no reply within 0\.3 s") as info:
            await backend.search("q", 3)
        elapsed = time.perf_counter() - start
        await backend.aclose()
    assert info.value.kind == "backend_unavailable"
    assert 0.6 <= elapsed < 2.0 and len(stub.bodies) == 2


async def test_an_unreachable_retriever_is_a_tool_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    backend = RetrieverBackend(f"http://127.0.0.1:{port}", max_retries=1, backoff=0.01)
    assert backend.url == f"http://127.0.0.1:{port}/retrieve"
    start = time.perf_counter()
    with pytest.raises(ToolError, match="unreachable") as info:
        await backend.search("q", 3)
    assert info.value.kind == "backend_unavailable" and time.perf_counter() - start < 2.0
    await backend.aclose()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((200, b"<html>not json</html>", 0.0), "not JSON"),
        ((200, b'{"results": []}', 0.0), "no 'result' list"),
        ((200, b'{"result": [{"id": 1}]}', 0.0), "no 'result' list of lists"),
        ((200, b'{"result": [[42]]}', 0.0), "not an object"),
        ((200, b'{"result": [[{"document": {"id": 1, "contents": 5}}]]}', 0.0), "no 'contents' text"),
        ((400, b'{"error": "bad topk"}', 0.0), "refused the query: HTTP 400"),
    ],
)
async def test_malformed_replies_and_refusals_are_not_retried(answer, message: str) -> None:
    with StubServer(lambda body: answer) as stub:
        backend = RetrieverBackend(stub.url, max_retries=3, backoff=0.01)
        with pytest.raises(ToolError, match=message) as info:
            await backend.search("q", 3)
        await backend.aclose()
    assert info.value.kind == "backend_error" and len(stub.bodies) == 1


async def test_results_without_ids_or_scores_get_stable_ids() -> None:
    docs = [{"contents": "no title line"}, {"document": {"contents": '"T"\nbody'}, "score": "n/a"}]
    with StubServer(lambda body: ok([docs])) as stub:
        backend = RetrieverBackend(stub.url)
        first = await backend.search("q", 5)
        second = await backend.search("q", 5)
        await backend.aclose()
    assert [h.id for h in first] == [h.id for h in second] and len({h.id for h in first}) == 2
    assert [(h.title, h.text, h.score) for h in first] == [("", "no title line", 0.0), ("T", "body", 0.0)]


def test_bad_configuration_fails_fast() -> None:
    with pytest.raises(ValueError, match="http"):
        RetrieverBackend("ftp://x/retrieve")
    with pytest.raises(ValueError, match="timeout"):
        RetrieverBackend("http://127.0.0.1:1/retrieve", timeout=0)
    assert RetrieverBackend("http://h:1/custom/path").url == "http://h:1/custom/path"
