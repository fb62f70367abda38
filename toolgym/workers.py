"""Bounded concurrency and progress bars shared by the Runner and the synth stages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


async def run_workers(count: int, worker: Callable[[], Awaitable[None]]) -> None:
    """Run ``count`` copies of ``worker`` at once; if one fails or the caller is cancelled, cancel the rest."""
    tasks = [asyncio.ensure_future(worker()) for _ in range(count)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class ProgressBar:
    """A rich progress bar for ``total`` items of which ``completed`` are already done."""

    def __init__(self, label: str, total: int, completed: int = 0, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        self._task = self._progress.add_task(label, total=total, completed=completed)
        self._progress.start()

    @classmethod
    def maybe(
        cls, enabled: bool, label: str, total: int, completed: int = 0, console: Console | None = None
    ) -> ProgressBar | None:
        """A bar when ``enabled`` and there is work, else None."""
        return cls(label, total, completed, console) if enabled and total else None

    def advance(self) -> None:
        self._progress.advance(self._task)

    def stop(self) -> None:
        self._progress.stop()
