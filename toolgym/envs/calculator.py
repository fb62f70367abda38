"""CalculatorEnv: arithmetic word problems solved with calculator tools, generated from a seed.

Needs no setup: tasks are generated deterministically with exact integer answers, and the
difficulty knob is the number of operations the answer takes.
"""

from __future__ import annotations

import random
from typing import Any

from toolgym.envs.tasks import GeneratedTasks
from toolgym.envs.tool_env import ToolEnv
from toolgym.rewards.match import NumericMatch
from toolgym.tools.function import FunctionToolset
from toolgym.types import Budget, Message, Scoring, Task

SYSTEM_PROMPT = (
    "You are a careful assistant with calculator tools. Use the tools for every arithmetic step, "
    "then reply with only the final number."
)


def add(a: int | float, b: int | float) -> int | float:
    """Add two numbers.

    Args:
        a: the first number
        b: the second number
    """
    return a + b


def subtract(a: int | float, b: int | float) -> int | float:
    """Subtract b from a.

    Args:
        a: the number to subtract from
        b: the number to subtract
    """
    return a - b


def multiply(a: int | float, b: int | float) -> int | float:
    """Multiply two numbers.

    Args:
        a: the first factor
        b: the second factor
    """
    return a * b


def divide(a: int | float, b: int | float) -> int | float:
    """Divide a by b.

    Args:
        a: the dividend
        b: the divisor (not zero)
    """
    if b == 0:
        raise ValueError("division by zero")
    return a / b


def calculator_toolset() -> FunctionToolset:
    """The four calculator tools: add, subtract, multiply, divide."""
    return FunctionToolset([add, subtract, multiply, divide])


def _clean(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def make_calculator_task(rng: random.Random, task_id: str, steps: int) -> Task:
    """A problem needing exactly ``steps`` operations, with an exact integer answer."""
    value = rng.randint(2, 99)
    expr = str(value)
    for _ in range(steps):
        op = rng.choice("+-*/")
        divisors = [d for d in range(2, 13) if value % d == 0 and value != 0]
        if op == "/" and not divisors:
            op = "*"
        if op == "/":
            n = rng.choice(divisors)
            value, expr = value // n, f"({expr} / {n})"
        elif op == "*":
            n = rng.randint(2, 19)
            value, expr = value * n, (f"({expr} * {n})" if rng.random() < 0.5 else f"({n} * {expr})")
        elif op == "+":
            n = rng.randint(2, 999)
            value, expr = value + n, (f"({expr} + {n})" if rng.random() < 0.5 else f"({n} + {expr})")
        else:
            n = rng.randint(2, 999)
            value, expr = value - n, f"({expr} - {n})"
    expr = expr[1:-1] if expr.startswith("(") and expr.endswith(")") and steps > 0 else expr
    return Task(
        id=f"calc-{task_id}",
        prompt=[Message(role="user", content=f"What is {expr}?")],
        scoring=Scoring(answers=[_clean(value)], reward=NumericMatch.name),
        metadata={"domain": "arithmetic", "difficulty": steps, "expression": expr},
    )


class CalculatorEnv(ToolEnv):
    """Arithmetic with calculator tools; ``difficulty`` = operations per problem (or a (lo, hi) range)."""

    env_name = "calculator"

    def __init__(self, difficulty: int | tuple[int, int] = 2, budget: Budget | None = None, **kwargs: Any) -> None:
        lo, hi = (difficulty, difficulty) if isinstance(difficulty, int) else difficulty
        if not 1 <= lo <= hi <= 50:
            raise ValueError(f"difficulty must be 1..50 operations (or a lo<=hi range), got {difficulty!r}")
        self.difficulty = (lo, hi)

        def make(rng: random.Random, task_id: str) -> Task:
            return make_calculator_task(rng, task_id, rng.randint(lo, hi))

        kwargs.setdefault("system_prompt", SYSTEM_PROMPT)
        super().__init__(
            toolset=kwargs.pop("toolset", None) or calculator_toolset(),
            tasks=kwargs.pop("tasks", None) or GeneratedTasks(make),
            reward=kwargs.pop("reward", None) or NumericMatch(),
            budget=budget or Budget(max_turns=lo + hi + 4),
            **kwargs,
        )
