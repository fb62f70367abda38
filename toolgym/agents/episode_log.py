"""The run file: episodes appended as they finish, read back for resume and reports."""

from __future__ import annotations

from pathlib import Path

from toolgym.jsonl import JsonlFile
from toolgym.types import Episode


class EpisodeLog(JsonlFile[Episode]):
    """A JSONL file of episodes (see :class:`toolgym.jsonl.JsonlFile` for the durability rules)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, Episode)

    def read(self) -> list[Episode]:
        """Every complete episode in the file (a partial last line is ignored)."""
        return list(self)


def read_episodes(path: str | Path) -> list[Episode]:
    """All complete episodes of a JSONL run file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such run file")
    return EpisodeLog(path).read()
