"""Runner: many episodes with bounded concurrency, written to JSONL as each one finishes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from toolgym.agents.episode_log import EpisodeLog
from toolgym.agents.policy import Policy, Sampling
from toolgym.agents.rollout import rollout
from toolgym.agents.summary import RunSummary, summarize
from toolgym.envs.tool_env import ToolEnv
from toolgym.sync import LoopRunner
from toolgym.types import Episode, Task
from toolgym.workers import ProgressBar, run_workers


class Runner:
    """Runs a policy over tasks, ``concurrency`` episodes at a time.

    Each worker owns one environment (made by ``make_env``) and reuses it across episodes. Every
    finished episode is appended to ``out`` at once; with ``resume=True`` tasks already in ``out``
    are skipped, so a run killed midway loses only the episodes in flight and never duplicates one.

    Args:
        make_env: builds a fresh environment (called once per worker).
        policy: the policy; shared by all workers, so it must be safe to call concurrently.
        concurrency: episodes in flight at once.
        out: JSONL file to append episodes to (None: keep them in memory only).
        resume: skip tasks whose episode is already in ``out`` (else ``out`` is started afresh).
        sampling: decoding parameters for every generation.
        progress: show a progress bar.
        on_episode: called with each finished episode (e.g. to feed a trainer).
    """

    def __init__(
        self,
        make_env: Callable[[], ToolEnv],
        policy: Policy,
        *,
        concurrency: int = 8,
        out: str | Path | None = None,
        resume: bool = False,
        sampling: Sampling | None = None,
        progress: bool = False,
        on_episode: Callable[[Episode], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.make_env = make_env
        self.policy = policy
        self.concurrency = concurrency
        self.log = EpisodeLog(out) if out is not None else None
        self.resume = resume
        self.sampling = sampling
        self.progress = progress
        self.on_episode = on_episode
        self.episodes: list[Episode] = []

    async def arun(self, tasks: Sequence[Task]) -> RunSummary:
        """Run every task not already finished; the summary covers all episodes of the run file."""
        ids = [t.id for t in tasks]
        if len(set(ids)) != len(ids):
            raise ValueError("task ids must be unique within a run (resume relies on them)")
        done: list[Episode] = []
        if self.log is not None:
            if self.resume:
                done = self.log.read()
            self.log.open(fresh=not self.resume)
        finished = {e.task_id for e in done}
        todo = [t for t in tasks if t.id not in finished]
        self.episodes = list(done)
        queue: asyncio.Queue[Task] = asyncio.Queue()
        for task in todo:
            queue.put_nowait(task)
        bar = ProgressBar.maybe(self.progress, "episodes", len(tasks), len(tasks) - len(todo))
        try:
            await run_workers(min(self.concurrency, len(todo)), lambda: self._worker(queue, bar))
        finally:
            if bar is not None:
                bar.stop()
            if self.log is not None:
                self.log.close()
        return summarize(self.episodes)

    async def _worker(self, queue: asyncio.Queue[Task], bar: ProgressBar | None) -> None:
        env = self.make_env()
        try:
            while not queue.empty():
                task = queue.get_nowait()
                episode = await rollout(env, self.policy, task, sampling=self.sampling)
                self._record(episode)
                if bar is not None:
                    bar.advance()
        finally:
            await env.aclose()

    def _record(self, episode: Episode) -> None:
        self.episodes.append(episode)
        if self.log is not None:
            self.log.append(episode)
        if self.on_episode is not None:
            self.on_episode(episode)

    def run(self, tasks: Sequence[Task]) -> RunSummary:
        """Sync facade of :meth:`arun`."""
        runner = LoopRunner()
        try:
            return runner.run(self.arun(tasks))
        finally:
            runner.close()
