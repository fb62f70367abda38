"""A Search-R1 compatible retrieval server over a local index (``toolgym index serve``).

``POST /retrieve`` with ``{"queries": [...], "topk": k, "return_scores": true}`` answers
``{"result": [[{"document": {"id", "contents"}, "score"}, ...], ...]}`` where ``contents`` is
``"Title"\\ntext`` as in Search-R1 corpora; ``GET /health`` reports the index size. Trainers that
expect Search-R1's retriever can use a toolgym index this way, and :class:`RetrieverBackend` reads it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from toolgym.search.index import SearchIndex

MAX_BODY = 1 << 20


class RetrievalServer:
    """Serves ``index`` on ``host:port`` (0 = a free port) in a background thread, or in the foreground
    with :meth:`serve_forever`. ``topk`` defaults to ``default_topk`` and is capped at ``max_topk``."""

    def __init__(
        self,
        index: SearchIndex,
        host: str = "127.0.0.1",
        port: int = 0,
        default_topk: int = 3,
        max_topk: int = 100,
        max_queries: int = 256,
    ) -> None:
        self.index = index
        self.default_topk, self.max_topk, self.max_queries = default_topk, max_topk, max_queries
        self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        self._httpd.daemon_threads = True
        self.host, self.port = str(self._httpd.server_address[0]), int(self._httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The ``/retrieve`` endpoint."""
        return f"http://{self.host}:{self.port}/retrieve"

    def retrieve(self, body: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON reply) for one request body."""
        if not isinstance(body, dict):
            return 400, {"error": "the body must be a JSON object with 'queries'"}
        queries = body.get("queries")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            return 400, {"error": "'queries' must be a list of strings"}
        if len(queries) > self.max_queries:
            return 400, {"error": f"at most {self.max_queries} queries per request"}
        topk = body.get("topk") or self.default_topk
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
            return 400, {"error": "'topk' must be a positive integer"}
        topk = min(topk, self.max_topk)
        with_scores = bool(body.get("return_scores", False))
        result = []
        for query in queries:
            docs = []
            for hit in self.index.search(query, topk):
                doc = {"id": hit.id, "contents": f'"{hit.title}"\n{hit.text}'}
                docs.append({"document": doc, "score": hit.score} if with_scores else doc)
            result.append(docs)
        return 200, {"result": result}

    def start(self) -> RetrievalServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="retrieval-server", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> RetrievalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(server: RetrievalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/health":
                self._send(200, {"status": "ok", "passages": server.index.passages})
            else:
                self._send(404, {"error": f"no route GET {self.path}"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {"error": f"body larger than {MAX_BODY} bytes"})
                self.close_connection = True
                return
            raw = self.rfile.read(length)
            if self.path.split("?")[0] != "/retrieve":
                self._send(404, {"error": f"no route POST {self.path}"})
                return
            try:
                body = json.loads(raw or b"null")
            except ValueError as exc:
                self._send(400, {"error": f"the body is not JSON: {exc}"})
                return
            self._send(*server.retrieve(body))

    return Handler
