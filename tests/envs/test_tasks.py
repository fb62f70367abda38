import pytest

from toolgym.envs.tasks import TaskFileError, load_tasks


def test_task_file_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"id": "a", "prompt": [{"role": "user", "content": "hi"}]}\n\n[1, 2]\n')
    with pytest.raises(TaskFileError, match=r"tasks.jsonl:3: a record must be a JSON object"):
        load_tasks(path)
    path.write_text('{"id": "a", "prompt": [{"role": "user", "content": "hi"}]}\n{"id": "b", "prompt": []}\n')
    with pytest.raises(TaskFileError, match=r"tasks.jsonl:2: field 'prompt'"):
        load_tasks(path)
    path.write_text('{"id": "a", "prompt": [{"role": "robot", "content": "hi"}]}\n')
    with pytest.raises(TaskFileError, match=r"tasks.jsonl:1: field 'prompt.0.role'"):
        load_tasks(path)
    path.write_text("{not json\n")
    with pytest.raises(TaskFileError, match=r"tasks.jsonl:1: not valid JSON"):
        load_tasks(path)
    with pytest.raises(TaskFileError, match="no such task file"):
        load_tasks(tmp_path / "missing.jsonl")


def test_task_file_loads(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        '{"id": "a", "prompt": [{"role": "user", "content": "2+2?"}], "scoring": {"answers": ["4"]}}\n'
        '{"id": "b", "prompt": [{"role": "user", "content": "3+3?"}], "tools": ["add"], "budget": {"max_turns": 2}}\n'
    )
    tasks = load_tasks(path)
    assert [t.id for t in tasks.take(5)] == ["a", "b"]
    assert tasks.tasks[1].budget.max_turns == 2 and tasks.tasks[0].scoring.answers == ["4"]


def test_a_task_budget_overrides_only_what_it_sets_after_a_round_trip():
    from toolgym.types import Budget, Message, Task

    task = Task(id="t", prompt=[Message(role="user", content="q")], budget=Budget(max_turns=3))
    again = Task.model_validate_json(task.model_dump_json())
    merged = Budget(max_turns=9, max_seconds=60, tool_timeout=5).merged(again.budget)
    assert (merged.max_turns, merged.max_seconds, merged.tool_timeout) == (3, 60, 5)
