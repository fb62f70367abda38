"""A persistent bash session driven over pipes: one long-lived shell runs every command of a sandbox.

Starting a process per command (``docker exec``) costs ~100 ms; writing a request to a shell that is
already running costs about a millisecond. The shell (the *driver*, :data:`DRIVER`) reads
requests on its stdin and frames each command's output on stdout and stderr with lines carrying a
random per-session token, so output without a trailing newline, binary bytes and commands reading
stdin cannot confuse the host:

* request ``x SEQ NLINES STDIN`` + NLINES lines of bash (+ STDIN raw bytes unless ``-``): run a command;
* request ``w SEQ NBYTES MODE`` + a path line + NBYTES raw bytes: write a file;
* reply: stdout ``TOKEN:SEQ:start:PID\\n`` + output + ``\\nTOKEN:SEQ:end:STATUS\\n``, and stderr
  output + ``\\nTOKEN:SEQ:end:STATUS\\n`` (the end line on both streams says both are complete).

Each command runs in a subshell that is its own process group (``set -m``), with stdin from
/dev/null unless given. A deadline kills exactly that group (the sandbox provides the killer) and the
shell stays usable. When a command ends, whatever it left running in the background is killed too
(so a backgrounded fork bomb or busy loop dies with its command); a process meant to outlive its
command (a server) must leave the group with ``setsid``. The working directory and exported
variables carry over from one command to the next, as in a terminal.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from toolgym.sandboxes.base import SandboxDied
from toolgym.sandboxes.transport import STDOUT, Transport

DRIVER = r"""
exec 3>&1 4>&2 2>/dev/null
IFS= read -r T || exit 0
set -m
D=$(mktemp -d 2>/dev/null) || D=/tmp
pwd > "$D/cwd"; : > "$D/env"
printf '%s:0:start:%s\n\n%s:0:end:0\n' "$T" "$$" "$T" >&3
printf '\n%s:0:end:0\n' "$T" >&4
nl='
'
while IFS=' ' read -r op seq n extra; do
  case $op in
  x)
    cmd=
    while [ "$n" -gt 0 ]; do IFS= read -r line; cmd=$cmd$line$nl; n=$((n - 1)); done
    in=/dev/null
    if [ "$extra" != - ]; then
      in=$(mktemp "$D/in.XXXXXX") || in=/dev/null
      head -c "$extra" | { cat > "$in" || cat > /dev/null; }
    fi
    last=$!
    (
      printf '%s:%s:start:%s\n' "$T" "$seq" "$BASHPID"
      trap "pwd > '$D/cwd'; export -p > '$D/env'" EXIT
      . "$D/env"; IFS= read -r line < "$D/cwd"; cd "$line"
      unset T D op seq n extra line in nl last
      eval "$cmd"
    ) < "$in" >&3 2>&4 3>&- 4>&- &
    if [ "$!" != "$last" ]; then
      wait "$!"; rc=$?; i=0; [ "$in" = /dev/null ] || rm -f -- "$in"
      while [ $i -lt 200 ] && kill -KILL -- "-$!" 2>/dev/null; do i=$((i + 1)); done
    else
      rc=126; printf '%s:%s:start:%s\n' "$T" "$seq" "$$" >&3
      echo "the command could not start: no process slots left in the sandbox" >&4
    fi
    ;;
  w)
    IFS= read -r path
    printf '%s:%s:start:%s\n' "$T" "$seq" "$$" >&3
    { [ -d "${path%/*}/" ] || mkdir -p -- "${path%/*}/"; } 2>&4
    head -c "$n" | { cat > "$path" || { cat > /dev/null; false; }; } 2>&4; rc=$?
    if [ $rc = 0 ] && [ "$extra" != - ]; then chmod "$extra" -- "$path" 2>&4; rc=$?; fi
    ;;
  *) continue ;;
  esac
  printf '\n%s:%s:end:%s\n' "$T" "$seq" "$rc" >&3; printf '\n%s:%s:end:%s\n' "$T" "$seq" "$rc" >&4
done
"""
"""The driver, run as ``bash -c DRIVER``. It needs bash, ``head -c`` that reads exactly N bytes
(GNU coreutils) and ``mktemp``; it prints nothing until it has read the session token."""

KillGroup = Callable[[int, int], Awaitable[None]]
"""``kill_group(pgid, driver_pid)``: SIGKILL process group ``pgid`` if it is a child of the driver shell."""


@dataclass(slots=True)
class RawResult:
    """One command's output as bytes; ``exit_code`` -1 means the shell died before it reported."""

    stdout: bytes
    stderr: bytes
    exit_code: int
    timed_out: bool
    duration: float
    truncated: bool


class _Capture:
    """One stream of one request: skips to its start line, keeps output up to a cap, stops at its end line.

    ``changed`` is set whenever the capture starts or ends.
    """

    __slots__ = ("_end", "_pending", "_start", "changed", "dropped", "limit", "out", "pid", "started", "status")

    def __init__(self, token: bytes, seq: int, limit: int, changed: asyncio.Event, started: bool = False) -> None:
        self._start = b"%s:%d:start:" % (token, seq)
        self._end = b"\n%s:%d:end:" % (token, seq)
        self._pending = bytearray()
        self.out = bytearray()
        self.limit = limit
        self.dropped = 0
        self.started = started
        self.pid: int | None = None
        self.status: int | None = None
        self.changed = changed

    @property
    def ended(self) -> bool:
        return self.status is not None

    def _keep(self, data: bytes | bytearray) -> None:
        room = self.limit - len(self.out)
        if room >= len(data):
            self.out += data
        else:
            if room > 0:
                self.out += data[:room]
            self.dropped += len(data) - max(room, 0)

    def feed(self, data: bytes) -> None:
        if self.status is not None:
            return  # output after the end line belongs to no request (a background process)
        pending = self._pending
        pending += data
        if not self.started:
            i = pending.find(self._start)
            if i < 0:
                del pending[: max(len(pending) - len(self._start) + 1, 0)]  # noise before the start line
                return
            j = pending.find(b"\n", i + len(self._start))
            if j < 0:
                del pending[:i]
                return
            self.pid = _int(pending[i + len(self._start) : j])
            self.started = True
            del pending[: j + 1]
            self.changed.set()
        i = pending.find(self._end)
        if i >= 0:
            self._keep(pending[:i])
            del pending[:i]
            j = pending.find(b"\n", len(self._end))
            if j >= 0:
                self.status = _int(pending[len(self._end) : j])
                pending.clear()
                self.changed.set()
            return
        safe = len(pending) - len(self._end) + 1
        if safe > 0:
            self._keep(pending[:safe])
            del pending[:safe]


def _int(raw: bytes | bytearray) -> int:
    try:
        return int(raw)
    except ValueError:
        return -1


def encode_command(seq: int, command: str, stdin: bytes | None) -> bytes:
    """The request running ``command`` (bash source) with ``stdin`` (None: /dev/null)."""
    if "\0" in command:
        raise ValueError("a command cannot contain NUL characters")
    lines = command.split("\n")
    header = f"x {seq} {len(lines)} {'-' if stdin is None else len(stdin)}\n"
    return header.encode() + command.encode("utf-8", "surrogateescape") + b"\n" + (stdin or b"")


def encode_write(seq: int, path: str, data: bytes, mode: int | None) -> bytes:
    """The request writing ``data`` to the absolute ``path`` with permission bits ``mode``."""
    if "\n" in path or "\0" in path:
        raise ValueError(f"invalid path {path!r}")
    header = f"w {seq} {len(data)} {'-' if mode is None else format(mode, 'o')}\n{path}\n"
    return header.encode("utf-8", "surrogateescape") + data


class ShellSession:
    """One driver shell behind a transport. Requests run one at a time (callers hold the sandbox lock).

    ``kill_group(pgid)`` must SIGKILL a process group in the sandbox; it is how deadlines are enforced.
    After a deadline the session waits ``grace`` seconds for the shell to report; a shell that does not
    is marked broken and the sandbox replaces it.
    """

    def __init__(self, transport: Transport, kill_group: KillGroup, grace: float = 3.0) -> None:
        self.transport = transport
        self.kill_group = kill_group
        self.grace = grace
        self.token = secrets.token_hex(12).encode()
        self.pid: int | None = None
        self.broken = False
        self._seq = 0
        self._captures: tuple[_Capture, _Capture] | None = None
        self._changed = asyncio.Event()
        self._dead = False
        self._lingering: asyncio.Future[None] | None = None

    @property
    def alive(self) -> bool:
        return not self._dead and not self.broken

    def _on_eof(self) -> None:
        self._dead = True
        self._changed.set()

    def _on_data(self, stream: int, data: bytes) -> None:
        captures = self._captures
        if captures is not None:
            captures[0 if stream == STDOUT else 1].feed(data)

    def _new_request(self, seq: int, limit: int) -> tuple[_Capture, _Capture]:
        self._captures = (
            _Capture(self.token, seq, limit, self._changed),
            _Capture(self.token, seq, limit, self._changed, started=True),
        )
        return self._captures

    async def open(self, timeout: float) -> None:
        """Start reading and hand the shell its token; SandboxDied if it does not answer in time."""
        self.transport.start(self._on_data, self._on_eof)
        out, err = self._new_request(0, 4096)
        try:
            await self.transport.send(self.token + b"\n", timeout)
            await self._wait(out, err, timeout)
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise SandboxDied(f"the sandbox shell did not start ({type(exc).__name__})") from None
        if not (out.ended and err.ended):
            detail = (bytes(out.out) + bytes(err.out)).decode(errors="replace").strip()[:500]
            raise SandboxDied(
                "the sandbox shell did not start (the image needs bash, GNU coreutils and a writable /tmp)"
                + (f": {detail}" if detail else "")
            )
        self.pid = out.pid

    async def _wait(self, out: _Capture, err: _Capture, timeout: float | None) -> None:
        """Until both streams ended or the shell died; TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not (out.ended and err.ended) and not self._dead:
                self._changed.clear()
                await self._changed.wait()

    async def run(
        self, command: str, timeout: float, stdin: bytes | None = None, max_output: int = 1_000_000
    ) -> RawResult:
        """Run ``command``; after ``timeout`` seconds kill its process group and report ``timed_out``."""
        return await self._request(encode_command(self._seq + 1, command, stdin), timeout, max_output)

    async def write(self, path: str, data: bytes, mode: int | None, timeout: float) -> RawResult:
        """Write a file as the sandbox user (so it can only go where the sandbox may write)."""
        return await self._request(encode_write(self._seq + 1, path, data, mode), timeout, 64_000)

    async def _request(self, request: bytes, timeout: float, max_output: int) -> RawResult:
        if not self.alive:
            raise SandboxDied("the sandbox shell is not running")
        self._seq += 1
        out, err = self._new_request(self._seq, max_output)
        start = time.perf_counter()
        timed_out = False
        try:
            try:
                await self.transport.send(request, timeout)
                await self._wait(out, err, max(timeout - (time.perf_counter() - start), 0))
            except TimeoutError:
                timed_out = True
                await self._stop(out, err)
            except (ConnectionError, OSError):
                self._on_eof()
        except asyncio.CancelledError:
            self._lingering = asyncio.ensure_future(self._stop(out, err))  # kill it; ``settle`` waits
            raise
        truncated = bool(out.dropped or err.dropped)
        duration = time.perf_counter() - start
        if not (out.ended and err.ended):
            self.broken = True  # the shell died mid-command, or would not report after the kill
            return RawResult(bytes(out.out), bytes(err.out), -1, timed_out, duration, truncated)
        return RawResult(bytes(out.out), bytes(err.out), out.status or 0, timed_out, duration, truncated)

    async def _stop(self, out: _Capture, err: _Capture) -> None:
        """Kill a command past its deadline and wait for the shell to report it; else mark the shell broken."""
        try:
            async with asyncio.timeout(self.grace):
                while not out.started and not self._dead:
                    await asyncio.sleep(0.01)
                if out.pid is not None and out.pid > 1 and out.pid != self.pid and not out.ended and self.pid:
                    await self.kill_group(out.pid, self.pid)  # the PID is only a claim: it is checked there
                await self._wait(out, err, None)
        except (TimeoutError, SandboxDied, ConnectionError, OSError):
            pass
        if not (out.ended and err.ended):
            self.broken = True

    async def settle(self) -> None:
        """Finish the cleanup of a cancelled request before the next one (marks the shell broken on failure)."""
        task, self._lingering = self._lingering, None
        if task is not None:
            try:
                await task
            except Exception:
                self.broken = True

    async def close(self) -> None:
        if self._lingering is not None:
            self._lingering.cancel()
            self._lingering = None
        self._on_eof()
        await self.transport.close()
