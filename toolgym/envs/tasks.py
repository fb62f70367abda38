"""Where tasks come from: fixed lists, JSONL files, and deterministic generators."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import ValidationError

from toolgym.errors import first_error
from toolgym.jsonl import json_lines
from toolgym.types import Task


class TaskFileError(ValueError):
    """A task file that cannot be read, naming the file, line and field."""


@runtime_checkable
class TaskSource(Protocol):
    """A supply of tasks: random draws for training, a fixed deterministic list for evaluation."""

    def sample(self, rng: random.Random) -> Task:
        """One task drawn with ``rng``."""
        ...

    def take(self, n: int, seed: int = 0) -> list[Task]:
        """``n`` tasks, the same ones for the same seed (fewer if the source holds fewer)."""
        ...


class TaskList:
    """A fixed list of tasks."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        if not tasks:
            raise ValueError("a task list needs at least one task")
        ids = [t.id for t in tasks]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"task id {dup!r} appears more than once")
        self.tasks = list(tasks)

    def sample(self, rng: random.Random) -> Task:
        return rng.choice(self.tasks)

    def take(self, n: int, seed: int = 0) -> list[Task]:
        return self.tasks[:n]

    def __len__(self) -> int:
        return len(self.tasks)


class GeneratedTasks:
    """Tasks made by ``make(rng, index)``; task ``index`` under ``seed`` is always the same task."""

    def __init__(self, make: Callable[[random.Random, str], Task]) -> None:
        self.make = make

    def task(self, index: int, seed: int = 0) -> Task:
        return self.make(random.Random(f"{seed}:{index}"), f"s{seed}-{index}")

    def sample(self, rng: random.Random) -> Task:
        return self.task(rng.randrange(2**31), rng.randrange(2**31))

    def take(self, n: int, seed: int = 0) -> list[Task]:
        return [self.task(i, seed) for i in range(n)]


def load_tasks(path: str | Path) -> TaskList:
    """Tasks from a JSONL file, one Task object a line; errors name the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: no such task file")
    tasks: list[Task] = []
    for where, record in json_lines(path, TaskFileError):
        try:
            tasks.append(Task.model_validate(record))
        except ValidationError as exc:
            field, message = first_error(exc, "(record)")
            raise TaskFileError(f"{where}: field {field!r}: {message}") from None
    if not tasks:
        raise TaskFileError(f"{path}: holds no tasks")
    try:
        return TaskList(tasks)
    except ValueError as exc:
        raise TaskFileError(f"{path}: {exc}") from None
