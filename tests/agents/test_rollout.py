import asyncio

from tests.agents.scripted import CalculatorSolver
from toolgym.agents import Generation, Sampling, rollout
from toolgym.envs.calculator import CalculatorEnv
from toolgym.types import Budget, StopReason


async def test_rollout_solves_and_records_everything():
    env = CalculatorEnv(difficulty=2)
    task = env.tasks.take(1, seed=5)[0]
    episode = await rollout(env, CalculatorSolver(), task)
    assert episode.task_id == task.id and episode.model == "scripted-solver"
    assert episode.reward == 1.0 and episode.success and episode.stop_reason is StopReason.ANSWER
    assert episode.usage.turns == 2 and episode.usage.tool_calls == 1
    assert episode.usage.prompt_tokens == 120 and episode.usage.completion_tokens == 15
    assert episode.usage.wall_seconds > 0 and episode.finished_at is not None
    assert episode.turns[0].tool_results[0].is_error is False


async def test_policy_failure_is_recorded_not_raised():
    env = CalculatorEnv()
    task = env.tasks.take(1)[0]
    episode = await rollout(env, CalculatorSolver(fail_on={"What"}), task)
    assert episode.error.kind == "http_500" and episode.stop_reason is StopReason.ERROR
    assert episode.truncated and episode.reward is None and episode.success is False


async def test_time_budget_bounds_a_hanging_generation():
    class Hangs:
        name = "hangs"

        async def generate(self, messages, tools=None, sampling=None):
            await asyncio.sleep(60)

        async def aclose(self):
            pass

    env = CalculatorEnv(budget=Budget(max_seconds=0.1))
    episode = await rollout(env, Hangs(), env.tasks.take(1)[0])
    assert episode.stop_reason is StopReason.MAX_SECONDS and episode.truncated


async def test_token_budget_caps_each_generation():
    seen = []

    class Greedy:
        name = "greedy"

        async def generate(self, messages, tools=None, sampling=None):
            seen.append(sampling.max_tokens)
            return Generation(
                message={"role": "assistant", "content": "x" * 40},
                completion_tokens=sampling.max_tokens,
                finish_reason="length",
            )

        async def aclose(self):
            pass

    env = CalculatorEnv(budget=Budget(max_tokens=30))
    episode = await rollout(env, Greedy(), env.tasks.take(1)[0], sampling=Sampling(max_tokens=100))
    assert seen == [30]
    assert episode.stop_reason is StopReason.MAX_TOKENS


async def test_env_bug_is_recorded():
    class Broken:
        name = "broken"

        async def score(self, task, episode):
            raise ZeroDivisionError("oops")

    env = CalculatorEnv(reward=Broken())
    episode = await rollout(env, CalculatorSolver(), env.tasks.take(1)[0])
    assert episode.error.kind == "ZeroDivisionError" and episode.reward is None


def test_sync_policy_drives_the_sync_facade():
    from toolgym.agents import SyncPolicy

    env = CalculatorEnv()
    with SyncPolicy(CalculatorSolver()) as policy:
        obs, info = env.reset(seed=4)
        terminated = truncated = False
        while not (terminated or truncated):
            obs, reward, terminated, truncated, info = env.step(policy.generate(obs, env.tools))
    assert reward == 1.0 and info["episode"].usage.turns == 2
    env.close()


async def test_failed_reset_is_recorded():
    class NoSandbox(CalculatorEnv):
        async def areset(self, **kwargs):
            raise RuntimeError("no engine reachable")

    env = NoSandbox()
    task = env.tasks.take(1)[0]
    episode = await rollout(env, CalculatorSolver(), task)
    assert episode.task_id == task.id and episode.error.kind == "RuntimeError"
    assert "reset failed: no engine reachable" in episode.error.message
    assert episode.stop_reason is StopReason.ERROR and episode.success is False


async def test_failures_while_ending_are_recorded_not_raised():
    class TeardownFails(CalculatorEnv):
        async def on_end(self, episode):
            raise RuntimeError("sandbox teardown failed")

    env = TeardownFails()
    episode = await rollout(env, CalculatorSolver(fail_on={"What"}), env.tasks.take(1)[0])
    assert episode.error.kind == "http_500" and episode.stop_reason is StopReason.ERROR
    assert episode.truncated and not episode.terminated


async def test_a_reward_failing_after_the_answer_marks_the_episode_failed():
    from toolgym.agents import PolicyError

    class JudgeDown:
        name = "judge"

        async def score(self, task, episode):
            raise PolicyError("http_503", "judge unreachable")

    env = CalculatorEnv(reward=JudgeDown())
    episode = await rollout(env, CalculatorSolver(), env.tasks.take(1)[0])
    assert episode.error.kind == "http_503" and episode.reward is None
    assert episode.stop_reason is StopReason.ERROR and episode.truncated and not episode.terminated


async def test_a_policy_timeout_is_not_the_time_budget():
    class OwnTimeout:
        name = "own-timeout"

        async def generate(self, messages, tools=None, sampling=None):
            raise TimeoutError("read timed out")

        async def aclose(self):
            pass

    env = CalculatorEnv()
    episode = await rollout(env, OwnTimeout(), env.tasks.take(1)[0])
    assert episode.stop_reason is StopReason.ERROR and episode.error.kind == "timeout"
    assert "read timed out" in episode.error.message


async def test_generations_without_usage_are_estimated_so_the_token_budget_holds():
    class NoUsage:
        name = "no-usage"

        async def generate(self, messages, tools=None, sampling=None):
            call = {"id": "c", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}
            padded = {"role": "assistant", "content": "x" * 400, "tool_calls": [call]}
            return Generation(message=padded)  # a server that sent no usage

        async def aclose(self):
            pass

    env = CalculatorEnv(budget=Budget(max_turns=50, max_tokens=300))
    episode = await rollout(env, NoUsage(), env.tasks.take(1)[0])
    assert episode.stop_reason is StopReason.MAX_TOKENS
    assert all(turn.extra.get("tokens_estimated") for turn in episode.turns)
