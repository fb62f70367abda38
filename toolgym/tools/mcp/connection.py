"""One MCP server connection: started on first use, watched, restarted with bounded retries, closed cleanly."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import mcp_types
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

from toolgym.tools.base import ToolError
from toolgym.tools.mcp.config import HttpServerConfig, ServerConfig
from toolgym.tools.mcp.deadlines import Deadlines
from toolgym.tools.mcp.session import Session, SessionStartError, describe, find_exception
from toolgym.tools.mcp.stdio import ServerSpawnError

logger = logging.getLogger(__name__)

RESTART_BACKOFF = 0.1
"""Seconds before the first restart; doubled for each further failure in a row, up to MAX_BACKOFF."""
MAX_BACKOFF = 2.0
LIST_PAGES = 100
PROBE_TIMEOUT = 5.0
"""Deadline of the listing that checks whether an HTTP session survived an error, seconds."""
BROKEN_WAIT = 0.5
"""Seconds a failed call waits for its session to wind down, to report how the server ended."""


class MCPServerError(RuntimeError):
    """An MCP server that cannot be started, listed or reached (raised where no model is listening)."""


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


class ServerConnection:
    """A connection to one MCP server, shared by every caller.

    Started on first use (within ``startup_timeout``). A server that crashes or disconnects is
    restarted in the background; the call it broke fails with a ToolError (kind ``server_crashed``).
    After ``max_restarts`` failures in a row without a successful call in between, calls fail at once
    (kind ``server_unavailable``) until :meth:`new_episode` allows one more attempt.
    """

    def __init__(self, name: str, config: ServerConfig, client_name: str = "toolgym") -> None:
        self.name = name
        self.config = config
        self.client_name = client_name
        self.starts = 0
        self.crashes = 0
        self.used = False
        self._session: Session | None = None
        self._starting: asyncio.Task[Session] | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        self._failures = 0
        self._last_error = ""
        self._closed = False
        self._tools: list[mcp_types.Tool] | None = None
        self._deadlines = Deadlines()
        self._listing = asyncio.Lock()

    # ---- public -------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Process id (and process group id) of a running stdio server."""
        session = self._session
        if session is None or session.transport is None:
            return None
        return session.transport.pid

    @property
    def available(self) -> bool:
        """False once the server failed more than ``max_restarts`` times in a row (until the next episode)."""
        return self._failures <= self.config.max_restarts

    async def start(self) -> None:
        """Start the server now (else it starts on first use); raises MCPServerError if it cannot."""
        await self._live()

    async def list_tools(self) -> list[mcp_types.Tool]:
        """The server's tools (every page), listed once and cached."""
        async with self._listing:
            if self._tools is None:
                self._tools = await self._list_tools()
        return self._tools

    async def _list_tools(self) -> list[mcp_types.Tool]:
        session = await self._live()
        assert session.client is not None
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        try:
            async with asyncio.timeout(self.config.startup_timeout):
                for _ in range(LIST_PAGES):
                    page = await session.client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
        except TimeoutError:
            raise MCPServerError(
                f"MCP server {self.name!r} did not list its tools within {self.config.startup_timeout:g}s"
            ) from None
        except MCPError as exc:
            raise MCPServerError(f"MCP server {self.name!r} failed to list its tools: {exc}") from None
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], timeout: float | None = None
    ) -> mcp_types.CallToolResult:
        """Call a tool; every failure the model should hear about is raised as a ToolError."""
        session = self._session
        if session is None or not session.alive:
            try:
                session = await self._live()
            except MCPServerError as exc:
                raise ToolError(str(exc), kind="server_unavailable") from None
        assert session.client is not None
        self.used = True
        timeout = timeout if timeout is not None else self.config.timeout
        try:
            with self._deadlines.within(timeout):  # on expiry the SDK also tells the server to stop
                result = await session.client.call_tool(name, arguments)
        except TimeoutError:
            raise ToolError(
                f"tool {name!r} of MCP server {self.name!r} timed out after {timeout:g}s", kind="timeout"
            ) from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED or not session.alive or await self._session_lost(session):
                raise await self._broken(session, name, str(exc)) from None
            raise ToolError(f"MCP server {self.name!r} refused the call to {name!r}: {exc}", kind="mcp_error") from None
        except RuntimeError as exc:  # the SDK's check of structured content against the output schema
            if not session.alive:
                raise await self._broken(session, name, describe(exc)) from None
            raise ToolError(f"MCP server {self.name!r}: {exc}", kind="invalid_result") from None
        except Exception as exc:  # the transport failed under the call (a dead socket, a closed pipe)
            raise await self._broken(session, name, describe(exc)) from None
        self._failures = 0
        return result

    async def new_episode(self) -> None:
        """A new episode begins: a per-episode server that was used is replaced by a fresh one (started
        now, in the background); a server that is down gets one more attempt."""
        if not self.available:
            self._failures = self.config.max_restarts
        if not (self.config.per_episode and self.used):
            return
        self.used = False
        old, self._session = self._session, None
        if old is not None:
            self._stop_in_background(old)
        self._start_in_background()

    async def aclose(self) -> None:
        """Stop the server (and every server still shutting down in the background)."""
        self._closed = True
        if self._starting is not None:
            self._starting.cancel()
            await asyncio.gather(self._starting, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)

    # ---- starting -----------------------------------------------------------------------------

    async def _live(self) -> Session:
        session = self._session
        if session is not None and session.alive:
            return session
        if self._closed:
            raise MCPServerError(f"MCP server {self.name!r} is closed")
        self._start_in_background()
        assert self._starting is not None
        return await asyncio.shield(self._starting)  # one start shared by every caller waiting for it

    def _start_in_background(self) -> None:
        if self._starting is None and not self._closed:
            self._starting = asyncio.create_task(self._start(), name=f"mcp-start:{self.name}")
            self._starting.add_done_callback(_consume)

    async def _start(self) -> Session:
        try:
            while True:
                if not self.available:
                    failures = f"{self._failures} failure{'s' if self._failures != 1 else ''}"
                    raise MCPServerError(
                        f"MCP server {self.name!r} is down after {failures} in a row (last: {self._last_error})"
                    )
                if self._failures:
                    await asyncio.sleep(min(RESTART_BACKOFF * 2 ** (self._failures - 1), MAX_BACKOFF))
                try:
                    session = await self._open()
                except Exception as exc:
                    spawn = find_exception(exc, ServerSpawnError)
                    if spawn is not None:  # a missing command will not appear by retrying
                        self._failures = self.config.max_restarts + 1
                        self._last_error = str(spawn)
                        raise MCPServerError(f"MCP server {self.name!r}: {spawn}") from None
                    self._failures += 1
                    self._last_error = str(exc) if isinstance(exc, SessionStartError) else describe(exc)
                    logger.warning("MCP server %r failed to start: %s", self.name, self._last_error)
                    continue
                if self._closed:
                    await session.close()
                    raise MCPServerError(f"MCP server {self.name!r} is closed")
                self._session = session
                self.starts += 1
                return session
        finally:
            self._starting = None

    async def _open(self) -> Session:
        session = Session(self.name, self.config, self.client_name, on_end=self._ended)
        await session.open()
        return session

    # ---- failures and stopping ----------------------------------------------------------------

    async def _broken(self, session: Session, tool: str, detail: str) -> ToolError:
        """Mark the session dead (its task then restarts the server) and tell the model what happened."""
        if session.alive:
            session.end_reason = detail
            session.stop.set()
        if session.task is not None:  # a moment for a dead process to be reaped, so its exit code is known
            await asyncio.wait([session.task], timeout=BROKEN_WAIT)
        return ToolError(
            f"MCP server {self.name!r} {session.exit_reason()} during the call to {tool!r}; it is being restarted",
            kind="server_crashed",
        )

    async def _session_lost(self, session: Session) -> bool:
        """After an error from an HTTP server: is the session gone (e.g. the server restarted and no longer
        knows it)? A listing that fails too says so."""
        if not isinstance(self.config, HttpServerConfig) or session.client is None:
            return False
        try:
            async with asyncio.timeout(min(self.config.startup_timeout, PROBE_TIMEOUT)):
                await session.client.list_tools(cache_mode="bypass")
        except Exception:
            return True
        return False

    def _ended(self, session: Session) -> None:
        if self._session is session:
            self._session = None
        if session.stop_requested or self._closed or session.client is None:
            return
        self.crashes += 1
        self._failures += 1
        self._last_error = session.exit_reason()
        logger.warning("MCP server %r %s; restarting it", self.name, self._last_error)
        self._start_in_background()

    def _stop_in_background(self, session: Session) -> None:
        task = asyncio.create_task(session.close(), name=f"mcp-stop:{self.name}")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
