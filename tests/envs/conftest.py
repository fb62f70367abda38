import asyncio

import pytest

from toolgym.envs.tool_env import ToolEnv
from toolgym.rewards import ExactMatch
from toolgym.tools import FunctionToolset
from toolgym.types import Budget, Message, Scoring, Task


def make_toolset() -> FunctionToolset:
    ts = FunctionToolset()

    @ts.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @ts.tool
    async def nap(seconds: float) -> str:
        """Sleep, then say so."""
        await asyncio.sleep(seconds)
        return "rested"

    @ts.tool
    def crash() -> str:
        """Raises."""
        raise RuntimeError("tool blew up")

    return ts


def make_task(task_id: str = "t1", answer: str = "5", **kw) -> Task:
    return Task(
        id=task_id,
        prompt=[Message(role="user", content="What is 2 + 3?")],
        scoring=Scoring(answers=[answer]),
        **kw,
    )


def call(name: str, args: str, call_id: str = "c1") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def tool_action(*calls: dict, usage: dict | None = None) -> dict:
    action = {"role": "assistant", "content": None, "tool_calls": list(calls)}
    if usage:
        action["usage"] = usage
    return action


@pytest.fixture
def env() -> ToolEnv:
    return ToolEnv(make_toolset(), tasks=[make_task()], reward=ExactMatch(), budget=Budget(max_turns=5))
