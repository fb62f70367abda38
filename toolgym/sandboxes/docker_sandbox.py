"""DockerSandbox: one container per episode, commands through a persistent shell, safe by default.

The container's main process is a tiny root shell holding only CAP_KILL (the *control*), attached to
the host over the container's stdin; it kills process groups when a command passes its deadline, and
it exits when the host's connection closes, so a crashed host process leaves no running container
(``auto_remove`` then deletes it). Commands run in a second shell (the *driver*, see
:mod:`toolgym.sandboxes.shell`) started with ``docker exec`` as an unprivileged user.

Defaults: no network (loopback only), user ``65534:65534`` (nobody), read-only root filesystem, a
size-capped tmpfs work directory and /tmp, memory without swap, CPU and process limits, all
capabilities dropped, ``no-new-privileges``, ``init``, and labels that ``toolgym sandbox prune`` uses
to find containers of processes that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

from toolgym.sandboxes import docker_api
from toolgym.sandboxes.base import SandboxDied, SandboxError, SandboxLimits
from toolgym.sandboxes.docker_api import CREATED_LABEL, DEFAULT_IMAGE, LABEL, OWNER_LABEL, call
from toolgym.sandboxes.shell import DRIVER
from toolgym.sandboxes.shell_sandbox import ShellSandbox
from toolgym.sandboxes.transport import STDOUT, MuxSocketTransport, Transport

CONTROL = r"""
exec 2>/dev/null
while IFS=' ' read -r op arg drv; do
  case $arg in ''|*[!0-9]*) arg=0 ;; esac
  case $drv in ''|*[!0-9]*) drv=0 ;; esac
  case $op in
  g)
    st=; [ "$arg" -gt 1 ] && [ "$arg" != "$$" ] && read -r st < "/proc/$arg/stat"
    st=${st##*) }; set -- $st
    if [ -n "$st" ] && [ "$2" = "$drv" ]; then for i in 1 2 3 4 5; do kill -KILL -- "-$arg" || break; done; fi ;;
  a) kill -KILL -1 ;;
  esac
  printf 'ok %s %s\n' "$op" "$arg"
done
"""
"""The control shell: ``g PGID DRIVER`` kills a process group if its leader is a child of the driver shell
(the PGID is reported from inside the sandbox, so it is checked: never the control shell, never a
stranger), ``a`` kills every process but itself and init,
``p`` only answers. It reads nothing but the host's requests (the sandbox user cannot write to it)."""

log = logging.getLogger(__name__)
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class _Control:
    """The host's end of the control shell: one request at a time, each answered by an ``ok`` line."""

    def __init__(self, transport: Transport, on_exit: Any) -> None:
        self.transport = transport
        self._on_exit = on_exit
        self._buffer = bytearray()
        self._replies: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self.exited = False
        transport.start(self._on_data, self._on_eof)

    def _on_data(self, stream: int, data: bytes) -> None:
        if stream != STDOUT:
            return
        self._buffer += data
        while (i := self._buffer.find(b"\n")) >= 0:
            self._replies.put_nowait(bytes(self._buffer[:i]))
            del self._buffer[: i + 1]

    def _on_eof(self) -> None:
        self.exited = True
        self._replies.put_nowait(None)
        self._on_exit()

    async def request(self, line: str, timeout: float = 5.0) -> None:
        async with self._lock:
            if self.exited:
                raise SandboxDied("the sandbox container has stopped")
            while not self._replies.empty():
                self._replies.get_nowait()
            try:
                await self.transport.send(line.encode() + b"\n", timeout)
                reply = await asyncio.wait_for(self._replies.get(), timeout)
            except (TimeoutError, ConnectionError, OSError) as exc:
                raise SandboxDied(f"the sandbox container does not answer ({type(exc).__name__})") from None
            if reply is None:
                raise SandboxDied("the sandbox container has stopped")

    async def close(self) -> None:
        await self.transport.close()


def _remove_when_created(api: Any, creating: asyncio.Future[Any]) -> None:
    """Remove a container whose creation finished after the caller gave up on it."""
    if not creating.cancelled() and creating.exception() is None:
        docker_api.submit(api.remove_container, creating.result()["Id"], force=True)


class DockerSandbox(ShellSandbox):
    """A sandbox in a fresh Docker container.

    Args:
        image: any local image with bash and GNU coreutils (default ``toolgym/sandbox:bookworm``,
            made by ``toolgym sandbox build-image``).
        limits: memory, CPUs, processes, work dir and /tmp sizes, network, output cap.
        user: the user commands run as (``uid:gid``); the default is nobody.
        workdir: the writable work directory (a tmpfs of ``limits.workdir_mb``).
        env: extra environment variables for commands.
        labels: extra container labels.
        start_timeout: deadline of creating and starting the container, seconds.
    """

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        limits: SandboxLimits | None = None,
        *,
        user: str = "65534:65534",
        workdir: str = "/work",
        env: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if not workdir.startswith("/"):
            raise ValueError(f"workdir must be an absolute path, got {workdir!r}")
        super().__init__(limits, workdir, start_timeout)
        self.image = image
        self.user = user
        self.env = {"HOME": workdir, "LANG": "C.UTF-8", "PATH": _PATH, "TMPDIR": "/tmp", **(env or {})}
        self.labels = dict(labels or {})
        self.container_id: str | None = None
        self._control: _Control | None = None

    def __repr__(self) -> str:
        short = self.container_id[:12] if self.container_id else "not started"
        return f"DockerSandbox({self.image}, {short})"

    def _host_config(self, api: Any) -> Any:
        limits = self.limits
        owner = ""
        uid, _, gid = self.user.partition(":")
        if uid.isdigit():
            owner = f",uid={uid},gid={gid if gid.isdigit() else uid}"
        tmpfs = {
            self.workdir: f"size={limits.workdir_mb}m,mode=0755,exec{owner}",
            "/tmp": f"size={limits.tmp_mb}m,mode=1777,exec",
        }
        ulimits = [
            docker_api.docker_sdk().types.Ulimit(name=n, soft=v, hard=v) for n, v in (("core", 0), ("nofile", 4096))
        ]
        return api.create_host_config(
            init=True,
            auto_remove=True,
            read_only=True,
            network_mode="bridge" if limits.network else "none",
            tmpfs=tmpfs,
            shm_size=f"{limits.tmp_mb}m",
            mem_limit=f"{limits.memory_mb}m",
            memswap_limit=f"{limits.memory_mb}m",
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids,
            cap_drop=["ALL"],
            cap_add=["KILL"],
            security_opt=["no-new-privileges"],
            ulimits=ulimits,
        )

    async def _create(self) -> None:
        api = await docker_api.client()
        labels = {**self.labels, LABEL: "1", OWNER_LABEL: docker_api.owner(), CREATED_LABEL: str(int(time.time()))}
        creating = asyncio.ensure_future(
            call(
                api.create_container,
                self.image,
                command=["bash", "-c", CONTROL],
                user="0:0",
                stdin_open=True,
                detach=False,
                working_dir=self.workdir,
                hostname="sandbox",
                labels=labels,
                host_config=self._host_config(api),
                what=f"creating a container from {self.image}",
            )
        )
        try:
            created = await asyncio.shield(creating)
        except asyncio.CancelledError:  # the engine may still create it: remove it once it exists
            creating.add_done_callback(functools.partial(_remove_when_created, api))
            raise
        self.container_id = created["Id"]
        params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        sock = await call(
            api.attach_socket,
            self.container_id,
            params=params,
            what="attaching to the container",
            on_abandoned=docker_api.close_quietly,
        )
        self._control = _Control(await MuxSocketTransport.connect(sock), on_exit=self._container_exited)
        await call(api.start, self.container_id, what=f"starting a container from {self.image}")
        try:
            await self._control.request("p", timeout=self.start_timeout)
        except SandboxDied:
            raise SandboxError(f"the container from {self.image} stopped at once (does the image have bash?)") from None

    def _container_exited(self) -> None:
        self._gone = True

    async def _open_transport(self) -> Transport:
        api = await docker_api.client()
        created = await call(
            api.exec_create,
            self.container_id,
            ["bash", "-c", DRIVER],
            stdin=True,
            user=self.user,
            workdir=self.workdir,
            environment=self.env,
            what="starting the sandbox shell",
        )
        sock = await call(
            api.exec_start,
            created["Id"],
            socket=True,
            what="starting the sandbox shell",
            on_abandoned=docker_api.close_quietly,
        )
        return await MuxSocketTransport.connect(sock)

    async def _kill_group(self, pgid: int, driver_pid: int) -> None:
        if self._control is not None:
            await self._control.request(f"g {pgid} {driver_pid}")

    async def _kill_all(self) -> None:
        if self._control is None:
            raise SandboxDied(f"{self} has no control shell")
        await self._control.request("a")

    async def _destroy(self) -> None:
        control, self._control = self._control, None
        if control is not None:
            with contextlib.suppress(Exception):
                await control.close()
        if self.container_id is None:
            return
        try:
            api = await docker_api.client()
            await call(api.remove_container, self.container_id, force=True, timeout=30.0, what="removing")
        except SandboxError as exc:
            message = str(exc)
            if "No such container" not in message and "already in progress" not in message:
                log.warning("could not remove container %s (`toolgym sandbox prune` will): %s", self.container_id, exc)
