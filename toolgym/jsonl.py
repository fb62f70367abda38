"""Append-only JSONL files of pydantic records: each record flushed as it is written, read back for resuming."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from toolgym.errors import first_error

R = TypeVar("R", bound=BaseModel)


def _dumps(record: BaseModel) -> str:
    """One JSON line. A record holding lone surrogates (text cut inside a character) or values that are
    not JSON is still written, with those characters replaced and those values as strings."""
    try:
        return record.model_dump_json()
    except (ValueError, TypeError):
        text = json.dumps(record.model_dump(), default=str, ensure_ascii=False)
        return text.encode("utf-8", "replace").decode("utf-8")


class RecordFileError(ValueError):
    """A record file that cannot be read, naming the file, line and field."""


class JsonlFile(Generic[R]):
    """Records of one pydantic type, one JSON line each.

    ``append`` writes and flushes one line at once, so a killed run loses only what was in flight; a
    line cut off by a kill is ignored when reading and cut off when the file is next opened for
    appending, so resuming never duplicates or corrupts a record. ``write_all`` replaces the file
    atomically.
    """

    def __init__(self, path: str | Path, model: type[R]) -> None:
        self.path = Path(path)
        self.model = model
        self._fh: IO[str] | None = None

    def __iter__(self) -> Iterator[R]:
        """Every complete record, in file order."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.endswith("\n"):
                    break  # cut off by a kill mid-write
                if not line.strip():
                    continue
                try:
                    yield self.model.model_validate_json(line)
                except ValidationError as exc:
                    field, message = first_error(exc, "(record)")
                    raise RecordFileError(f"{self.path}:{lineno}: field {field!r}: {message}") from None

    def open(self, fresh: bool = False) -> None:
        """Open for appending; ``fresh`` empties the file first."""
        if self._fh is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            self.path.write_text("", encoding="utf-8")
        elif self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb+") as fh:  # drop a partial last line left by a kill
                data = fh.read()
                keep = data.rfind(b"\n") + 1
                if keep < len(data):
                    fh.truncate(keep)
        self._fh = self.path.open("a", encoding="utf-8")

    def append(self, record: R) -> None:
        """Write one record and flush it to the OS at once."""
        if self._fh is None:
            self.open()
        assert self._fh is not None
        self._fh.write(_dumps(record) + "\n")
        self._fh.flush()

    def write_all(self, records: Iterable[R]) -> None:
        """Replace the file's content with ``records`` (written to a temporary file, then renamed)."""
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(_dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def json_lines(path: str | Path, error: type[ValueError]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("file:line", object)`` for each non-empty line of a JSONL file.

    An unreadable file, a line that is not JSON, or a value that is not an object raises ``error``
    naming the file and line.
    """
    path = Path(path)
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(value, dict):
                raise error(f"{where}: a record must be a JSON object, got {type(value).__name__}")
            yield where, value
