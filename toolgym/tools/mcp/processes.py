"""Process groups of the stdio servers this process started, and stopping them (also at interpreter exit).

Each server runs as the leader of its own process group, so one signal reaches the server and every
child it spawned (``npx`` starting ``node``, a shell starting a binary). The groups still alive when the
interpreter exits (Ctrl-C in a sync loop, an unclosed toolset) are terminated by an ``atexit`` hook.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import threading
import time

_groups: dict[int, str] = {}
_lock = threading.Lock()


def track(pgid: int, name: str) -> None:
    """Remember a live process group (``pgid`` = the leader's pid) until :func:`untrack`."""
    with _lock:
        _groups[pgid] = name


def untrack(pgid: int) -> None:
    with _lock:
        _groups.pop(pgid, None)


def tracked() -> dict[int, str]:
    """The process groups still tracked, with the server names that own them."""
    with _lock:
        return dict(_groups)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group exists (a zombie counts until it is reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def stop_group(pgid: int, grace: float = 2.0) -> None:
    """SIGTERM the group, wait up to ``grace`` seconds for it to go, then SIGKILL what is left."""
    if not group_alive(pgid):
        return
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_alive(pgid) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    if group_alive(pgid):
        signal_group(pgid, signal.SIGKILL)


def kill_all(grace: float = 1.0) -> None:
    """Terminate every tracked group now (synchronously): SIGTERM, up to ``grace`` seconds, then SIGKILL."""
    groups = list(tracked())
    for pgid in groups:
        signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive_or_reap(p) for p in groups) and time.monotonic() < deadline:
        time.sleep(0.01)
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)
        untrack(pgid)


def _alive_or_reap(pgid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # the leader is our child: reap it, or its zombie keeps the group
        os.waitpid(pgid, os.WNOHANG)
    return group_alive(pgid)


atexit.register(kill_all)
