"""ToolEnv: a multi-turn tool-use environment with an async core and a Gymnasium facade."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from typing import Any, ClassVar, SupportsFloat

import gymnasium as gym

from toolgym.envs.actions import Action, budget_exhausted, read_action, run_calls
from toolgym.envs.spaces import ActionSpace, MessagesSpace
from toolgym.envs.tasks import TaskList, TaskSource
from toolgym.rewards.base import Reward, evaluate, get_reward
from toolgym.sync import LoopRunner
from toolgym.tools.base import Toolset
from toolgym.tools.function import FunctionToolset
from toolgym.tools.parsers import HermesParser, ToolCallParser, get_parser
from toolgym.types import Budget, Episode, ErrorInfo, StopReason, Task, ToolResult, ToolSpec, Turn, Usage

Messages = list[dict[str, Any]]


class ToolEnv(gym.Env):
    """A conversation in which the agent calls tools until it answers or a budget runs out.

    Observations are the conversation so far (OpenAI message dicts). An action is an assistant
    message dict, raw text (read by ``parser``), or a policy ``Generation``. The reward is 0 until
    the episode ends, then the task's score. ``areset``/``astep`` are the async core; ``reset``/
    ``step`` are the Gymnasium facade over them.

    Args:
        toolset: the tools on offer (a task may narrow them with ``Task.tools``).
        tasks: a TaskSource or a list of Tasks to draw from when ``reset`` gets no task.
        reward: scores finished episodes; else the reward named by each task's ``scoring.reward``.
        budget: default limits; a task's own ``budget`` fields override them.
        parser: reads tool calls from text actions (``"hermes"`` by default).
        final_tool: name of a tool that submits the final answer (argument ``answer``) and ends
            the episode; offered automatically when the toolset does not define it.
        system_prompt: prepended when a task's prompt has no system message.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"]}
    env_name: ClassVar[str] = "tool"

    def __init__(
        self,
        toolset: Toolset | None = None,
        tasks: TaskSource | Sequence[Task] | None = None,
        reward: Reward | None = None,
        budget: Budget | None = None,
        parser: ToolCallParser | str = "hermes",
        final_tool: str | None = None,
        system_prompt: str | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.toolset = toolset if toolset is not None else FunctionToolset()
        self.tasks: TaskSource | None = TaskList(tasks) if isinstance(tasks, Sequence) else tasks
        self.reward = reward
        self.budget = budget or Budget()
        self.parser = get_parser(parser) if isinstance(parser, str) else (parser or HermesParser())
        self.final_tool = final_tool
        self.system_prompt = system_prompt
        self.render_mode = render_mode
        self.observation_space = MessagesSpace()
        self.action_space = ActionSpace()
        self._runner = LoopRunner()
        self._specs: dict[str, ToolSpec] | None = None
        self._rng = random.Random()
        self._task: Task | None = None
        self._episode: Episode | None = None
        self._messages: Messages = []
        self._tools: list[dict[str, Any]] = []
        self._allowed: set[str] = set()
        self._budget = self.budget
        self._t0 = 0.0

    # ---- async core -------------------------------------------------------------------------

    async def tool_specs(self) -> dict[str, ToolSpec]:
        """All tools of the toolset (plus the final-answer tool), listed once and cached."""
        if self._specs is None:
            specs = {s.name: s for s in await self.toolset.list_tools()}
            if self.final_tool and self.final_tool not in specs:
                specs[self.final_tool] = ToolSpec(
                    name=self.final_tool,
                    description="Submit the final answer and end the task.",
                    parameters={
                        "type": "object",
                        "properties": {"answer": {"type": "string", "description": "the final answer"}},
                        "required": ["answer"],
                    },
                )
            self._specs = specs
        return self._specs

    def choose_task(
        self, task: Task | dict[str, Any] | None, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> Task:
        """The task of the next episode: ``task`` (or ``options["task"]``), else one drawn from the task
        source with the env's random stream (reseeded by ``seed``)."""
        if seed is not None:
            self._rng.seed(seed)
        if task is None and options:
            task = options.get("task")
        if task is None:
            if self.tasks is None:
                raise ValueError(f"{type(self).__name__} has no task source: pass reset(task=...)")
            return self.tasks.sample(self._rng)
        return Task.model_validate(task) if isinstance(task, dict) else task

    def set_toolset(self, toolset: Toolset) -> None:
        """Offer another toolset from the next reset on (e.g. tools that differ from task to task)."""
        self.toolset = toolset
        self._specs = None

    async def areset(
        self, *, task: Task | None = None, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Messages, dict[str, Any]]:
        """Start an episode on ``task`` (or one drawn from the task source with ``seed``)."""
        task = self.choose_task(task, seed, options)
        await self.toolset.on_episode_start()
        specs = await self.tool_specs()
        if task.tools is None:
            offered = list(specs.values())
        else:
            missing = [n for n in task.tools if n not in specs]
            if missing:
                raise ValueError(f"task {task.id!r} asks for tools the env does not have: {missing}")
            offered = [specs[n] for n in task.tools]
            if self.final_tool and self.final_tool not in task.tools:
                offered.append(specs[self.final_tool])
        self._tools = [] if getattr(self.parser, "text_protocol", False) else [s.to_openai() for s in offered]
        self._allowed = {s.name for s in offered}
        self._task = task
        self._budget = self.budget.merged(task.budget)
        self._messages = [m.model_dump(exclude_none=True) for m in task.prompt]
        if self.system_prompt and self._messages[0]["role"] != "system":
            self._messages.insert(0, {"role": "system", "content": self.system_prompt})
        self._episode = Episode(
            task_id=task.id, env=self.env_name, seed=seed, budget=self._budget, metadata=dict(task.metadata)
        )
        self._t0 = time.perf_counter()
        return list(self._messages), {"task_id": task.id, "tools": self._tools, "budget": self._budget}

    async def astep(self, action: Any) -> tuple[Messages, SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply one assistant action; returns (conversation, reward, terminated, truncated, info)."""
        episode = self._episode
        if episode is None or self._task is None:
            raise RuntimeError("call reset() before step()")
        if episode.done:
            raise RuntimeError("the episode is over; call reset() to start another")
        usage, budget = episode.usage, self._budget
        act = read_action(action, self.parser, usage.turns)
        usage.turns += 1
        usage.prompt_tokens += act.prompt_tokens
        usage.completion_tokens += act.completion_tokens
        usage.model_seconds += act.model_seconds
        self._messages.append(act.message)

        results, observations, stop = await self._run_tools(act, usage, budget)
        if stop is None and not act.calls:
            more = await self.on_answer(act.message)
            if more is None:
                stop = StopReason.ANSWER
                episode.final_answer = act.answer if act.answer is not None else act.message.get("content") or ""
            else:
                observations.extend(more)
        self._messages.extend(observations)
        stop = self._budget_stop(act, usage, budget, stop)

        turn = Turn(
            index=usage.turns - 1,
            action=act.message,
            observations=observations,
            tool_results=results,
            prompt_tokens=act.prompt_tokens,
            completion_tokens=act.completion_tokens,
            model_seconds=act.model_seconds,
            tool_seconds=sum(r.seconds for r in results),
            extra={**act.extra, "tokens_estimated": True} if act.tokens_estimated else act.extra,
        )
        episode.turns.append(turn)
        info: dict[str, Any] = {"tool_results": results}
        reward = 0.0
        if stop is not None:
            reward = await self._finish(stop)
            info.update(episode=episode, stop_reason=stop.value, reward_components=episode.reward_components)
        return list(self._messages), reward, episode.terminated, episode.truncated, info

    async def on_answer(self, message: dict[str, Any]) -> Messages | None:
        """Called when the agent replies without a tool call. Return messages to continue the
        conversation (e.g. a simulated user's reply) or None to end the episode with that answer."""
        return None

    async def on_end(self, episode: Episode) -> None:
        """Called once as an episode ends, before it is scored: collect what the reward needs and
        release per-episode resources (e.g. a sandbox). Setting ``episode.error`` skips scoring."""

    async def _run_tools(
        self, act: Action, usage: Usage, budget: Budget
    ) -> tuple[list[ToolResult], Messages, StopReason | None]:
        if not act.calls:
            return [], [], None
        stop = None
        final = [c for c in act.calls if c.name == self.final_tool and c.error is None]
        calls = [c for c in act.calls if not (c.name == self.final_tool and c.error is None)]
        skipped = []
        if budget.max_tool_calls is not None:
            room = max(budget.max_tool_calls - usage.tool_calls, 0)
            if len(calls) > room:
                calls, skipped = calls[:room], calls[room:]
                stop = StopReason.MAX_TOOL_CALLS
        results: list[ToolResult] = []
        if calls:
            timeout = budget.tool_timeout
            if budget.max_seconds is not None:
                timeout = max(min(timeout, budget.max_seconds - (time.perf_counter() - self._t0)), 0.001)
            start = time.perf_counter()
            results = await run_calls(calls, self.toolset, self._allowed, timeout)
            usage.tool_seconds += time.perf_counter() - start
        usage.tool_calls += len(calls) + len(skipped)
        results += [budget_exhausted(c) for c in skipped]
        wrap = getattr(self.parser, "format_result", None)
        if getattr(self.parser, "text_protocol", False):
            observations = [{"role": "user", "content": wrap(r.content) if wrap else r.content} for r in results]
        else:
            observations = [
                {"role": "tool", "tool_call_id": r.call_id, "content": wrap(r.content) if wrap else r.content}
                for r in results
            ]
        if final and stop is None:
            args = final[0].arguments or {}
            answer = args.get("answer", json.dumps(args))
            self._episode.final_answer = answer if isinstance(answer, str) else json.dumps(answer)  # type: ignore[union-attr]
            stop = StopReason.FINAL_TOOL
        return results, observations, stop

    def _budget_stop(self, act: Action, usage: Usage, budget: Budget, stop: StopReason | None) -> StopReason | None:
        if budget.max_tokens is not None and (
            usage.completion_tokens > budget.max_tokens
            or (usage.completion_tokens >= budget.max_tokens and act.finish_reason == "length")
        ):
            return StopReason.MAX_TOKENS  # over the token budget: truncated even if it answered
        if stop is not None:
            return stop
        if budget.max_turns is not None and usage.turns >= budget.max_turns:
            return StopReason.MAX_TURNS
        if budget.max_seconds is not None and time.perf_counter() - self._t0 >= budget.max_seconds:
            return StopReason.MAX_SECONDS
        return None

    async def end(self, stop: StopReason, error: ErrorInfo | None = None) -> Episode:
        """End the episode from outside a step: a budget hit while the policy was generating, or a
        failure (``error``) that is recorded instead of raised. Scored unless ``error`` is given."""
        episode = self._episode
        if episode is None:
            raise RuntimeError("call reset() before end()")
        if not episode.done:
            if error is not None:
                episode.error = error
            await self._finish(stop)
        return episode

    async def _finish(self, stop: StopReason) -> float:
        episode, task = self._episode, self._task
        assert episode is not None and task is not None
        episode.stop_reason = stop
        episode.truncated = stop.truncated
        episode.terminated = not stop.truncated
        episode.usage.wall_seconds = time.perf_counter() - self._t0
        episode.messages = self._messages
        episode.finished_at = time.time()
        await self.on_end(episode)
        if episode.error is not None:
            episode.success = False
            return 0.0
        reward = self.reward
        if reward is None and task.scoring.reward:
            reward = get_reward(task.scoring.reward, **task.scoring.params)
        if reward is None:
            episode.reward = 0.0
            return 0.0
        score = await evaluate(reward, task, episode)
        episode.reward, episode.reward_components, episode.success = score.value, score.components, score.success
        return score.value

    @property
    def episode(self) -> Episode | None:
        """The record of the current (or last) episode."""
        return self._episode

    @property
    def task(self) -> Task | None:
        return self._task

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The OpenAI tool dicts offered in the current episode."""
        return self._tools

    @property
    def messages(self) -> Messages:
        return self._messages

    async def aclose(self) -> None:
        await self.toolset.aclose()

    # ---- Gymnasium facade ---------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Messages, dict[str, Any]]:
        """Gymnasium ``reset``; pass a task as ``options={"task": task}``."""
        super().reset(seed=seed)
        return self._runner.run(self.areset(seed=seed, options=options))

    def step(self, action: Any) -> tuple[Messages, SupportsFloat, bool, bool, dict[str, Any]]:
        """Gymnasium ``step``: (conversation, reward, terminated, truncated, info)."""
        return self._runner.run(self.astep(action))

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return "\n".join(f"[{m['role']}] {m.get('content') or m.get('tool_calls')}" for m in self._messages)

    def close(self) -> None:
        self._runner.run(self.aclose())
        self._runner.close()
