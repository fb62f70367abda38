"""LocalSandbox: the embedded fallback when no Docker engine is reachable.

With bubblewrap (``bwrap``) installed, the shell runs in fresh user, PID, network, IPC and UTS
namespaces with the system directories mounted read-only, a size-capped /tmp and the work directory
(a host temporary directory) mounted at /work. Without it, the shell is a plain subprocess in a
temporary directory. Either way it runs with rlimits (address space, file size, open files, and
processes when the host user is root, which runs it as ``nobody``). See docs/sandboxes.md for what
each mode does not isolate.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

from toolgym.sandboxes.base import SandboxLimits, SandboxUnavailable
from toolgym.sandboxes.shell import DRIVER
from toolgym.sandboxes.shell_sandbox import ShellSandbox
from toolgym.sandboxes.transport import PipeTransport, Transport

Isolation = Literal["auto", "bwrap", "none"]
NOBODY = 65534
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _bwrap_mounts() -> list[str]:
    args: list[str] = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


@functools.cache
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and can create its namespaces here (checked once)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    argv = [bwrap, "--unshare-all", "--die-with-parent", *_bwrap_mounts(), "--proc", "/proc", "--dev", "/dev", "true"]
    drop = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.geteuid() == 0 else {}
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False, **drop)  # type: ignore[call-overload]
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _ns_pid_to_host(root: int, ns_pid: int) -> int | None:
    """The host PID of the process numbered ``ns_pid`` inside the PID namespace under process ``root``."""
    todo = [root]
    seen = 0
    while todo and seen < 10_000:
        pid = todo.pop()
        seen += 1
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:"):
                ids = line.split()[1:]
                if len(ids) > 1 and int(ids[-1]) == ns_pid:
                    return pid
                break
        todo.extend(int(c) for c in children)
    return None


def _members(sid: int, marker: bytes) -> list[int]:
    """PIDs in session ``sid`` or carrying ``marker`` in their environment: every process an unisolated
    shell started, including those that left its session (unless they also cleared their environment)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()
            if (len(fields) > 3 and int(fields[3]) == sid) or marker in (entry / "environ").read_bytes():
                members.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return members


def _parent_of(pid: int) -> int | None:
    """The parent PID of ``pid`` on this host, read past the command name (which may hold any text)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def _killpg(pgid: int) -> None:
    for _ in range(5):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return


class LocalSandbox(ShellSandbox):
    """Commands in a bubblewrap sandbox or, without bubblewrap, a subprocess in a temporary directory.

    Args:
        limits: resource limits (memory is an address-space rlimit per process; CPU is not limited).
        isolation: ``"bwrap"``, ``"none"`` (plain subprocess) or ``"auto"`` (bwrap when it works here).
        env: extra environment variables for commands.
        start_timeout: deadline of starting the sandbox, seconds.
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        isolation: Isolation = "auto",
        env: dict[str, str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        if isolation not in ("auto", "bwrap", "none"):
            raise ValueError(f"isolation must be 'auto', 'bwrap' or 'none', got {isolation!r}")
        super().__init__(limits, "/work", start_timeout)
        self.requested_isolation = isolation
        self.isolation: Literal["bwrap", "none"] = "none"
        self.env = dict(env or {})
        self.host_dir: str | None = None
        self.tmp_dir: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._as_nobody = os.geteuid() == 0
        self._marker = f"TOOLGYM_SANDBOX={secrets.token_hex(8)}"

    def __repr__(self) -> str:
        return f"LocalSandbox({self.isolation}, {self.host_dir})"

    async def _create(self) -> None:
        if self.requested_isolation == "none":
            self.isolation = "none"
        else:
            works = await asyncio.to_thread(bwrap_works)
            if not works and self.requested_isolation == "bwrap":
                raise SandboxUnavailable("bubblewrap (bwrap) is not installed or cannot create namespaces here")
            self.isolation = "bwrap" if works else "none"
        self.host_dir = tempfile.mkdtemp(prefix="toolgym-sandbox-")
        if self._as_nobody:
            os.chown(self.host_dir, NOBODY, NOBODY)
        os.chmod(self.host_dir, 0o700)
        if self.isolation == "none":
            self.workdir = self.host_dir
            shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
            self.tmp_dir = tempfile.mkdtemp(prefix="toolgym-sandbox-tmp-", dir=shm)
            if self._as_nobody:
                os.chown(self.tmp_dir, NOBODY, NOBODY)

    def _script(self) -> str:
        limits = self.limits
        lines = [
            f"ulimit -v {limits.memory_mb * 1024}",
            f"ulimit -f {limits.workdir_mb * 1024}",
            "ulimit -c 0",
            "ulimit -n 1024",
        ]
        if self._as_nobody:
            lines.append(f"ulimit -u {limits.pids}")
        return "\n".join(f"{line} 2>/dev/null" for line in lines) + "\n" + DRIVER

    def _argv(self) -> list[str]:
        shell = ["bash", "-c", self._script()]
        if self.isolation == "none":
            return shell
        limits = self.limits
        env = {"HOME": "/work", "PATH": _PATH, "LANG": "C.UTF-8", "TMPDIR": "/tmp", **self.env}
        argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        if limits.network:
            argv.append("--share-net")
        argv += [*_bwrap_mounts(), "--proc", "/proc", "--dev", "/dev"]
        argv += ["--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp", "--bind", str(self.host_dir), "/work"]
        argv += ["--hostname", "sandbox", "--chdir", "/work", "--clearenv"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        return argv + shell

    async def _open_transport(self) -> Transport:
        env = None
        if self.isolation == "none":
            env = {
                "HOME": str(self.host_dir),
                "PATH": os.environ.get("PATH", _PATH),
                "LANG": "C.UTF-8",
                "TMPDIR": str(self.tmp_dir),
                **self.env,
                "TOOLGYM_SANDBOX": self._marker.partition("=")[2],
            }
        drop = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if self._as_nobody else {}
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.host_dir,
                env=env,
                start_new_session=True,
                **drop,  # type: ignore[arg-type]
            )
        except OSError as exc:
            raise SandboxUnavailable(f"cannot start the local sandbox shell: {exc}") from None
        return PipeTransport(self._process)

    async def _kill_group(self, pgid: int, driver_pid: int) -> None:
        process = self._process
        if process is None:
            return
        if self.isolation == "bwrap":
            host_pid = await asyncio.to_thread(_ns_pid_to_host, process.pid, pgid)
            if host_pid is None:
                return
            pgid = host_pid
        elif _parent_of(pgid) != process.pid:  # the PID is reported by the sandbox: only the driver's children
            return
        _killpg(pgid)

    async def _kill_all(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if self.isolation == "none":  # the shell leads its own session; its processes carry the marker
            for pid in await asyncio.to_thread(_members, process.pid, self._marker.encode()):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        if process.returncode is None:  # once reaped, that PID may already belong to another process
            _killpg(process.pid)  # under bwrap the whole PID namespace dies with it
        with contextlib.suppress(TimeoutError, ProcessLookupError):
            async with asyncio.timeout(5):
                await process.wait()

    async def _destroy(self) -> None:
        with contextlib.suppress(Exception):
            await self._kill_all()
        for path in (self.host_dir, self.tmp_dir):
            if path is not None:
                await asyncio.to_thread(shutil.rmtree, path, True)
