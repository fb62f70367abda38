"""Byte pipes to one process in a sandbox: subprocess pipes, or a Docker attach/exec socket.

A transport delivers the process's stdout and stderr as ``(stream, bytes)`` chunks to a callback, in
the order each stream produced them, and signals the end of both streams once.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

STDOUT, STDERR = 1, 2
_HEADER = struct.Struct(">BxxxI")

OnData = Callable[[int, bytes], None]
OnEof = Callable[[], None]


class Transport(ABC):
    """A duplex byte stream to one process: ``send`` writes its stdin; output goes to ``on_data``."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._on_data: OnData = lambda stream, data: None
        self._on_eof: OnEof = lambda: None
        self._eof = False

    def start(self, on_data: OnData, on_eof: OnEof) -> None:
        """Begin reading; ``on_eof`` is called once when the process's output ends."""
        self._on_data, self._on_eof = on_data, on_eof
        self._tasks = [asyncio.create_task(self._read(stream)) for stream in self._streams()]

    @property
    def eof(self) -> bool:
        return self._eof

    def _finished(self) -> None:
        if not self._eof and all(t.done() or t is asyncio.current_task() for t in self._tasks):
            self._eof = True
            self._on_eof()

    @abstractmethod
    def _streams(self) -> list[int]: ...

    @abstractmethod
    async def _read(self, stream: int) -> None: ...

    @abstractmethod
    async def send(self, data: bytes, timeout: float) -> None:
        """Write ``data`` to the process's stdin; TimeoutError if it is not taken within ``timeout``."""

    async def close(self) -> None:
        """Stop reading and close the connection (the process sees end of input)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._eof = True


class PipeTransport(Transport):
    """The stdin, stdout and stderr pipes of an asyncio subprocess."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        super().__init__()
        self.process = process

    def _streams(self) -> list[int]:
        return [STDOUT, STDERR]

    async def _read(self, stream: int) -> None:
        reader = self.process.stdout if stream == STDOUT else self.process.stderr
        assert reader is not None
        try:
            while chunk := await reader.read(65536):
                self._on_data(stream, chunk)
        except (ConnectionError, OSError):
            pass
        finally:
            self._finished()

    async def send(self, data: bytes, timeout: float) -> None:
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing():
            raise ConnectionResetError("the process's stdin is closed")
        stdin.write(data)
        async with asyncio.timeout(timeout):
            await stdin.drain()

    async def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        await super().close()


class MuxSocketTransport(Transport):
    """A hijacked Docker attach or exec connection (no TTY): stdout and stderr arrive multiplexed in
    frames of an 8-byte header (stream id, 3 zero bytes, big-endian length) and a payload."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep: Any = None) -> None:
        super().__init__()
        self.reader, self.writer = reader, writer
        self._keep = keep  # the docker-py socket wrapper and response: closing them early would close ours

    @classmethod
    async def connect(cls, sock: Any) -> MuxSocketTransport:
        """Wrap the socket-like object returned by docker-py ``exec_start(socket=True)``/``attach_socket``."""
        raw = getattr(sock, "_sock", sock)
        reader, writer = await asyncio.open_connection(sock=raw, limit=1 << 20)
        return cls(reader, writer, keep=sock)

    def _streams(self) -> list[int]:
        return [0]  # one reader task demultiplexes both streams

    async def _read(self, stream: int) -> None:
        try:
            while True:
                header = await self.reader.readexactly(_HEADER.size)
                kind, size = _HEADER.unpack(header)
                payload = await self.reader.readexactly(size) if size else b""
                if kind in (STDOUT, STDERR):
                    self._on_data(kind, payload)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._finished()

    async def send(self, data: bytes, timeout: float) -> None:
        if self.writer.is_closing():
            raise ConnectionResetError("the sandbox connection is closed")
        self.writer.write(data)
        async with asyncio.timeout(timeout):
            await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self.writer.wait_closed()
        await super().close()
        with contextlib.suppress(Exception):
            self._keep.close()
        self._keep = None
