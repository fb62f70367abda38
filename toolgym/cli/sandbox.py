"""``toolgym sandbox``: build the base image, check the setup, run a command, remove leftover containers."""

from __future__ import annotations

import asyncio
import datetime
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from toolgym.cli.common import console, fail
from toolgym.sandboxes.base import SandboxError, SandboxLimits
from toolgym.sandboxes.docker_api import DEFAULT_IMAGE

app = typer.Typer(help="Sandboxes: build the base image, check the setup, remove leftover containers.")


@app.command("build-image")
def build_image(
    name: Annotated[str, typer.Option(help="image name to create")] = DEFAULT_IMAGE,
    suite: Annotated[str, typer.Option(help="Debian suite for debootstrap")] = "bookworm",
    include: Annotated[str, typer.Option(help="comma-separated Debian packages to add")] = "python3",
    mirror: Annotated[str | None, typer.Option(help="Debian mirror URL (debootstrap's default if omitted)")] = None,
    dockerfile: Annotated[Path | None, typer.Option(help="build from this Dockerfile instead of debootstrap")] = None,
    context: Annotated[Path | None, typer.Option(help="build context (default: the Dockerfile's folder)")] = None,
    force: Annotated[bool, typer.Option(help="rebuild even if the image exists")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="deadline of debootstrap, seconds")] = 1800.0,
) -> None:
    """Build a sandbox image: offline from a debootstrap root filesystem (needs root and debootstrap),
    or from a Dockerfile. Does nothing if the image exists, unless --force."""
    from toolgym.sandboxes.image import build_image as build

    packages = [p.strip() for p in include.split(",") if p.strip()]
    with console.status(f"building {name}") as status:

        def log(line: str) -> None:
            if console.is_terminal:
                status.update(f"building {name}: {line[:100]}")
            else:  # a log file or CI: keep every line
                console.print(line, markup=False, highlight=False)

        try:
            image_id = asyncio.run(
                build(
                    name,
                    suite=suite,
                    include=packages,
                    mirror=mirror,
                    dockerfile=dockerfile,
                    context=context,
                    force=force,
                    log=log,
                    timeout=timeout,
                )
            )
        except SandboxError as exc:
            raise fail(str(exc)) from None
    if image_id is None:
        console.print(f"image [bold]{name}[/bold] exists already (pass --force to rebuild it)")
    else:
        console.print(f"built [bold]{name}[/bold] ({image_id[:19]})")


@app.command()
def prune(
    all_: Annotated[
        bool, typer.Option("--all", help="remove every toolgym sandbox, even of running processes")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="only list what would be removed")] = False,
) -> None:
    """Remove sandbox containers left behind by toolgym processes that have exited."""
    from toolgym.sandboxes.prune import prune as prune_containers

    try:
        removed = asyncio.run(prune_containers(everything=all_, dry_run=dry_run))
    except SandboxError as exc:
        raise fail(str(exc)) from None
    verb = "would remove" if dry_run else "removed"
    if not removed:
        console.print("no leftover sandbox containers")
        return
    table = Table("container", "image", "status", "owner", "created")
    for c in removed:
        created = datetime.datetime.fromtimestamp(c.created).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(c.id[:12], c.image, c.status, c.owner, created)
    console.print(table)
    console.print(f"{verb} {len(removed)} container(s)")


@app.command()
def status(image: Annotated[str, typer.Option(help="the image to look for")] = DEFAULT_IMAGE) -> None:
    """Show which sandbox backends work here and which one `auto` picks."""
    from toolgym.sandboxes import docker_api
    from toolgym.sandboxes.local import bwrap_works
    from toolgym.sandboxes.prune import list_sandboxes

    async def probe() -> tuple[bool, bool, int, int]:
        reachable = await docker_api.engine_reachable()
        if not reachable:
            return False, False, 0, 0
        found = await list_sandboxes()
        return True, await docker_api.image_exists(image), len(found), sum(bool(c.orphaned) for c in found)

    try:
        reachable, has_image, running, orphaned = asyncio.run(probe())
    except SandboxError as exc:
        raise fail(str(exc)) from None
    bwrap = bwrap_works()
    table = Table(show_header=False)
    table.add_row("Docker engine", "reachable" if reachable else "not reachable")
    if reachable:
        table.add_row(f"image {image}", "present" if has_image else "missing: run `toolgym sandbox build-image`")
        table.add_row("sandbox containers", f"{running} ({orphaned} left by exited processes)")
    table.add_row(
        "bubblewrap",
        "works" if bwrap else ("installed, but cannot create namespaces" if shutil.which("bwrap") else "not installed"),
    )
    table.add_row("auto backend", "docker" if reachable else f"local ({'bwrap' if bwrap else 'plain subprocess'})")
    console.print(table)


@app.command()
def run(
    command: Annotated[str, typer.Argument(help="bash command to run in a fresh sandbox")],
    backend: Annotated[str, typer.Option(help="docker, local or auto")] = "auto",
    image: Annotated[str, typer.Option(help="Docker image")] = DEFAULT_IMAGE,
    timeout: Annotated[float, typer.Option(min=0.01, help="deadline of the command, seconds")] = 60.0,
    memory_mb: Annotated[int, typer.Option(min=16, help="memory limit")] = 512,
    network: Annotated[bool, typer.Option(help="allow network access")] = False,
) -> None:
    """Run one command in a fresh sandbox with the default limits, print its output, exit with its code."""
    from toolgym.sandboxes.factory import open_sandbox

    if backend not in ("auto", "docker", "local"):
        raise fail(f"--backend must be docker, local or auto, got {backend!r}")

    async def main() -> tuple[str, str, int, bool]:
        limits = SandboxLimits(memory_mb=memory_mb, network=network)
        sandbox = await open_sandbox(backend, image=image, limits=limits)  # type: ignore[arg-type]
        try:
            result = await sandbox.exec(command, timeout=timeout)
        finally:
            await sandbox.close()
        return result.stdout, result.stderr, result.exit_code, result.timed_out

    try:
        stdout, stderr, code, timed_out = asyncio.run(main())
    except SandboxError as exc:
        raise fail(str(exc)) from None
    typer.echo(stdout, nl=False)
    if stderr:
        typer.echo(stderr, nl=False, err=True)
    if timed_out:
        console.print(f"[red]timed out after {timeout:g}s[/red]")
        raise typer.Exit(124)
    raise typer.Exit(code if 0 <= code < 256 else 1)
