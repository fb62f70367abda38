"""One episode of a policy in an environment."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from toolgym.agents.policy import Policy, PolicyError, Sampling
from toolgym.envs.tool_env import ToolEnv
from toolgym.types import Episode, ErrorInfo, StopReason, Task


def _sampling_for(sampling: Sampling, episode: Episode) -> Sampling:
    """Cap the generation at what is left of the episode's token budget."""
    budget = episode.budget.max_tokens
    if budget is None:
        return sampling
    left = max(budget - episode.usage.completion_tokens, 1)
    if sampling.max_tokens is not None and sampling.max_tokens <= left:
        return sampling
    return sampling.model_copy(update={"max_tokens": left})


async def rollout(
    env: ToolEnv,
    policy: Policy,
    task: Task | None = None,
    *,
    seed: int | None = None,
    sampling: Sampling | None = None,
) -> Episode:
    """Run ``policy`` on ``task`` in ``env`` until the episode ends and return its record.

    Failures of the policy (after its own retries) or of the environment are recorded in
    ``Episode.error`` instead of raised; the time budget also bounds each generation.
    """
    sampling = sampling or Sampling()
    try:
        messages, info = await env.areset(task=task, seed=seed)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # e.g. no sandbox or server could be started: recorded, the run goes on
        return _unstarted(env, policy, task, seed, exc)
    episode = env.episode
    assert episode is not None
    episode.model = policy.name
    tools: list[dict[str, Any]] | None = info["tools"] or None
    max_seconds = episode.budget.max_seconds
    start = time.perf_counter()
    try:
        while True:
            left = None if max_seconds is None else max_seconds - (time.perf_counter() - start)
            if left is not None and left <= 0:
                return await env.end(StopReason.MAX_SECONDS)
            try:
                async with asyncio.timeout(left) as deadline:
                    generation = await policy.generate(messages, tools, _sampling_for(sampling, episode))
            except TimeoutError:
                if deadline.expired():  # the episode's time budget, not the policy's own timeout
                    return await env.end(StopReason.MAX_SECONDS)
                raise
            messages, _, terminated, truncated, _ = await env.astep(generation)
            if terminated or truncated:
                return episode
    except asyncio.CancelledError:
        raise
    except PolicyError as exc:
        return await _record_failure(env, episode, ErrorInfo(kind=exc.kind, message=str(exc)))
    except Exception as exc:  # an env, tool or reward bug is recorded; the run goes on
        kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        return await _record_failure(env, episode, ErrorInfo(kind=kind, message=str(exc) or repr(exc)))


async def _record_failure(env: ToolEnv, episode: Episode, error: ErrorInfo) -> Episode:
    """End ``episode`` as failed with ``error``, also when it had already ended (a reward that failed)."""
    if not episode.done:
        try:
            return await env.end(StopReason.ERROR, error)
        except asyncio.CancelledError:
            raise
        except Exception:  # ending failed too (e.g. a sandbox teardown): record by hand
            pass
    episode.error, episode.reward, episode.reward_components, episode.success = error, None, {}, False
    episode.stop_reason, episode.terminated, episode.truncated = StopReason.ERROR, False, True
    episode.finished_at = episode.finished_at or time.time()
    return episode


def _unstarted(env: ToolEnv, policy: Policy, task: Task | None, seed: int | None, exc: Exception) -> Episode:
    """The record of an episode whose reset failed."""
    return Episode(
        task_id=task.id if task is not None else "",
        env=env.env_name,
        model=policy.name,
        seed=seed,
        error=ErrorInfo(kind=type(exc).__name__, message=f"reset failed: {exc}"),
        stop_reason=StopReason.ERROR,
        truncated=True,
        success=False,
        finished_at=time.time(),
    )
