"""Finding and removing sandbox containers left behind by processes that died."""

from __future__ import annotations

from dataclasses import dataclass

from toolgym.sandboxes import docker_api
from toolgym.sandboxes.base import SandboxError
from toolgym.sandboxes.docker_api import CREATED_LABEL, LABEL, OWNER_LABEL, call


@dataclass(frozen=True, slots=True)
class SandboxContainer:
    """A container labelled as a toolgym sandbox, and whether its owning process is gone."""

    id: str
    image: str
    status: str
    owner: str
    created: int
    orphaned: bool | None
    """True: its owner process has exited; False: it still runs; None: it ran on another host."""


async def list_sandboxes(timeout: float = 30.0) -> list[SandboxContainer]:
    """Every toolgym sandbox container on the engine, running or not."""
    api = await docker_api.client()
    found = await call(api.containers, all=True, filters={"label": LABEL}, timeout=timeout, what="listing containers")
    containers = []
    for item in found:
        labels = item.get("Labels") or {}
        owner = labels.get(OWNER_LABEL, "")
        alive = docker_api.owner_alive(owner) if owner else False
        created = labels.get(CREATED_LABEL, "")
        containers.append(
            SandboxContainer(
                id=item["Id"],
                image=item.get("Image", ""),
                status=item.get("Status", ""),
                owner=owner,
                created=int(created) if created.isdigit() else int(item.get("Created", 0)),
                orphaned=None if alive is None else not alive,
            )
        )
    return containers


async def prune(everything: bool = False, dry_run: bool = False, timeout: float = 60.0) -> list[SandboxContainer]:
    """Remove sandbox containers whose owner process on this host has exited (all of them with
    ``everything``, including those of running processes and other hosts); returns what was (or, with
    ``dry_run``, would be) removed."""
    api = await docker_api.client()
    doomed = [c for c in await list_sandboxes() if everything or c.orphaned]
    if dry_run:
        return doomed
    removed = []
    for container in doomed:
        try:
            await call(api.remove_container, container.id, force=True, timeout=timeout, what="removing")
        except SandboxError as exc:
            if "No such container" not in str(exc) and "already in progress" not in str(exc):
                raise
        removed.append(container)
    return removed
