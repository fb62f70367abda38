"""Whether the tests can use a real Docker engine: under CI=true they must (a missing engine fails the
test); elsewhere a missing engine or image skips the test with the reason."""

from __future__ import annotations

import functools
import os

import pytest

IMAGE = os.environ.get("TOOLGYM_SANDBOX_IMAGE", "toolgym/sandbox:bookworm")


@functools.cache
def docker_problem() -> str | None:
    """None when the engine answers and the image is present, else what is missing."""
    try:
        import docker
    except ImportError:
        return "the docker package is not installed (pip install 'toolgym[docker]')"
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:
        return f"no Docker engine reachable ({exc})"
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        return f"image {IMAGE} is missing (run `toolgym sandbox build-image`)"
    except Exception as exc:
        return f"cannot inspect image {IMAGE} ({exc})"
    return None


def import_docker():
    """The docker SDK for a test module: skipped without it, except under CI=true, where it must be installed."""
    try:
        import docker
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("the docker package is not installed (pip install 'toolgym[docker]')", allow_module_level=True)
    return docker


def require_docker() -> None:
    """Skip the calling test without Docker, or fail it when CI=true (CI must run the Docker tests)."""
    problem = docker_problem()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true needs a Docker engine and the sandbox image: {problem}")
    pytest.skip(problem)
