"""Sandboxes: isolated places to run model-written code, each command under a deadline.

``DockerSandbox`` (a container per episode), ``LocalSandbox`` (bubblewrap or a plain subprocess, when
no Docker engine is reachable) and ``SandboxPool`` (warm sandboxes, each used once). The ``docker``
package is imported only when a Docker sandbox is used: ``pip install 'toolgym[docker]'``.
"""

from toolgym.sandboxes.base import (
    DEFAULT_TIMEOUT,
    ExecResult,
    Sandbox,
    SandboxDied,
    SandboxError,
    SandboxFileError,
    SandboxLimits,
    SandboxUnavailable,
)
from toolgym.sandboxes.docker_api import DEFAULT_IMAGE
from toolgym.sandboxes.docker_sandbox import DockerSandbox
from toolgym.sandboxes.factory import Backend, choose_backend, open_sandbox, sandbox_factory
from toolgym.sandboxes.local import LocalSandbox
from toolgym.sandboxes.pool import SandboxFactory, SandboxPool

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_TIMEOUT",
    "Backend",
    "DockerSandbox",
    "ExecResult",
    "LocalSandbox",
    "Sandbox",
    "SandboxDied",
    "SandboxError",
    "SandboxFactory",
    "SandboxFileError",
    "SandboxLimits",
    "SandboxPool",
    "SandboxUnavailable",
    "choose_backend",
    "open_sandbox",
    "sandbox_factory",
]
