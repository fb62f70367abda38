"""What every stage shares: its folder and rejected file, model requests with accounting, bounded concurrency,
a progress bar, resuming by record id, and the run's ``stats.json``."""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from rich.console import Console

from toolgym.agents.policy import Policy, Sampling
from toolgym.agents.structured import RequestStats, StructuredOutputError, Validator, ask_json
from toolgym.envs.simulated_env import stable_seed
from toolgym.synth.config import LLMSettings
from toolgym.synth.records import Rejection
from toolgym.synth.store import RecordStore, write_json
from toolgym.workers import ProgressBar, run_workers

R = TypeVar("R", bound=BaseModel)
Item = tuple[str, Callable[[], Awaitable[Any]]]
STATS_FILE = "stats.json"


class Reject(Exception):
    """Raised by a stage's work on one record: give the record up, recording ``reason`` (and ``raw`` output)."""

    def __init__(self, reason: str, raw: Any = None) -> None:
        super().__init__(reason)
        self.reason, self.raw = reason, raw


class StageResult(BaseModel):
    """What one run of a stage did."""

    stage: str
    written: int = 0
    rejected: int = 0
    skipped: int = 0
    seconds: float = 0.0
    usage: dict[str, int] = Field(default_factory=dict)


class Stage:
    """One stage's run in ``out/<name>/``: records, ``rejected.jsonl``, and the requests it makes.

    Args:
        name: the stage (harvest, evolve, ...).
        out: the run folder.
        policy: the model asked for JSON by :meth:`ask` (None for stages that make no requests).
        llm: how to ask it (temperature, max tokens, attempts, structured decoding).
        seed: the run's seed; every request's seed derives from it and the record's key.
        concurrency: records worked on at once.
        progress: show a progress bar.
    """

    def __init__(
        self,
        name: str,
        out: str | Path,
        *,
        policy: Policy | None = None,
        llm: LLMSettings | None = None,
        seed: int = 0,
        concurrency: int = 4,
        progress: bool = False,
        console: Console | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.name, self.out = name, Path(out)
        self.dir = self.out / name
        self.policy, self.llm = policy, llm or LLMSettings()
        self.seed, self.concurrency, self.progress = seed, concurrency, progress
        self.console = console or Console(stderr=True)
        self.stats = RequestStats()
        self.rejected: RecordStore[Rejection] = RecordStore(self.dir / "rejected.jsonl", Rejection)
        self.result = StageResult(stage=name)
        self._rejected_ids: set[str] | None = None
        self._start = time.perf_counter()

    def store(self, filename: str, model: type[R]) -> RecordStore[R]:
        """A record file of this stage."""
        return RecordStore(self.dir / filename, model)

    def seed_for(self, *key: object) -> int:
        return stable_seed(self.seed, self.name, *key)

    async def ask(
        self,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
        *,
        key: str,
        validate: Validator | None = None,
        max_tokens: int | None = None,
        name: str = "reply",
    ) -> Any:
        """JSON from the stage's model, matching ``schema`` and ``validate``; raises :class:`Reject` after the
        configured attempts. ``key`` (the record id) seeds the request."""
        if self.policy is None:
            raise RuntimeError(f"stage {self.name!r} has no model to ask")
        sampling = Sampling(
            temperature=self.llm.temperature, max_tokens=max_tokens or self.llm.max_tokens, seed=self.seed_for(key)
        )
        try:
            return await ask_json(
                self.policy,
                messages,
                schema,
                validate=validate,
                attempts=self.llm.attempts,
                sampling=sampling,
                structured=self.llm.structured,
                stats=self.stats,
                name=name,
            )
        except StructuredOutputError as exc:
            raise Reject(f"invalid model output after {exc.attempts} attempt(s): {exc.reason}", exc.raw) from None

    def reject(self, record_id: str, reason: str, raw: Any = None) -> None:
        """Record ``record_id`` as given up, unless it already is."""
        if self._rejected_ids is None:
            self._rejected_ids = self.rejected.ids()
        if record_id in self._rejected_ids:
            return
        self._rejected_ids.add(record_id)
        self.rejected.append(Rejection(id=record_id, stage=self.name, reason=reason, raw=raw))
        self.result.rejected += 1

    async def run(self, items: Sequence[Item], store: RecordStore[R] | None, label: str | None = None) -> dict[str, R]:
        """Work on every item whose id is neither in ``store`` nor rejected, ``concurrency`` at a time.

        Each item's function returns a record (appended to ``store`` and flushed at once) or raises
        :class:`Reject`; any other exception is recorded as a rejection too, so one bad record never stops the
        run. Returns every record of ``store``, old and new. With no ``store`` the functions write for
        themselves and return None.
        """
        done = store.read() if store is not None else {}
        rejected = self._rejected_ids = self.rejected.ids()
        todo = [(rid, fn) for rid, fn in items if rid not in done and rid not in rejected]
        self.result.skipped += len(items) - len(todo)
        queue: asyncio.Queue[Item] = asyncio.Queue()
        for item in todo:
            queue.put_nowait(item)
        progress = ProgressBar.maybe(
            self.progress, label or self.name, len(items), len(items) - len(todo), self.console
        )

        async def worker() -> None:
            while not queue.empty():
                rid, fn = queue.get_nowait()
                try:
                    record = await fn()
                except Reject as exc:
                    self.reject(rid, exc.reason, exc.raw)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug or an unexpected failure: recorded, the run goes on
                    where = traceback.extract_tb(exc.__traceback__)[-1]
                    self.reject(rid, f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})")
                else:
                    if record is not None and store is not None:
                        store.append(record)
                        done[rid] = record
                        self.result.written += 1
                if progress is not None:
                    progress.advance()

        try:
            await run_workers(min(self.concurrency, len(todo)), worker)
        finally:
            if progress is not None:
                progress.stop()
            if store is not None:
                store.close()
            self.rejected.close()
        return done

    def finish(self, extra: RequestStats | None = None) -> StageResult:
        """Close the stage: add its requests and tokens to ``out/stats.json`` and return what it did."""
        self.rejected.close()
        if extra is not None:
            self.stats.merge(extra)
        self.result.seconds = time.perf_counter() - self._start
        self.result.usage = self.stats.as_dict()
        update_stats(self.out, self.result)
        return self.result


def read_stats(out: Path) -> dict[str, Any]:
    """The run's stats file (empty if none yet)."""
    path = out / STATS_FILE
    if not path.is_file():
        return {"stages": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def update_stats(out: Path, result: StageResult) -> None:
    """Add one stage run's figures to the totals in ``out/stats.json`` (runs, records, requests, tokens)."""
    stats = read_stats(out)
    stage = stats["stages"].setdefault(result.stage, {"runs": 0})
    stage["runs"] = stage.get("runs", 0) + 1
    for key in ("written", "rejected"):
        stage[key] = stage.get(key, 0) + getattr(result, key)
    stage["seconds"] = round(stage.get("seconds", 0.0) + result.seconds, 3)
    stage["last_run"] = {"written": result.written, "rejected": result.rejected, "skipped": result.skipped}
    for key, value in result.usage.items():
        stage[key] = stage.get(key, 0) + value
    write_json(out / STATS_FILE, stats)
