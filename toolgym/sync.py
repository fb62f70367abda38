"""The thin sync facade: run the async core from synchronous code on one private event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class LoopRunner:
    """Runs coroutines to completion from sync code, always on the same private event loop.

    One loop for the object's life keeps loop-bound resources (HTTP clients, MCP sessions, child
    processes) valid across calls. Called from a thread whose own loop is running (a notebook, an
    async trainer), it drives the private loop from a helper thread instead of failing.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._helper: ThreadPoolExecutor | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._loop.run_until_complete(coro)
        if self._helper is None:
            self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toolgym-sync")
        return self._helper.submit(self._loop.run_until_complete, coro).result()

    def close(self) -> None:
        if self._helper is not None:
            self._helper.shutdown(wait=True)
            self._helper = None
        if self._loop is not None and not self._loop.is_closed():
            loop = self._loop
            try:
                asyncio.get_running_loop()
                in_loop = True
            except RuntimeError:
                in_loop = False
            if not in_loop:
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
        self._loop = None
