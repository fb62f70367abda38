"""JSONL record files: appended and flushed one record at a time, read back by id for resuming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from toolgym.jsonl import JsonlFile, RecordFileError

__all__ = ["RecordFileError", "RecordStore", "write_json"]

R = TypeVar("R", bound=BaseModel)


class RecordStore(JsonlFile[R]):
    """Records of one type in a JSONL file, keyed by their ``id`` (durability as in :class:`JsonlFile`)."""

    def read(self) -> dict[str, R]:
        """Every complete record by id, in file order (a later record with the same id wins)."""
        return {record.id: record for record in self}  # type: ignore[attr-defined]

    def ids(self) -> set[str]:
        return set(self.read())


def write_json(path: Path, value: object) -> None:
    """Write ``value`` as pretty JSON, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
