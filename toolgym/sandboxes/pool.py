"""SandboxPool: warm sandboxes started ahead of time, so an episode gets one in milliseconds.

A sandbox is used once: ``release`` destroys it (in the background) and the pool starts a fresh one
to take its place, so no episode ever sees another's files or processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from toolgym.sandboxes.base import Sandbox, SandboxError, SandboxUnavailable

log = logging.getLogger(__name__)

SandboxFactory = Callable[[], Awaitable[Sandbox]]
"""Makes one started sandbox, e.g. ``lambda: DockerSandbox(image).start()``."""


class SandboxPool:
    """Keeps ``size`` started sandboxes ready; never more than ``max_sandboxes`` exist at once.

    Args:
        factory: makes one started sandbox.
        size: warm sandboxes kept ready (0: start each on demand).
        max_sandboxes: bound on warm + starting + in-use sandboxes (default ``size + 8``).
        start_timeout: deadline of one start, seconds.
        max_failures: consecutive failed starts after which ``acquire`` fails instead of retrying.
        parallel_starts: sandboxes started at once (starting many at once only slows each down).
    """

    def __init__(
        self,
        factory: SandboxFactory,
        size: int = 2,
        *,
        max_sandboxes: int | None = None,
        start_timeout: float = 120.0,
        max_failures: int = 3,
        parallel_starts: int = 4,
    ) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        max_sandboxes = size + 8 if max_sandboxes is None else max_sandboxes
        if max_sandboxes < max(size, 1):
            raise ValueError(f"max_sandboxes ({max_sandboxes}) must be >= size ({size}) and >= 1")
        if parallel_starts < 1 or max_failures < 1:
            raise ValueError("parallel_starts and max_failures must be >= 1")
        self.factory = factory
        self.size = size
        self.max_sandboxes = max_sandboxes
        self.start_timeout = start_timeout
        self.max_failures = max_failures
        self.parallel_starts = parallel_starts
        self._ready: deque[Sandbox] = deque()
        self._in_use: set[Sandbox] = set()
        self._starting = 0
        self._waiting = 0
        self._failures = 0
        self._last_error: BaseException | None = None
        self._failed_at = 0.0
        self.retry_after = 30.0
        self._tasks: set[asyncio.Future[Any]] = set()
        self._starts: set[asyncio.Future[Any]] = set()
        self._changed: asyncio.Condition | None = None
        self._closed = False

    # ---- counts -------------------------------------------------------------------------------

    @property
    def ready(self) -> int:
        """Warm sandboxes waiting to be acquired."""
        return len(self._ready)

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    @property
    def starting(self) -> int:
        return self._starting

    def _total(self) -> int:
        return len(self._ready) + len(self._in_use) + self._starting

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    # ---- warming ------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _refill(self) -> None:
        """Start sandboxes until ready + starting covers the warm size plus callers waiting."""
        if self._closed or self._failures >= self.max_failures:
            return
        want = self.size + self._waiting - len(self._ready) - self._starting
        room = min(self.max_sandboxes - self._total(), self.parallel_starts - self._starting)
        for _ in range(max(min(want, room), 0)):
            self._starting += 1
            start = self._spawn(self._start_one())
            self._starts.add(start)
            start.add_done_callback(self._starts.discard)

    async def _start_one(self) -> None:
        sandbox: Sandbox | None = None
        error: BaseException | None = None
        try:
            try:
                async with asyncio.timeout(self.start_timeout):
                    sandbox = await self.factory()
            except TimeoutError:
                error = SandboxError(f"a sandbox did not start within {self.start_timeout:g}s")
            except Exception as exc:
                error = exc
            if error is not None:
                self._last_error = error
                self._failed_at = time.monotonic()
                if isinstance(error, SandboxUnavailable):
                    self._failures = self.max_failures  # no engine or no image: retrying at once cannot help
                else:
                    self._failures = min(self._failures + 1, self.max_failures)
                log.warning("a sandbox failed to start: %s", error)
                if self._failures < self.max_failures:
                    await asyncio.sleep(min(0.25 * 2**self._failures, 5.0))  # backoff, still counted as starting
        finally:
            self._starting -= 1
        if sandbox is not None:
            self._failures = 0
            if self._closed:
                await _close_quietly(sandbox)
                return
            self._ready.append(sandbox)
        async with self._condition():
            self._condition().notify_all()
        self._refill()

    async def start(self, wait: bool = True, timeout: float | None = None) -> None:
        """Begin warming ``size`` sandboxes; with ``wait``, return once they are ready (or fail)."""
        self._refill()
        if not wait:
            return
        async with asyncio.timeout(timeout or self.start_timeout):
            async with self._condition():
                await self._condition().wait_for(
                    lambda: len(self._ready) >= self.size or self._failures >= self.max_failures
                )
        self._raise_if_broken()

    def _raise_if_broken(self) -> None:
        if self._failures >= self.max_failures and time.monotonic() - self._failed_at > self.retry_after:
            self._failures = self.max_failures - 1  # some time has passed: allow one more attempt
            self._refill()
        if self._failures >= self.max_failures:
            if isinstance(self._last_error, SandboxUnavailable):
                raise SandboxUnavailable(str(self._last_error))
            raise SandboxError(f"sandboxes fail to start ({self._failures} times in a row): {self._last_error}")

    # ---- acquire and release ------------------------------------------------------------------

    async def acquire(self, timeout: float | None = None) -> Sandbox:
        """A fresh started sandbox: a warm one at once, else the next to finish starting.

        Waits at most ``timeout`` seconds (default: ``start_timeout``); raises SandboxError if the
        pool is closed, cannot start sandboxes, or none becomes free in time.
        """
        if self._closed:
            raise SandboxError("the sandbox pool is closed")
        deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
        self._waiting += 1
        try:
            while True:
                while self._ready:
                    sandbox = self._ready.popleft()
                    if sandbox.alive:
                        self._in_use.add(sandbox)
                        return sandbox
                    self._spawn(_close_quietly(sandbox))  # died while warm (e.g. the engine restarted)
                self._raise_if_broken()
                if self._closed:
                    raise SandboxError("the sandbox pool is closed")
                self._refill()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SandboxError(
                        f"no sandbox free within the deadline ({self.in_use} in use, {self.starting} starting, "
                        f"max {self.max_sandboxes})"
                    )
                async with self._condition():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._condition().wait(), left)
        finally:
            self._waiting -= 1
            self._refill()

    async def release(self, sandbox: Sandbox, wait: bool = False) -> None:
        """Give a sandbox back: it is destroyed (never reused) and a fresh one is started in its place."""
        self._in_use.discard(sandbox)
        if wait:
            await _close_quietly(sandbox)
        else:
            self._spawn(_close_quietly(sandbox))
        self._refill()
        async with self._condition():
            self._condition().notify_all()

    @contextlib.asynccontextmanager
    async def sandbox(self, timeout: float | None = None) -> AsyncIterator[Sandbox]:
        """``async with pool.sandbox() as sb:`` acquire, then release however the block ends."""
        sandbox = await self.acquire(timeout)
        try:
            yield sandbox
        finally:
            await self.release(sandbox)

    async def aclose(self, timeout: float = 60.0) -> None:
        """Stop warming and destroy every sandbox of the pool, in use or not."""
        self._closed = True
        sandboxes = [*self._ready, *self._in_use]
        self._ready.clear()
        self._in_use.clear()
        pending = list(self._tasks)
        for task in self._starts:  # a start cancelled midway cleans up after itself; closes go on
            task.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(_close_quietly(s) for s in sandboxes), *pending, return_exceptions=True)
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def __aenter__(self) -> SandboxPool:
        await self.start(wait=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _close_quietly(sandbox: Sandbox) -> None:
    try:
        await sandbox.close()
    except Exception as exc:  # a sandbox that fails to close is logged; the pool goes on
        log.warning("closing %r failed: %s", sandbox, exc)
