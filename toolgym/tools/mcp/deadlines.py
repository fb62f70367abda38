"""Per-call deadlines for many concurrent calls on one shared timer.

``asyncio.timeout`` schedules (and cancels) a loop timer per call, a cost that shows next to a fast
in-process tool call and adds up over hundreds of calls in flight. Here every call of a connection
registers its deadline in a dict; one timer, set for the earliest deadline, cancels the calls that
overran. An overrun call raises TimeoutError, exactly like ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from contextlib import contextmanager


class Deadlines:
    """Deadlines of the calls running on one event loop, enforced by a single timer."""

    def __init__(self) -> None:
        self._calls: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    @contextmanager
    def within(self, seconds: float) -> Iterator[None]:
        """Run the block of the current task for at most ``seconds``; raises TimeoutError after that."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task on an asyncio loop
            raise RuntimeError("a deadline needs a running task")
        loop = task.get_loop()
        when = loop.time() + seconds
        self._calls[task] = when
        if when < self._timer_at:
            self._arm(loop, when)
        try:
            yield
        except asyncio.CancelledError:
            if task in self._expired and task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            self._calls.pop(task, None)
            self._expired.discard(task)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._expire, loop)
        self._timer_at = when

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, math.inf
        now = loop.time()
        earliest = math.inf
        for task, when in self._calls.items():
            if task in self._expired:
                continue
            if when <= now:
                self._expired.add(task)
                task.cancel()
            else:
                earliest = min(earliest, when)
        if earliest < math.inf:
            self._arm(loop, earliest)
