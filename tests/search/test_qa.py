"""QA files (errors name file, line and field) and the EM/F1 reward with its components."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolgym.rewards.base import Score
from toolgym.search.qa import QAFileError, QAReward, load_qa
from toolgym.types import Episode, Message, Scoring, Task


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_qa_reads_answers_aliases_and_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path / "qa.jsonl",
        json.dumps({"id": "a", "question": " Capital? ", "answers": ["Lutz", "the city of Lutz"], "level": 2}),
        "",
        json.dumps({"question": "Year?", "golden_answers": [1907]}),
        json.dumps({"id": 3, "question": "Currency?", "answer": "klubeck"}),
    )
    items = load_qa(path)
    assert [(i.id, i.question, i.answers) for i in items] == [
        ("a", "Capital?", ["Lutz", "the city of Lutz"]),
        ("q3", "Year?", ["1907"]),
        ("3", "Currency?", ["klubeck"]),
    ]
    assert items[0].metadata == {"level": 2}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("{bad", "not valid JSON"),
        ('"text"', "must be a JSON object"),
        ('{"id": "x", "answers": ["a"]}', "field 'question': must be a non-empty string (missing)"),
        ('{"id": "x", "question": "  ", "answers": ["a"]}', "field 'question'"),
        ('{"id": "x", "question": "q"}', "field 'answers': missing"),
        ('{"id": "x", "question": "q", "answers": []}', "field 'answers': must be a non-empty list"),
        ('{"id": "x", "question": "q", "answers": ["a", ""]}', "field 'answers.1'"),
        ('{"id": "x", "question": "q", "answers": [null]}', "field 'answers.0'"),
        ('{"id": [1], "question": "q", "answers": ["a"]}', "field 'id'"),
        ('{"id": "first", "question": "q", "answers": ["a"]}', "field 'id': 'first' already used on line 1"),
    ],
)
def test_bad_records_name_file_line_and_field(tmp_path: Path, record: str, message: str) -> None:
    path = write(tmp_path / "qa.jsonl", '{"id": "first", "question": "q", "answers": ["a"]}', record)
    with pytest.raises(QAFileError) as info:
        load_qa(path)
    assert str(info.value).startswith(f"{path}:2: ") and message in str(info.value)


def test_missing_or_empty_files(tmp_path: Path) -> None:
    with pytest.raises(QAFileError, match="no such QA file"):
        load_qa(tmp_path / "none.jsonl")
    with pytest.raises(QAFileError, match="holds no questions"):
        load_qa(write(tmp_path / "empty.jsonl", "", ""))


def task(*answers: str) -> Task:
    return Task(id="t", prompt=[Message(role="user", content="q")], scoring=Scoring(answers=list(answers)))


@pytest.mark.parametrize(
    ("answer", "em", "f1"),
    [
        ("Lutz", 1.0, 1.0),
        ("  the LUTZ. ", 1.0, 1.0),  # SQuAD normalization
        ("city of Lutz", 0.0, 6 / 7),  # best over the accepted answers: P 3/3, R 3/4 against the second
        ("Kessel", 0.0, 0.0),
        (None, 0.0, 0.0),
    ],
)
async def test_qa_reward_reports_em_and_f1(answer: str | None, em: float, f1: float) -> None:
    score = await QAReward().score(task("Lutz", "the capital city of Lutz"), Episode(task_id="t", final_answer=answer))
    assert score.components == pytest.approx({"em": em, "f1": f1})
    assert score.value == em and score.success is (em == 1.0)


async def test_qa_reward_primary_and_judge_components() -> None:
    class Judge:
        name = "judge"

        async def score(self, task: Task, episode: Episode) -> Score:
            return Score(1.0, {"judge_error": 0.0}, success=True)

    f1_first = await QAReward(primary="f1").score(task("red box"), Episode(task_id="t", final_answer="red"))
    assert f1_first.value == pytest.approx(2 / 3) and f1_first.success is False
    judged = await QAReward(Judge()).score(task("Lutz"), Episode(task_id="t", final_answer="It is Lutz, I think"))
    assert judged.components == {"em": 0.0, "f1": pytest.approx(1 / 3), "judge": 1.0, "judge_error": 0.0}
    assert judged.value == 1.0 and judged.success
    with pytest.raises(ValueError, match="primary"):
        QAReward(primary="judge")
