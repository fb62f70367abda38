"""One live session with an MCP server, held open by a task of its own.

The SDK's ``Client`` must be entered and exited by the same task, so a :class:`Session` runs a task that
enters the client, holds it open until told to stop (or until the server goes away), then exits it.
Tool calls from any number of other tasks share the open client concurrently.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import mcp_types
from mcp import Client

from toolgym.tools.mcp.config import (
    SERVER_DIR_VAR,
    HttpServerConfig,
    InProcessServerConfig,
    ServerConfig,
    StdioServerConfig,
)
from toolgym.tools.mcp.stdio import ServerSpawnError, StdioTransport

STOP_DEADLINE = 10.0
"""Seconds a session gets to shut down (its transport's own waits are shorter) before it is cancelled."""


class SessionStartError(Exception):
    """A server that ended while starting; the message says how (exit code, stderr)."""


def describe(exc: BaseException) -> str:
    """A one-line account of an exception, looking inside exception groups for the first real cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def find_exception(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``exc`` itself or the first exception of that kind inside (nested) exception groups."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_exception(inner, kind)
            if found is not None:
                return found
    return None


class Session:
    """One session with the server named ``name``; ``on_end(session)`` runs when its task finishes."""

    def __init__(self, name: str, config: ServerConfig, client_name: str, on_end: Callable[[Session], None]) -> None:
        self.name = name
        self.config = config
        self.client_name = client_name
        self.on_end = on_end
        self.client: Client | None = None
        self.transport: StdioTransport | None = None
        self.task: asyncio.Task[None] | None = None
        self.stop = asyncio.Event()
        self.stop_requested = False
        self.end_reason: str | None = None
        self._ready: asyncio.Future[None] | None = None
        self._scratch: str | None = None

    @property
    def alive(self) -> bool:
        return self.client is not None and not self.stop.is_set()

    def exit_reason(self) -> str:
        """How the session ended, as a phrase: ``exited with code 1 (stderr: ...)``."""
        if self.transport is not None and self.transport.returncode is not None:
            return self.transport.describe_exit()
        if self.end_reason:
            return f"disconnected ({self.end_reason})"
        if self.transport is not None:
            return self.transport.describe_exit()
        return "closed the connection"

    async def open(self) -> None:
        """Start the server and connect within ``startup_timeout``; on failure nothing is left running."""
        self._ready = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._hold(self._ready), name=f"mcp-session:{self.name}")
        try:
            async with asyncio.timeout(self.config.startup_timeout):
                await asyncio.shield(self._ready)
        except TimeoutError:
            await self.close()
            raise TimeoutError(f"not ready within {self.config.startup_timeout:g}s") from None
        except Exception as exc:
            await self.close()
            transport = self.transport
            if (
                transport is not None
                and transport.returncode is not None
                and find_exception(exc, ServerSpawnError) is None
            ):
                raise SessionStartError(transport.describe_exit()) from exc  # exit code and stderr say more
            raise
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop the session (and the server process) and wait, boundedly, for it to end."""
        self.stop_requested = True
        self.stop.set()
        task = self.task
        if task is None or task.done():
            return
        if self._ready is not None and not self._ready.done():
            task.cancel()  # still connecting: nothing to wait for
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_DEADLINE)
        except TimeoutError:
            task.cancel()
            with suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 1.0)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled, not just the session task cancelled above
        except Exception:
            pass  # how the session ended was recorded by its task

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        from toolgym import __version__

        try:
            info = mcp_types.Implementation(name=self.client_name, version=__version__)
            async with Client(self._target(), client_info=info) as client:
                self.client = client
                if not ready.done():
                    ready.set_result(None)
                await self.stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError("start was cancelled"))
                ready.exception()  # the opener may have stopped waiting; never "unretrieved"
            elif not self.stop_requested:
                self.end_reason = self.end_reason or describe(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self.stop.set()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
            self.on_end(self)

    def _target(self) -> Any:
        config = self.config
        if isinstance(config, StdioServerConfig):
            self.transport = self._stdio_transport(config)
            return self.transport
        if isinstance(config, HttpServerConfig):
            return _http_transport(config)
        assert isinstance(config, InProcessServerConfig)
        return config.server

    def _stdio_transport(self, config: StdioServerConfig) -> StdioTransport:
        marker = "${" + SERVER_DIR_VAR + "}"
        if any(marker in f for f in [config.command, config.cwd or "", *config.args, *config.env.values()]):
            slug = re.sub(r"[^A-Za-z0-9_-]+", "_", self.name)
            self._scratch = tempfile.mkdtemp(prefix=f"toolgym-mcp-{slug}-")

        def sub(value: str) -> str:
            return value.replace(marker, self._scratch) if self._scratch else value

        return StdioTransport(
            self.name,
            sub(config.command),
            [sub(a) for a in config.args],
            {k: sub(v) for k, v in config.env.items()},
            sub(config.cwd) if config.cwd else None,
            on_exit=self.stop.set,
        )


@asynccontextmanager
async def _http_transport(config: HttpServerConfig) -> AsyncIterator[Any]:
    """Streamable HTTP with the configured headers, on a connection pool sized for many concurrent calls."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    timeout = httpx2.Timeout(config.startup_timeout, read=None)
    limits = httpx2.Limits(max_connections=256, max_keepalive_connections=64)
    async with (
        httpx2.AsyncClient(headers=config.headers, timeout=timeout, limits=limits) as http,
        streamable_http_client(config.url, http_client=http) as streams,
    ):
        yield streams
