"""The Runner driving OpenAIPolicy against a real scripted HTTP server on 127.0.0.1."""

from tests.agents.scripted import solve
from toolgym.agents import Runner
from toolgym.agents.openai_policy import OpenAIPolicy
from toolgym.envs.calculator import CalculatorEnv
from toolgym.testing.openai_server import Reply, ScriptedOpenAIServer


def calculator_handler(broken: dict[str, str]):
    """Solves calculator tasks over HTTP (one tool call, then the answer); some questions misbehave."""

    def handle(request):
        messages = request["messages"]
        question = next(m["content"] for m in messages if m["role"] == "user")
        for key, mode in broken.items():
            if key in question:
                return Reply(hang=True) if mode == "hang" else Reply(status=500)
        if messages[-1]["role"] == "user":
            return Reply(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}])
        assert messages[-1] == {"role": "tool", "tool_call_id": "call_0", "content": "3"}
        return Reply(content=solve(question))

    return handle


async def test_server_errors_and_hangs_are_retried_then_recorded(tmp_path):
    tasks = CalculatorEnv().tasks.take(12, seed=3)
    broken = {tasks[1].prompt[0].content[8:]: "500", tasks[6].prompt[0].content[8:]: "hang"}
    with ScriptedOpenAIServer(calculator_handler(broken)) as server:
        policy = OpenAIPolicy("scripted", base_url=server.base_url, timeout=0.3, max_retries=2, backoff=0.01)
        runner = Runner(CalculatorEnv, policy, concurrency=4, out=tmp_path / "run.jsonl")
        summary = await runner.arun(tasks)
        await policy.aclose()
    assert summary.episodes == 12
    assert summary.errors == {"http_500": 1, "timeout": 1}
    assert summary.success_rate == 10 / 12
    failed = {e.task_id: e for e in runner.episodes if e.error}
    assert set(failed) == {tasks[1].id, tasks[6].id}
    assert "3 attempts" in failed[tasks[1].id].error.message
    # the broken questions were each tried max_retries + 1 times
    asked = [r["messages"][-1]["content"] for r in server.requests if r["messages"][-1]["role"] == "user"]
    assert asked.count(tasks[1].prompt[0].content) == 3
    assert asked.count(tasks[6].prompt[0].content) == 3
