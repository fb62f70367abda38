"""The Docker engine through the ``docker`` SDK: a lazily imported client, blocking calls run in worker
threads under deadlines, and the labels that mark toolgym's containers and their owning process."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from toolgym.sandboxes.base import SandboxError, SandboxUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_IMAGE = "toolgym/sandbox:bookworm"
"""The base image ``toolgym sandbox build-image`` makes: Debian bookworm (minbase) with Python 3."""

LABEL = "toolgym.sandbox"
OWNER_LABEL = f"{LABEL}.owner"
CREATED_LABEL = f"{LABEL}.created"
API_TIMEOUT = 60.0

_executor: ThreadPoolExecutor | None = None
_clients: dict[str, Any] = {}
_lock = threading.Lock()


def docker_sdk() -> Any:
    """The ``docker`` package, or SandboxUnavailable saying how to install it."""
    try:
        import docker
    except ImportError:
        raise SandboxUnavailable("Docker sandboxes need the docker package: pip install 'toolgym[docker]'") from None
    return docker


def _executor_() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="toolgym-docker")
        return _executor


def submit(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run a blocking docker SDK call in a worker thread without waiting for it (cleanup); errors are logged."""

    def run() -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            log.warning("background docker call %s failed: %s", getattr(fn, "__name__", fn), exc)

    _executor_().submit(run)


def _client_blocking() -> Any:
    docker = docker_sdk()
    kwargs = docker.utils.kwargs_from_env()
    key = str(kwargs.get("base_url"))
    with _lock:
        client = _clients.get(key)
    if client is not None:
        return client
    try:
        client = docker.APIClient(version="auto", timeout=API_TIMEOUT, max_pool_size=64, **kwargs)
    except docker.errors.DockerException as exc:
        where = kwargs.get("base_url") or os.environ.get("DOCKER_HOST") or "the default socket"
        raise SandboxUnavailable(f"no Docker engine reachable at {where}: {exc}") from None
    with _lock:
        return _clients.setdefault(key, client)


async def call(
    fn: Callable[..., T],
    *args: Any,
    timeout: float = API_TIMEOUT,
    what: str = "",
    on_abandoned: Callable[[T], None] | None = None,
    **kwargs: Any,
) -> T:
    """Run a blocking docker SDK call in a worker thread; SandboxError after ``timeout`` seconds.

    Docker errors become SandboxUnavailable (no engine, missing image) or SandboxError, naming ``what``.
    If the caller gives up (deadline or cancellation) while the call still runs, ``on_abandoned``
    receives its result once it arrives, e.g. to close a socket nobody will use.
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_executor_(), functools.partial(fn, *args, **kwargs))
    what = what or getattr(fn, "__name__", "docker call")
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        future.add_done_callback(functools.partial(_hand_over, on_abandoned))
        if isinstance(exc, TimeoutError):
            raise SandboxError(f"Docker did not answer {what} within {timeout:g}s") from None
        raise
    except Exception as exc:
        raise translate_error(exc, what) from exc


def _hand_over(on_abandoned: Callable[[Any], None] | None, future: asyncio.Future[Any]) -> None:
    """Give an abandoned call's result to ``on_abandoned``; its error is retrieved so none goes unreported."""
    if not future.cancelled() and future.exception() is None and on_abandoned is not None:
        with contextlib.suppress(Exception):
            on_abandoned(future.result())


def close_quietly(resource: Any) -> None:
    """Close a socket (or anything with ``close``) nobody will use, ignoring errors."""
    with contextlib.suppress(Exception):
        resource.close()


def translate_error(exc: Exception, what: str) -> Exception:
    """A docker SDK or connection error as a SandboxError with a readable message."""
    if isinstance(exc, SandboxError):
        return exc
    try:
        errors = docker_sdk().errors
    except SandboxUnavailable as missing:
        return missing
    if isinstance(exc, errors.ImageNotFound):
        return SandboxUnavailable(
            f"{what}: image not found ({_explain(exc)}); build the default one with `toolgym sandbox build-image`"
        )
    if isinstance(exc, errors.APIError):
        return SandboxError(f"{what}: {_explain(exc)}")
    if isinstance(exc, errors.DockerException | ConnectionError | OSError) or "Connection" in type(exc).__name__:
        return SandboxUnavailable(f"{what}: cannot reach the Docker engine ({exc})")
    return SandboxError(f"{what}: {type(exc).__name__}: {exc}")


def _explain(exc: Any) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


async def client(timeout: float = 10.0) -> Any:
    """The shared low-level ``docker.APIClient`` (from DOCKER_HOST etc.), created on first use."""
    return await call(_client_blocking, timeout=timeout, what="connecting to the Docker engine")


async def engine_reachable(timeout: float = 3.0) -> bool:
    """Whether the docker package is installed and an engine answers a ping within ``timeout``."""
    try:
        api = await client(timeout)
        return bool(await call(api.ping, timeout=timeout, what="ping"))
    except SandboxError:
        return False


async def image_exists(image: str, timeout: float = 10.0) -> bool:
    api = await client()
    errors = docker_sdk().errors

    def inspect() -> bool:
        try:
            api.inspect_image(image)
        except errors.ImageNotFound:
            return False
        return True

    return await call(inspect, timeout=timeout, what=f"inspecting image {image}")


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rfind(")") + 2 :].split()[19]


def owner() -> str:
    """This process as ``host:pid:start-time``: the owner label of the containers it creates."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def owner_alive(label: str) -> bool | None:
    """Whether the process named by an owner label still runs (None: it ran on another host)."""
    host, _, rest = label.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not started or _start_time(pid) == started
