"""The Sandbox contract: run commands and move files in an isolated machine, every call with a deadline."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_TIMEOUT = 60.0
"""Seconds a command may run when the caller gives no timeout."""


class SandboxError(RuntimeError):
    """A sandbox could not do what was asked (start, run, copy); the message says why."""


class SandboxUnavailable(SandboxError):
    """No sandbox can be made: no engine, no image, no permission. Retrying will not help."""


class SandboxDied(SandboxError):
    """The sandbox is gone (its container or process tree was killed); make a new one."""


class SandboxFileError(SandboxError):
    """A file could not be read or written inside the sandbox (missing, too large, no permission)."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What one command did.

    ``exit_code`` is the shell's status (128 + N when killed by signal N; -1 when the sandbox shell
    itself died). ``truncated`` says output beyond the cap was dropped (the command still ran on).
    """

    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool = False
    duration: float = 0.0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """Exited 0 within its deadline."""
        return self.exit_code == 0 and not self.timed_out


class SandboxLimits(BaseModel):
    """Resource limits of one sandbox. The defaults are safe for running untrusted model code."""

    model_config = ConfigDict(frozen=True)

    memory_mb: int = Field(default=512, ge=16, description="memory (RAM, no swap) of the whole sandbox")
    cpus: float = Field(default=1.0, gt=0, description="CPU cores the sandbox may use")
    pids: int = Field(default=256, ge=8, description="processes and threads at once")
    workdir_mb: int = Field(default=64, ge=1, description="size of the writable work directory")
    tmp_mb: int = Field(default=32, ge=1, description="size of the writable /tmp")
    network: bool = Field(default=False, description="allow network access (off: loopback only)")
    output_bytes: int = Field(default=1_000_000, ge=1024, description="kept output per stream per command")


@runtime_checkable
class Sandbox(Protocol):
    """An isolated place to run commands. Relative paths are relative to ``workdir``.

    Implementations: :class:`~toolgym.sandboxes.docker.DockerSandbox` (a container) and
    :class:`~toolgym.sandboxes.local.LocalSandbox` (bubblewrap or a plain subprocess).
    """

    workdir: str

    @property
    def alive(self) -> bool:
        """False once the sandbox is closed or known to be dead."""
        ...

    async def exec(self, cmd: str, timeout: float | None = None, stdin: bytes | str | None = None) -> ExecResult:
        """Run ``cmd`` with bash in the work directory; kill it (not the sandbox) after ``timeout`` seconds."""
        ...

    async def write_file(self, path: str, content: bytes | str, mode: int = 0o644) -> None:
        """Create or replace a file (and its parent directories)."""
        ...

    async def read_file(self, path: str, max_bytes: int = 8_000_000) -> bytes:
        """A file's bytes; SandboxFileError if missing or larger than ``max_bytes``."""
        ...

    async def close(self) -> None:
        """Destroy the sandbox and everything in it. Safe to call twice."""
        ...


def resolve_path(workdir: str, path: str) -> str:
    """``path`` made absolute against ``workdir`` (POSIX paths inside the sandbox)."""
    if not path or "\0" in path or "\n" in path:
        raise SandboxFileError(f"invalid path {path!r}")
    return posixpath.normpath(posixpath.join(workdir, path))
