"""A scripted policy for tests: solves calculator tasks by really calling the tools, then answers."""

from __future__ import annotations

import asyncio
import json
import re
from fractions import Fraction

from toolgym.agents.policy import Generation, PolicyError


def solve(question: str) -> str:
    expression = re.match(r"What is (.*)\?", question).group(1)
    value = eval(re.sub(r"(\d+)", r"Fraction(\1)", expression), {"Fraction": Fraction})
    return str(value.numerator)


class CalculatorSolver:
    """Turn 1: calls ``add`` on two numbers of the question; turn 2: answers correctly."""

    name = "scripted-solver"

    def __init__(self, delay: float = 0.0, fail_on: set[str] | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on or set()
        self.calls = 0

    async def generate(self, messages, tools=None, sampling=None) -> Generation:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        question = next(m["content"] for m in messages if m["role"] == "user")
        if any(key in question for key in self.fail_on):
            raise PolicyError("http_500", "scripted failure")
        if messages[-1]["role"] == "user":
            a, b = re.findall(r"\d+", question)[:2]
            args = json.dumps({"a": int(a), "b": int(b)})
            call = {"id": "c0", "type": "function", "function": {"name": "add", "arguments": args}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            return Generation(message=message, prompt_tokens=50, completion_tokens=12, finish_reason="tool_calls")
        return Generation(
            message={"role": "assistant", "content": solve(question)},
            prompt_tokens=70,
            completion_tokens=3,
            finish_reason="stop",
        )

    async def aclose(self) -> None:
        pass
