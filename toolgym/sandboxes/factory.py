"""Choosing a backend: Docker when an engine is reachable, else the local sandbox."""

from __future__ import annotations

import logging
from typing import Literal

from toolgym.sandboxes.base import Sandbox, SandboxLimits
from toolgym.sandboxes.docker_api import DEFAULT_IMAGE, engine_reachable
from toolgym.sandboxes.local import Isolation, LocalSandbox
from toolgym.sandboxes.pool import SandboxFactory

log = logging.getLogger(__name__)

Backend = Literal["auto", "docker", "local"]
BACKENDS = ("auto", "docker", "local")


async def choose_backend(backend: Backend = "auto") -> Literal["docker", "local"]:
    """``docker`` or ``local``; ``auto`` picks Docker when an engine answers (and the SDK is installed)."""
    if backend not in BACKENDS:
        raise ValueError(f"sandbox backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend != "auto":
        return backend
    if await engine_reachable():
        return "docker"
    log.warning("no Docker engine reachable: using LocalSandbox, which isolates less (see docs/sandboxes.md)")
    return "local"


def sandbox_factory(
    backend: Backend = "auto",
    *,
    image: str = DEFAULT_IMAGE,
    limits: SandboxLimits | None = None,
    env: dict[str, str] | None = None,
    isolation: Isolation = "auto",
    start_timeout: float = 60.0,
) -> SandboxFactory:
    """A factory of started sandboxes for :class:`~toolgym.sandboxes.pool.SandboxPool`.

    ``image`` applies to Docker, ``isolation`` to the local sandbox; ``auto`` decides once, on the
    first sandbox.
    """
    if backend not in BACKENDS:
        raise ValueError(f"sandbox backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    chosen: list[str] = []

    async def make() -> Sandbox:
        if not chosen:
            chosen.append(await choose_backend(backend))
        if chosen[0] == "docker":
            from toolgym.sandboxes.docker_sandbox import DockerSandbox

            return await DockerSandbox(image, limits, env=env, start_timeout=start_timeout).start()
        return await LocalSandbox(limits, isolation=isolation, env=env, start_timeout=start_timeout).start()

    return make


async def open_sandbox(backend: Backend = "auto", **options: object) -> Sandbox:
    """One started sandbox (close it when done): ``async with await open_sandbox() as sb`` works too."""
    return await sandbox_factory(backend, **options)()  # type: ignore[arg-type]
