"""JSONL record files: appended and flushed one record at a time, read back by id for resuming."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Generic, TypeVar

from pydantic import BaseModel, ValidationError

R = TypeVar("R", bound=BaseModel)


class RecordFileError(ValueError):
    """A record file that cannot be read, naming the file, line and field."""


class RecordStore(Generic[R]):
    """Records of one type in a JSONL file, keyed by their ``id``.

    ``append`` writes and flushes one line at once, so a killed run loses only records in flight; a line cut off
    by a kill is dropped when the file is next opened. ``write_all`` replaces the file atomically.
    """

    def __init__(self, path: str | Path, model: type[R]) -> None:
        self.path = Path(path)
        self.model = model
        self._fh: IO[str] | None = None

    def read(self) -> dict[str, R]:
        """Every complete record by id, in file order (a later record with the same id wins)."""
        records: dict[str, R] = {}
        if not self.path.exists():
            return records
        with self.path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.endswith("\n"):
                    break  # cut off by a kill mid-write
                if not line.strip():
                    continue
                try:
                    record = self.model.model_validate_json(line)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    field = ".".join(str(p) for p in err["loc"]) or "(record)"
                    raise RecordFileError(f"{self.path}:{lineno}: field {field!r}: {err['msg']}") from None
                records[record.id] = record  # type: ignore[attr-defined]
        return records

    def ids(self) -> set[str]:
        return set(self.read())

    def _open(self) -> IO[str]:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size:
                with self.path.open("rb+") as fh:  # drop a partial last line left by a kill
                    data = fh.read()
                    keep = data.rfind(b"\n") + 1
                    if keep < len(data):
                        fh.truncate(keep)
            self._fh = self.path.open("a", encoding="utf-8")
        return self._fh

    def append(self, record: R) -> None:
        """Write one record and flush it."""
        fh = self._open()
        fh.write(record.model_dump_json() + "\n")
        fh.flush()

    def write_all(self, records: Iterable[R]) -> None:
        """Replace the file's content with ``records`` (written to a temporary file, then renamed)."""
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(record.model_dump_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def write_json(path: Path, value: object) -> None:
    """Write ``value`` as pretty JSON, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
