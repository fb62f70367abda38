"""ShellSandbox: the Sandbox operations on top of a persistent shell session, shared by every backend.

A backend says how to start the sandbox, how to open a shell in it, how to kill a process group in
it and how to destroy it; this class runs commands and moves files through the shell, one request at
a time, and replaces a shell that died (the command killed it) with a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from toolgym.sandboxes.base import (
    DEFAULT_TIMEOUT,
    ExecResult,
    SandboxDied,
    SandboxError,
    SandboxFileError,
    SandboxLimits,
    resolve_path,
)
from toolgym.sandboxes.shell import RawResult, ShellSession
from toolgym.sandboxes.transport import Transport

SHELL_DIED = "[the sandbox shell was killed while running this command; a new shell runs the next one]"


class ShellSandbox(ABC):
    """Base of the sandboxes that run commands through :class:`ShellSession`.

    Use ``sandbox = await Backend(...).start()`` or ``async with Backend(...) as sandbox``.
    """

    workdir: str

    def __init__(self, limits: SandboxLimits | None, workdir: str, start_timeout: float) -> None:
        if start_timeout <= 0:
            raise ValueError("start_timeout must be > 0")
        self.limits = limits or SandboxLimits()
        self.workdir = workdir
        self.start_timeout = start_timeout
        self.shell_restarts = 0
        self._session: ShellSession | None = None
        self._lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._gone = False

    # ---- what a backend provides ------------------------------------------------------------

    @abstractmethod
    async def _create(self) -> None:
        """Bring the sandbox up (container, namespace, directory); clean up after itself on failure."""

    @abstractmethod
    async def _open_transport(self) -> Transport:
        """Start a driver shell process (``bash -c DRIVER``) in the sandbox as the sandbox user."""

    @abstractmethod
    async def _kill_group(self, pgid: int, driver_pid: int) -> None:
        """SIGKILL the process group ``pgid`` (numbered as the sandbox sees it) — only if that process is a
        child of the driver shell ``driver_pid``: both numbers come from the sandbox and must not be trusted
        to name any other process."""

    @abstractmethod
    async def _kill_all(self) -> None:
        """SIGKILL every process of the sandbox user, before a fresh shell replaces a dead one."""

    @abstractmethod
    async def _destroy(self) -> None:
        """Tear the sandbox down; never raises."""

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> Self:
        """Create the sandbox and its shell within ``start_timeout`` seconds."""
        if self._started:
            return self
        if self._closed:
            raise SandboxDied("this sandbox was closed; make a new one")
        self._started = True
        try:
            async with asyncio.timeout(self.start_timeout):
                await self._create()
                self._session = await self._new_session()
        except BaseException as exc:
            await self.close()
            if isinstance(exc, TimeoutError):
                raise SandboxError(f"{self} did not start within {self.start_timeout:g}s") from None
            raise
        return self

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def alive(self) -> bool:
        return self._started and not self._closed and not self._gone

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()
        await self._destroy()

    # ---- the shell ----------------------------------------------------------------------------

    async def _new_session(self) -> ShellSession:
        transport = await self._open_transport()
        session = ShellSession(transport, self._kill_group)
        try:
            await session.open(min(self.start_timeout, 30.0))
        except BaseException:
            await session.close()
            raise
        return session

    async def _shell(self) -> ShellSession:
        """The running shell, replaced by a new one if the last command killed it."""
        if not self._started:
            raise SandboxError(f"{self} is not started: call `await sandbox.start()` first")
        if self._closed or self._gone:
            raise SandboxDied(f"{self} is closed or dead")
        session = self._session
        if session is not None:
            await session.settle()
            if session.alive:
                return session
            self._session = None
            await session.close()
        try:
            async with asyncio.timeout(self.start_timeout):
                await self._kill_all()
                self._session = await self._new_session()
        except (SandboxError, TimeoutError, OSError, ConnectionError) as exc:
            self._gone = True
            raise SandboxDied(f"{self} is gone: its shell could not be restarted ({exc})") from None
        self.shell_restarts += 1
        return self._session

    async def _run(
        self, command: str, timeout: float | None, stdin: bytes | None, max_output: int | None = None
    ) -> RawResult:
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        async with self._lock:
            session = await self._shell()
            return await session.run(command, timeout, stdin, max_output or self.limits.output_bytes)

    # ---- the Sandbox operations ---------------------------------------------------------------

    async def exec(self, cmd: str, timeout: float | None = None, stdin: bytes | str | None = None) -> ExecResult:
        """Run ``cmd`` with bash; after ``timeout`` seconds (default 60) kill it and its children."""
        data = stdin.encode() if isinstance(stdin, str) else stdin
        raw = await self._run(cmd, timeout, data)
        stderr = raw.stderr.decode("utf-8", "replace")
        if raw.exit_code == -1 and not raw.timed_out:
            async with self._lock:
                await self._shell()  # a new shell now; SandboxDied if the whole sandbox went with the old one
            stderr = f"{stderr}\n{SHELL_DIED}" if stderr else SHELL_DIED
        return ExecResult(
            stdout=raw.stdout.decode("utf-8", "replace"),
            stderr=stderr,
            exit_code=raw.exit_code,
            timed_out=raw.timed_out,
            duration=raw.duration,
            truncated=raw.truncated,
        )

    async def write_file(self, path: str, content: bytes | str, mode: int = 0o644) -> None:
        """Create or replace ``path`` (relative to the work dir), making parent directories."""
        target = resolve_path(self.workdir, path)
        data = content.encode() if isinstance(content, str) else bytes(content)
        async with self._lock:
            session = await self._shell()
            raw = await session.write(target, data, mode, timeout=30.0 + len(data) / 1e6)
        if raw.exit_code != 0:
            reason = raw.stderr.decode("utf-8", "replace").strip() or f"status {raw.exit_code}"
            raise SandboxFileError(f"cannot write {target}: {reason}")

    async def read_file(self, path: str, max_bytes: int = 8_000_000) -> bytes:
        """The bytes of ``path`` (relative to the work dir); SandboxFileError if missing or too large."""
        target = resolve_path(self.workdir, path)
        quoted = shlex.quote(target)
        command = f"if [ -d {quoted} ]; then echo 'Is a directory' >&2; exit 1; fi; head -c {max_bytes + 1} -- {quoted}"
        raw = await self._run(command, 30.0 + max_bytes / 1e6, None, max_bytes + 1)
        if raw.exit_code != 0 or raw.timed_out:
            reason = raw.stderr.decode("utf-8", "replace").strip().removeprefix("head: ") or f"status {raw.exit_code}"
            raise SandboxFileError(f"cannot read {target}: {reason}")
        if len(raw.stdout) > max_bytes:
            raise SandboxFileError(f"cannot read {target}: larger than {max_bytes} bytes")
        return raw.stdout
