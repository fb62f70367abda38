"""SandboxToolset: ``bash``, ``python``, ``read_file`` and ``write_file`` running in a sandbox.

The toolset talks to whichever sandbox is attached (``attach``), so an environment can give each
episode a fresh sandbox while the tools on offer stay the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from toolgym.sandboxes.base import ExecResult, Sandbox, SandboxError, SandboxFileError
from toolgym.tools.base import ToolError, ToolOutput, Toolset
from toolgym.tools.function import FunctionToolset
from toolgym.types import ToolSpec

SANDBOX_TOOLS = ("bash", "python", "read_file", "write_file")


def clip(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, keeping its start and end, with a note of the cut."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


def format_result(result: ExecResult, limit: int) -> ToolOutput:
    """A command's result as the model sees it: stdout, then stderr, exit status and any deadline or cut."""
    parts = [clip(result.stdout, limit)] if result.stdout else []
    if result.stderr:
        parts.append("[stderr]\n" + clip(result.stderr, limit // 2))
    if result.timed_out:
        parts.append(f"[timed out after {result.duration:.1f}s; the command was killed]")
    elif result.exit_code != 0:
        parts.append(f"[exit code {result.exit_code}]")
    if result.truncated:
        parts.append("[output beyond the sandbox's cap was dropped]")
    text = "\n".join(p.rstrip("\n") for p in parts) or "[no output]"
    return ToolOutput(text, is_error=result.timed_out)


class SandboxToolset(Toolset):
    """Shell, Python and file tools in the attached sandbox.

    Args:
        sandbox: the sandbox to use now (or ``attach`` one later, e.g. per episode).
        tools: which of ``bash``, ``python``, ``read_file``, ``write_file`` to offer.
        timeout: default deadline of one command, seconds.
        max_timeout: the most a model may ask for with a call's ``timeout`` argument.
        max_output: characters of output shown to the model per call (start and end are kept).
        close_sandbox: close the attached sandbox in ``aclose`` (when the toolset owns it).
    """

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        tools: Sequence[str] = SANDBOX_TOOLS,
        timeout: float = 30.0,
        max_timeout: float = 120.0,
        max_output: int = 16_000,
        close_sandbox: bool = False,
    ) -> None:
        unknown = [t for t in tools if t not in SANDBOX_TOOLS]
        if unknown:
            raise ValueError(f"unknown sandbox tools {unknown}; choose from {', '.join(SANDBOX_TOOLS)}")
        if not 0 < timeout <= max_timeout:
            raise ValueError("need 0 < timeout <= max_timeout")
        self.sandbox = sandbox
        self.timeout = timeout
        self.max_timeout = max_timeout
        self.max_output = max_output
        self.close_sandbox = close_sandbox
        self._tools = FunctionToolset()
        for name in tools:
            self._tools.add(getattr(self, f"_{name}"), name=name)

    def attach(self, sandbox: Sandbox | None) -> None:
        """Point the tools at ``sandbox`` (None: no sandbox; calls then fail with a tool error)."""
        self.sandbox = sandbox

    def _current(self) -> Sandbox:
        if self.sandbox is None or not self.sandbox.alive:
            raise ToolError("no sandbox is available (it was closed or has died)", kind="sandbox_unavailable")
        return self.sandbox

    def _deadline(self, timeout: float | None) -> float:
        if timeout is None:
            return self.timeout
        if not math.isfinite(timeout) or timeout <= 0:
            raise ToolError("timeout must be a positive number of seconds", kind="invalid_arguments")
        return min(timeout, self.max_timeout)

    async def list_tools(self) -> list[ToolSpec]:
        return await self._tools.list_tools()

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        try:
            return await self._tools.call(name, arguments)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, SandboxFileError):
                raise ToolError(str(cause), kind="file_error") from cause
            if isinstance(cause, SandboxError):
                raise ToolError(str(cause), kind="sandbox_error") from cause
            raise

    async def aclose(self) -> None:
        if self.close_sandbox and self.sandbox is not None:
            await self.sandbox.close()

    # ---- the tools (docstrings are what the model reads) --------------------------------------

    async def _bash(self, command: str, timeout: float | None = None) -> ToolOutput:
        """Run a bash command in the sandbox's working directory and return its output and exit code.
        The working directory and exported variables persist between calls. There is no network.

        Args:
            command: the bash command or script to run
            timeout: seconds before the command is killed (default 30)
        """
        result = await self._current().exec(command, timeout=self._deadline(timeout))
        return format_result(result, self.max_output)

    async def _python(self, code: str, timeout: float | None = None) -> ToolOutput:
        """Run a Python 3 program in the sandbox's working directory and return what it prints.
        Each call is a fresh interpreter: define everything the program needs, and print results.

        Args:
            code: the Python source to run
            timeout: seconds before the program is killed (default 30)
        """
        result = await self._current().exec("python3 -", timeout=self._deadline(timeout), stdin=code)
        return format_result(result, self.max_output)

    async def _read_file(self, path: str) -> ToolOutput:
        """Read a text file from the sandbox.

        Args:
            path: the file's path, relative to the working directory or absolute
        """
        data = await self._current().read_file(path, max_bytes=max(self.max_output * 4, 1_000_000))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return ToolOutput(f"{path} is a binary file ({len(data)} bytes); inspect it with bash", is_error=True)
        return ToolOutput(clip(text, self.max_output) if text else "[empty file]")

    async def _write_file(self, path: str, content: str) -> ToolOutput:
        """Create or overwrite a text file in the sandbox, creating parent directories as needed.

        Args:
            path: the file's path, relative to the working directory or absolute
            content: the complete new content of the file
        """
        await self._current().write_file(path, content)
        return ToolOutput(f"wrote {len(content.encode())} bytes to {path}")
