"""An append-only JSONL file of episodes: written as they finish, read back for resume and reports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from toolgym.types import Episode


class EpisodeLog:
    """Episodes appended one JSON line each, flushed as soon as written.

    A run killed mid-write leaves at most a partial last line; opening the log for appending
    cuts that line off, so a resumed run never duplicates or corrupts a record.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = None

    def read(self) -> list[Episode]:
        """Every complete episode in the file (a partial last line is ignored)."""
        return list(self._iter())

    def _iter(self) -> Iterator[Episode]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.endswith("\n"):
                    break  # cut off by a kill mid-write
                if line.strip():
                    try:
                        yield Episode.model_validate_json(line)
                    except ValueError as exc:
                        raise ValueError(f"{self.path}:{lineno}: not an episode record: {exc}") from None

    def _drop_partial_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as fh:
            data = fh.read()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                fh.truncate(keep)

    def open(self, fresh: bool = False) -> None:
        """Open for appending (``fresh`` empties the file first)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            self.path.write_text("", encoding="utf-8")
        else:
            self._drop_partial_tail()
        self._fh = self.path.open("a", encoding="utf-8")

    def append(self, episode: Episode) -> None:
        """Write one episode and flush it to the OS at once."""
        if self._fh is None:
            self.open()
        assert self._fh is not None
        self._fh.write(episode.model_dump_json() + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def read_episodes(path: str | Path) -> list[Episode]:
    """All complete episodes of a JSONL run file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such run file")
    return EpisodeLog(path).read()
