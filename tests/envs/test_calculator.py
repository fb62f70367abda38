import re
from fractions import Fraction

import pytest

from toolgym.envs.calculator import CalculatorEnv, calculator_toolset


def evaluate(expression: str) -> Fraction:
    # exact arithmetic over the generated expression
    return eval(re.sub(r"(\d+)", r"Fraction(\1)", expression), {"Fraction": Fraction})


@pytest.mark.parametrize("difficulty", [1, 2, 5, 12])
def test_tasks_have_exact_answers_and_the_asked_difficulty(difficulty):
    env = CalculatorEnv(difficulty=difficulty)
    for task in env.tasks.take(25, seed=4):
        expression = task.metadata["expression"]
        assert task.metadata["difficulty"] == difficulty
        assert len(re.findall(r" [-+*/] ", expression)) == difficulty
        value = evaluate(expression)
        assert value.denominator == 1
        assert task.scoring.answers == [str(value.numerator)]
        assert task.prompt[0].content == f"What is {expression}?"


def test_same_seed_same_tasks_and_ids_are_unique():
    a = CalculatorEnv(difficulty=(1, 4)).tasks.take(50, seed=1)
    b = CalculatorEnv(difficulty=(1, 4)).tasks.take(50, seed=1)
    assert a == b
    assert len({t.id for t in a}) == 50
    assert {t.metadata["difficulty"] for t in a} == {1, 2, 3, 4}
    assert a != CalculatorEnv(difficulty=(1, 4)).tasks.take(50, seed=2)


def test_bad_difficulty_is_rejected():
    with pytest.raises(ValueError, match="difficulty"):
        CalculatorEnv(difficulty=0)
    with pytest.raises(ValueError, match="difficulty"):
        CalculatorEnv(difficulty=(4, 2))


async def test_tools_keep_integers_and_refuse_division_by_zero():
    ts = calculator_toolset()
    assert (await ts.call("multiply", {"a": 12, "b": 3})).content == "36"
    from toolgym.tools import ToolError

    with pytest.raises(ToolError, match="division by zero"):
        await ts.call("divide", {"a": 1, "b": 0})


async def test_solving_with_the_tools_scores_one():
    env = CalculatorEnv(difficulty=1)
    task = env.tasks.take(1, seed=0)[0]
    await env.areset(task=task)
    a, op, b = task.metadata["expression"].split(" ")
    name = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}[op]
    call = {"id": "1", "type": "function", "function": {"name": name, "arguments": f'{{"a": {a}, "b": {b}}}'}}
    obs, *_ = await env.astep({"role": "assistant", "content": None, "tool_calls": [call]})
    result = obs[-1]["content"]
    _, reward, terminated, _, _ = await env.astep(f"The answer is {result}")
    assert terminated and reward == 1.0
