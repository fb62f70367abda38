"""Building sandbox images: offline from a debootstrap root filesystem, or from a Dockerfile.

No registry is needed for the default image: ``debootstrap --variant=minbase`` fetches Debian
packages from a Debian mirror (the one apt uses works) into a directory, which is then imported as
an image (``tar -C DIR -c . | docker import``). Any image with bash and GNU coreutils works as a
sandbox image; a Dockerfile build needs a registry only if its FROM image is not already local.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from toolgym.sandboxes import docker_api
from toolgym.sandboxes.base import SandboxError, SandboxUnavailable
from toolgym.sandboxes.docker_api import DEFAULT_IMAGE, call

Log = Callable[[str], None]
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "LABEL toolgym.image=base",
    'CMD ["bash"]',
)
_TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "var/cache/debconf", "usr/share/doc", "usr/share/man")


class ImageBuildError(SandboxError):
    """An image could not be built; the message names the step and its last output."""


async def _run_logged(argv: Sequence[str], log: Log, timeout: float, what: str) -> None:
    """Run a command, passing its output lines to ``log``; ImageBuildError on failure or deadline."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL
    )
    tail: list[str] = []
    assert process.stdout is not None
    try:
        async with asyncio.timeout(timeout):
            while line := await process.stdout.readline():
                text = line.decode(errors="replace").rstrip()
                tail = [*tail[-9:], text]
                log(text)
            code = await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ImageBuildError(f"{what} did not finish within {timeout:g}s") from None
    if code != 0:
        raise ImageBuildError(f"{what} failed (exit {code}):\n" + "\n".join(tail))


async def import_rootfs(directory: str | Path, name: str, timeout: float = 600.0) -> str:
    """Import a root filesystem directory as image ``name``; returns the image id."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ImageBuildError(f"{directory}: not a directory")
    api = await docker_api.client()
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
    tar = subprocess.Popen(["tar", "-C", str(directory), "-c", "."], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert tar.stdout is not None
    try:
        answer = await call(
            api.import_image_from_stream,
            tar.stdout,
            repository=repository,
            tag=tag,
            changes=list(IMAGE_CHANGES),
            timeout=timeout,
            what=f"importing {directory} as {name}",
        )
    finally:
        tar.stdout.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(tar.wait, 10)
        if tar.poll() is None:
            tar.kill()
    if tar.returncode:
        detail = await asyncio.to_thread(tar.stderr.read) if tar.stderr else b""
        raise ImageBuildError(f"tar of {directory} failed: {detail.decode(errors='replace').strip()}")
    if '"error"' in str(answer):
        raise ImageBuildError(f"importing {name} failed: {answer}")
    image = await call(api.inspect_image, name, what=f"inspecting {name}")
    return image["Id"]


async def debootstrap_rootfs(
    directory: str | Path,
    suite: str = "bookworm",
    include: Sequence[str] = ("python3",),
    mirror: str | None = None,
    log: Log = lambda line: None,
    timeout: float = 1800.0,
) -> None:
    """A minimal Debian root filesystem with ``include`` packages in ``directory`` (needs root)."""
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise SandboxUnavailable("debootstrap is not installed (apt-get install debootstrap), or use --dockerfile")
    if os.geteuid() != 0:
        raise SandboxUnavailable("debootstrap needs root; run as root or build from a Dockerfile")
    argv = [debootstrap, "--variant=minbase"]
    if include:
        argv.append("--include=" + ",".join(include))
    argv += [suite, str(directory)]
    if mirror:
        argv.append(mirror)
    await _run_logged(argv, log, timeout, "debootstrap")
    await asyncio.to_thread(_trim, Path(directory))


def _trim(root: Path) -> None:
    """Drop package caches and docs from a root filesystem."""
    for relative in _TRIM:
        target = root / relative
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


async def build_from_dockerfile(
    name: str, dockerfile: str | Path, context: str | Path | None = None, log: Log = lambda line: None
) -> str:
    """``docker build`` of ``dockerfile`` (context: its directory) tagged ``name``; returns the image id."""
    dockerfile = Path(dockerfile).resolve()
    if not dockerfile.is_file():
        raise ImageBuildError(f"{dockerfile}: no such Dockerfile")
    context = Path(context).resolve() if context else dockerfile.parent
    api = await docker_api.client()

    def build() -> list[str]:
        errors: list[str] = []
        stream = api.build(
            path=str(context), dockerfile=str(dockerfile), tag=name, rm=True, forcerm=True, decode=True, pull=False
        )
        for chunk in stream:
            if "stream" in chunk and chunk["stream"].strip():
                log(chunk["stream"].rstrip())
            if "error" in chunk:
                errors.append(str(chunk["error"]).strip())
        return errors

    errors = await call(build, timeout=3600.0, what=f"building {dockerfile}")
    if errors:
        raise ImageBuildError(f"building {name} from {dockerfile} failed: {errors[-1]}")
    image = await call(api.inspect_image, name, what=f"inspecting {name}")
    return image["Id"]


async def build_image(
    name: str = DEFAULT_IMAGE,
    *,
    suite: str = "bookworm",
    include: Sequence[str] = ("python3",),
    mirror: str | None = None,
    dockerfile: str | Path | None = None,
    context: str | Path | None = None,
    force: bool = False,
    log: Log = lambda line: None,
    timeout: float = 1800.0,
) -> str | None:
    """Build sandbox image ``name`` (debootstrap + import, or ``dockerfile``); returns its id, or None
    when it exists already and ``force`` is not set."""
    if not force and await docker_api.image_exists(name):
        return None
    if dockerfile is not None:
        return await build_from_dockerfile(name, dockerfile, context, log)
    directory = tempfile.mkdtemp(prefix="toolgym-rootfs-")
    try:
        await debootstrap_rootfs(directory, suite, include, mirror, log, timeout)
        log(f"importing the root filesystem as {name}")
        return await import_rootfs(directory, name)
    finally:
        await asyncio.to_thread(shutil.rmtree, directory, True)
