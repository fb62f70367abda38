"""The stdio transport: an MCP server as a child process in its own process group.

Like the SDK's ``stdio_client`` (newline-delimited JSON-RPC over the child's stdin/stdout), plus what a
long-running environment needs: the process id (= process group id) is tracked so nothing outlives
the interpreter, the end of the server's stdout is reported at once (``on_exit``) so a crash is noticed
while idle, the tail of its stderr is kept for error messages, and stdout lines that are not JSON-RPC
(stray prints) are skipped instead of breaking the session.
"""

from __future__ import annotations

import collections
import logging
import subprocess
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel
import mcp_types
from anyio.abc import Process
from mcp.client.stdio import get_default_environment
from mcp.shared.message import SessionMessage

from toolgym.tools.mcp import processes

logger = logging.getLogger(__name__)

EXIT_GRACE = 1.0
"""Seconds a server gets to exit by itself once its stdin is closed, before its group is terminated."""
KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL of the group."""
STDERR_LINES = 40


def split_lines(pending: bytearray, chunk: bytes) -> list[bytes]:
    """The lines ``chunk`` completes; the unfinished rest stays in ``pending``.

    A chunk without a newline is only appended, so a reply of many megabytes costs linear time.
    """
    pending += chunk
    if b"\n" not in chunk:
        return []
    *lines, rest = pending.split(b"\n")
    pending[:] = rest
    return [bytes(line) for line in lines]


class ServerSpawnError(OSError):
    """The server's command could not be started at all (not found, not executable)."""


class StdioTransport:
    """An MCP transport over the stdin/stdout of ``command args`` (an async context manager of streams)."""

    def __init__(
        self,
        name: str,
        command: str,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.args = list(args)
        self.env = dict(env or {})
        self.cwd = cwd
        self.on_exit = on_exit
        self.process: Process | None = None
        self.stderr_lines: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._cm: Any = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process is not None else None

    def describe_exit(self) -> str:
        """How the server ended, e.g. ``exited with code 1 (stderr: ...)``."""
        code = self.returncode
        if code is None:
            what = "closed its stdout"
        elif code < 0:
            what = f"was killed by signal {-code}"
        else:
            what = f"exited with code {code}"
        tail = " | ".join(list(self.stderr_lines)[-3:])
        return f"{what} (stderr: {tail})" if tail else what

    async def __aenter__(self) -> tuple[Any, Any]:
        self._cm = self._connect()
        return await self._cm.__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            await cm.__aexit__(exc_type, exc, tb)

    async def _spawn(self) -> Process:
        try:
            return await anyio.open_process(
                [self.command, *self.args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=get_default_environment() | self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            missing = self.cwd if self.cwd and exc.filename == self.cwd else self.command
            raise ServerSpawnError(f"cannot start {self.command!r}: {missing!r} not found") from None
        except PermissionError:
            raise ServerSpawnError(f"cannot start {self.command!r}: permission denied") from None

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[tuple[Any, Any]]:
        process = await self._spawn()
        self.process = process
        processes.track(process.pid, self.name)
        # no awaits between the spawn and the task group: a cancellation there would leak the process
        read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
        stopping = False

        async def read_stdout() -> None:
            assert process.stdout is not None
            pending = bytearray()
            try:
                async with read_writer:
                    async for chunk in process.stdout:
                        for line in split_lines(pending, chunk):
                            message = self._parse(line)
                            if message is not None:
                                await read_writer.send(message)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                pass
            finally:
                if not stopping and self.on_exit is not None:
                    self.on_exit()

        async def read_stderr() -> None:
            assert process.stderr is not None
            pending = bytearray()
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                async for chunk in process.stderr:
                    for line in split_lines(pending, chunk):
                        text = line.decode("utf-8", "replace").rstrip()
                        if text:
                            self.stderr_lines.append(text)
                            logger.debug("[%s] %s", self.name, text)

        async def write_stdin() -> None:
            assert process.stdin is not None
            try:
                async with write_reader:
                    async for message in write_reader:
                        data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                        await process.stdin.send(data.encode())
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                await read_writer.aclose()  # the session sees the end instead of waiting forever

        async with anyio.create_task_group() as tg:
            tg.start_soon(read_stdout)
            tg.start_soon(read_stderr)
            tg.start_soon(write_stdin)
            try:
                yield read_stream, write_stream
            finally:
                stopping = True
                with anyio.CancelScope(shield=True):
                    await self._stop(process)
                    for stream in (read_stream, write_stream, read_writer, write_reader):
                        await stream.aclose()
                tg.cancel_scope.cancel()
        await anyio.lowlevel.cancel_shielded_checkpoint()

    def _parse(self, line: bytes) -> SessionMessage | None:
        if not line.strip():
            return None
        try:
            return SessionMessage(mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False))
        except ValueError:
            text = line.decode("utf-8", "replace").strip()[:200]
            self.stderr_lines.append(f"(stdout) {text}")
            logger.warning("server %r wrote a line that is not JSON-RPC to stdout: %s", self.name, text)
            return None

    async def _stop(self, process: Process) -> None:
        """Close stdin, give the server ``EXIT_GRACE`` to exit, then stop its whole process group."""
        pgid = process.pid
        try:
            if process.stdin is not None:
                with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await process.stdin.aclose()
            with anyio.move_on_after(EXIT_GRACE):
                while process.returncode is None:
                    await anyio.sleep(0.01)
            await processes.stop_group(pgid, KILL_GRACE)  # also children the server left behind
            with anyio.move_on_after(KILL_GRACE):
                while process.returncode is None:
                    await anyio.sleep(0.01)
        finally:
            processes.untrack(pgid)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                        await stream.aclose()
            transport = getattr(getattr(process, "_process", None), "_transport", None)
            if transport is not None:
                with suppress(Exception):
                    transport.close()
