import asyncio

import pytest

from tests.envs.conftest import call, make_task, make_toolset, tool_action
from toolgym.agents.policy import Generation
from toolgym.envs.tool_env import ToolEnv
from toolgym.rewards import ExactMatch
from toolgym.types import Budget, StopReason


async def test_tool_call_then_answer(env):
    obs, info = await env.areset(seed=0)
    assert [m["role"] for m in obs] == ["user"]
    assert {t["function"]["name"] for t in info["tools"]} == {"add", "nap", "crash"}

    obs, reward, terminated, truncated, info = await env.astep(tool_action(call("add", '{"a": 2, "b": 3}')))
    assert obs[-1] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
    assert (reward, terminated, truncated) == (0.0, False, False)

    obs, reward, terminated, truncated, info = await env.astep({"role": "assistant", "content": "5"})
    assert (reward, terminated, truncated) == (1.0, True, False)
    episode = info["episode"]
    assert episode.stop_reason is StopReason.ANSWER and episode.success is True
    assert episode.final_answer == "5"
    assert episode.usage.turns == 2 and episode.usage.tool_calls == 1
    assert [m["role"] for m in episode.messages] == ["user", "assistant", "tool", "assistant"]
    assert episode.turns[0].tool_results[0].content == "5"


async def test_text_action_is_parsed(env):
    await env.areset()
    obs, *_ = await env.astep('Sure. <tool_call>{"name": "add", "arguments": {"a": 1, "b": 1}}</tool_call>')
    assert obs[-2]["tool_calls"][0]["function"]["name"] == "add"
    assert obs[-2]["content"] == "Sure."
    assert obs[-1]["content"] == "2"
    assert env.episode.turns[0].extra["raw_text"].startswith("Sure.")


@pytest.mark.parametrize(
    ("action", "kind", "text"),
    [
        (tool_action(call("add", '{"a": 2,')), "invalid_json", "not valid JSON"),
        (tool_action(call("add", "[1, 2]")), "invalid_arguments", "JSON object"),
        (tool_action(call("missing", "{}")), "unknown_tool", "unknown tool 'missing'"),
        (tool_action(call("add", '{"a": "two", "b": 3}')), "invalid_arguments", "a: Input should be"),
        (tool_action(call("crash", "{}")), "tool_exception", "tool blew up"),
        (tool_action({"id": "x", "function": {}}), "malformed_call", "no function name"),
        ("<tool_call>{not json}</tool_call>", "invalid_json", "not valid JSON"),
        ('<tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>', "invalid_arguments", "b: Field required"),
    ],
)
async def test_malformed_calls_become_tool_errors(env, action, kind, text):
    await env.areset()
    obs, reward, terminated, truncated, info = await env.astep(action)
    assert not terminated and not truncated
    result = info["tool_results"][0]
    assert result.is_error and result.error_kind == kind
    assert text in obs[-1]["content"] and obs[-1]["role"] == "tool"
    assert obs[-1]["content"].startswith("Error:")


async def test_tool_timeout_is_an_error_not_a_hang():
    env = ToolEnv(make_toolset(), tasks=[make_task()], budget=Budget(tool_timeout=0.05))
    await env.areset()
    _, _, _, _, info = await env.astep(tool_action(call("nap", '{"seconds": 30}')))
    assert info["tool_results"][0].error_kind == "timeout"
    assert "timed out after 0.05s" in info["tool_results"][0].content


async def test_calls_of_one_action_run_concurrently():
    ts = make_toolset()
    gate = asyncio.Event()

    @ts.tool
    async def wait_gate() -> str:
        """Waits until open_gate runs."""
        await gate.wait()
        return "passed"

    @ts.tool
    async def open_gate() -> str:
        """Opens the gate."""
        gate.set()
        return "opened"

    env = ToolEnv(ts, tasks=[make_task()], budget=Budget(tool_timeout=5))
    await env.areset()
    obs, *_ = await env.astep(tool_action(call("wait_gate", "{}", "a"), call("open_gate", "{}", "b")))
    assert [m["content"] for m in obs[-2:]] == ["passed", "opened"]
    assert [m["tool_call_id"] for m in obs[-2:]] == ["a", "b"]


async def test_max_turns_truncates():
    env = ToolEnv(make_toolset(), tasks=[make_task()], reward=ExactMatch(), budget=Budget(max_turns=2))
    await env.areset()
    *_, terminated, truncated, _ = await env.astep(tool_action(call("add", '{"a": 1, "b": 1}')))
    assert not truncated
    _, reward, terminated, truncated, info = await env.astep(tool_action(call("add", '{"a": 1, "b": 1}')))
    assert truncated and not terminated and info["stop_reason"] == "max_turns"
    assert reward == 0.0 and env.episode.success is False


async def test_answer_on_last_turn_is_not_truncated():
    env = ToolEnv(make_toolset(), tasks=[make_task()], reward=ExactMatch(), budget=Budget(max_turns=1))
    await env.areset()
    _, reward, terminated, truncated, _ = await env.astep("5")
    assert terminated and not truncated and reward == 1.0


async def test_max_tokens_truncates_even_an_answer():
    env = ToolEnv(make_toolset(), tasks=[make_task()], reward=ExactMatch(), budget=Budget(max_tokens=10))
    await env.areset()
    _, _, _, truncated, _ = await env.astep(
        tool_action(call("add", '{"a": 1, "b": 1}'), usage={"completion_tokens": 6})
    )
    assert not truncated
    _, _, terminated, truncated, info = await env.astep(
        {"role": "assistant", "content": "5", "usage": {"completion_tokens": 5}}
    )
    assert truncated and not terminated and info["stop_reason"] == "max_tokens"


async def test_generation_cut_at_the_budget_is_truncated():
    env = ToolEnv(make_toolset(), tasks=[make_task()], budget=Budget(max_tokens=8))
    await env.areset()
    gen = Generation(
        message={"role": "assistant", "content": "5 and then"}, completion_tokens=8, finish_reason="length"
    )
    _, _, _, truncated, info = await env.astep(gen)
    assert truncated and info["stop_reason"] == "max_tokens"


async def test_max_tool_calls_skips_the_excess():
    env = ToolEnv(make_toolset(), tasks=[make_task()], budget=Budget(max_tool_calls=2))
    await env.areset()
    _, _, _, truncated, _ = await env.astep(tool_action(call("add", '{"a": 1, "b": 1}')))
    assert not truncated
    obs, _, _, truncated, info = await env.astep(
        tool_action(call("add", '{"a": 1, "b": 2}', "x"), call("add", '{"a": 1, "b": 3}', "y"))
    )
    assert truncated and info["stop_reason"] == "max_tool_calls"
    assert obs[-2]["content"] == "3"
    assert info["tool_results"][1].error_kind == "budget" and "budget exhausted" in obs[-1]["content"]
    assert env.episode.usage.tool_calls == 3


async def test_max_seconds_truncates_and_bounds_tool_calls():
    env = ToolEnv(make_toolset(), tasks=[make_task()], budget=Budget(max_seconds=0.1, tool_timeout=60))
    await env.areset()
    _, _, _, truncated, info = await env.astep(tool_action(call("nap", '{"seconds": 5}')))
    assert info["tool_results"][0].error_kind == "timeout"
    assert truncated and info["stop_reason"] == "max_seconds"


async def test_task_budget_overrides_env_budget():
    env = ToolEnv(make_toolset(), tasks=[make_task(budget=Budget(max_turns=1))], budget=Budget(max_turns=9))
    _, info = await env.areset()
    assert info["budget"].max_turns == 1 and info["budget"].tool_timeout == 30.0
    *_, truncated, _ = await env.astep(tool_action(call("add", '{"a": 1, "b": 1}')))
    assert truncated


async def test_final_answer_tool_ends_the_episode():
    env = ToolEnv(make_toolset(), tasks=[make_task()], reward=ExactMatch(), final_tool="answer")
    _, info = await env.areset()
    assert "answer" in {t["function"]["name"] for t in info["tools"]}
    _, reward, terminated, _, info = await env.astep(tool_action(call("answer", '{"answer": "5"}')))
    assert terminated and reward == 1.0 and info["stop_reason"] == "final_tool"


async def test_task_tool_subset():
    task = make_task(tools=["add"])
    env = ToolEnv(make_toolset(), tasks=[task])
    _, info = await env.areset()
    assert [t["function"]["name"] for t in info["tools"]] == ["add"]
    obs, *_ = await env.astep(tool_action(call("crash", "{}")))
    assert "unknown tool 'crash'" in obs[-1]["content"]
    with pytest.raises(ValueError, match="does not have"):
        await env.areset(task=make_task(tools=["nope"]))


async def test_contract_misuse_raises():
    env = ToolEnv(make_toolset())
    with pytest.raises(ValueError, match="no task source"):
        await env.areset()
    with pytest.raises(RuntimeError, match="reset"):
        await env.astep("hi")
    await env.areset(task=make_task())
    with pytest.raises(TypeError, match="assistant"):
        await env.astep({"role": "user", "content": "hi"})
    with pytest.raises(TypeError, match="not int"):
        await env.astep(42)
    await env.astep("done")
    with pytest.raises(RuntimeError, match="episode is over"):
        await env.astep("again")


async def test_nan_reward_is_an_error():
    from toolgym.rewards import RewardError, Score

    class Broken:
        name = "broken"

        async def score(self, task, episode):
            return Score(float("nan"))

    env = ToolEnv(make_toolset(), tasks=[make_task()], reward=Broken())
    await env.areset()
    with pytest.raises(RewardError, match="non-finite"):
        await env.astep("5")


async def test_on_answer_hook_can_continue_the_conversation():
    class UserEnv(ToolEnv):
        async def on_answer(self, message):
            if len(self.messages) < 4:
                return [{"role": "user", "content": "Are you sure?"}]
            return None

    env = UserEnv(make_toolset(), tasks=[make_task()])
    await env.areset()
    obs, _, terminated, _, _ = await env.astep("4")
    assert not terminated and obs[-1] == {"role": "user", "content": "Are you sure?"}
    _, _, terminated, _, _ = await env.astep("5")
    assert terminated and env.episode.final_answer == "5"


async def test_token_usage_is_recorded_or_estimated(env):
    await env.areset()
    await env.astep(tool_action(call("add", '{"a": 1, "b": 1}'), usage={"prompt_tokens": 40, "completion_tokens": 7}))
    await env.astep("five")
    usage = env.episode.usage
    assert usage.prompt_tokens == 40 and usage.completion_tokens > 7
    assert env.episode.turns[1].extra["tokens_estimated"] is True
    assert "tokens_estimated" not in env.episode.turns[0].extra


async def test_parser_answer_and_result_format_hooks():
    from toolgym.tools.parsers import ParsedCall, ParsedText

    class TagParser:
        name = "tags"

        def parse(self, text):
            if text.startswith("add "):
                return ParsedText("", [ParsedCall("add", '{"a": 2, "b": 3}')])
            return ParsedText(text, answer=text.removeprefix("ANSWER:").strip())

        def format_result(self, content):
            return f"<information>{content}</information>"

    env = ToolEnv(make_toolset(), tasks=[make_task()], reward=ExactMatch(), parser=TagParser())
    await env.areset()
    obs, *_ = await env.astep("add 2 3")
    assert obs[-1]["content"] == "<information>5</information>"
    _, reward, terminated, _, _ = await env.astep("ANSWER: 5")
    assert terminated and reward == 1.0 and env.episode.final_answer == "5"


async def test_a_toolset_returning_plain_values_is_coerced():
    from toolgym.tools.base import ToolOutput, Toolset
    from toolgym.types import ToolSpec

    class Sloppy(Toolset):
        async def list_tools(self):
            return [ToolSpec(name="text"), ToolSpec(name="number")]

        async def call(self, name, arguments):
            return "plain text" if name == "text" else ToolOutput(content=42)  # both off the contract

    env = ToolEnv(Sloppy(), tasks=[make_task()])
    await env.areset()
    obs, *_ = await env.astep(tool_action(call("text", "{}", "a"), call("number", "{}", "b")))
    assert [m["content"] for m in obs[-2:]] == ["plain text", "42"]
