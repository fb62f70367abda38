"""Question-answer sets for search agents: the JSONL reader and the EM/F1(/judge) reward."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolgym.jsonl import json_lines
from toolgym.rewards.base import Reward, Score, evaluate
from toolgym.rewards.match import NormalizedExactMatch, TokenF1
from toolgym.types import Episode, Task


class QAFileError(ValueError):
    """A QA file that cannot be read, naming the file, line and field."""


@dataclass(frozen=True, slots=True)
class QAItem:
    """One question with its accepted answers; other fields of the record are kept as metadata."""

    id: str
    question: str
    answers: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)


def _answers(record: dict[str, Any], where: str) -> list[str]:
    key = next((k for k in ("answers", "golden_answers", "answer") if k in record), None)
    if key is None:
        raise QAFileError(f"{where}: field 'answers': missing (a list of accepted answers)")
    value = record[key]
    values = [value] if isinstance(value, str | int | float) and not isinstance(value, bool) else value
    if not isinstance(values, list) or not values:
        raise QAFileError(f"{where}: field {key!r}: must be a non-empty list of strings")
    out = []
    for i, answer in enumerate(values):
        if isinstance(answer, bool) or not isinstance(answer, str | int | float) or not str(answer).strip():
            raise QAFileError(f"{where}: field '{key}.{i}': must be a non-empty string, got {answer!r}")
        out.append(str(answer).strip())
    return out


def read_qa_record(record: Any, where: str, default_id: str) -> QAItem:
    """A QAItem from one JSON record (``where`` names it in errors)."""
    if not isinstance(record, dict):
        raise QAFileError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    qid = record.get("id", default_id)
    if isinstance(qid, bool) or not isinstance(qid, str | int) or not str(qid).strip():
        raise QAFileError(f"{where}: field 'id': must be a non-empty string or an integer, got {qid!r}")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        got = "missing" if question is None else repr(question)
        raise QAFileError(f"{where}: field 'question': must be a non-empty string ({got})")
    answers = _answers(record, where)
    skip = {"id", "question", "answers", "golden_answers", "answer"}
    metadata = {k: v for k, v in record.items() if k not in skip}
    return QAItem(str(qid).strip(), question.strip(), answers, metadata)


def load_qa(path: str | Path) -> list[QAItem]:
    """Questions from JSONL: ``id`` (default ``q<line>``), ``question``, ``answers`` (a list, or one string;
    ``golden_answers`` as in Search-R1 data works too). Errors name the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise QAFileError(f"{path}: no such QA file")
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    for where, record in json_lines(path, QAFileError):
        lineno = int(where.rsplit(":", 1)[1])
        item = read_qa_record(record, where, f"q{lineno}")
        if item.id in seen:
            raise QAFileError(f"{where}: field 'id': {item.id!r} already used on line {seen[item.id]}")
        seen[item.id] = lineno
        items.append(item)
    if not items:
        raise QAFileError(f"{path}: holds no questions")
    return items


class QAReward:
    """Exact match and token F1 (SQuAD normalization, best over the accepted answers), plus an optional
    judge; all appear as components (``em``, ``f1``, ``judge``, ``judge_error``). The value and success
    come from ``primary`` (``"em"``, ``"f1"`` or ``"judge"``; default: the judge if there is one, else EM).
    """

    name = "qa"

    def __init__(self, judge: Reward | None = None, primary: str | None = None) -> None:
        primary = primary or ("judge" if judge is not None else "em")
        if primary not in ("em", "f1", "judge") or (primary == "judge" and judge is None):
            raise ValueError(f"primary must be 'em', 'f1' or (with a judge) 'judge', got {primary!r}")
        self.exact, self.f1, self.judge, self.primary = NormalizedExactMatch(), TokenF1(), judge, primary

    async def score(self, task: Task, episode: Episode) -> Score:
        components = {
            "em": (await evaluate(self.exact, task, episode)).value,
            "f1": (await evaluate(self.f1, task, episode)).value,
        }
        if self.judge is not None:
            verdict = await evaluate(self.judge, task, episode)
            components["judge"] = verdict.value
            components.update(verdict.components)
        value = components[self.primary]
        return Score(value, components, success=value >= 1.0)
