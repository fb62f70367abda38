"""Env step overhead: what ToolEnv adds on top of calling a tool function, per step, no model.

    python benchmarks/step_overhead.py            # full run (~20 s)
    python benchmarks/step_overhead.py --quick    # smoke run (a few seconds)

The env is a CalculatorEnv (a FunctionToolset of add/subtract/multiply/divide) with no turn limit;
each action calls ``add`` once. Episodes are ``--steps`` steps long and reset between, outside the
step timings (reset is timed on its own). Each figure is the mean per call within a round; the best
round (least disturbed by other processes on the machine) is the one compared with the target.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "toolgym").is_dir():  # measure this checkout, whichever toolgym happens to be installed
    sys.path.insert(0, str(ROOT))

import toolgym  # noqa: E402
from toolgym.agents.policy import Generation  # noqa: E402
from toolgym.envs.actions import read_action, run_calls  # noqa: E402
from toolgym.envs.calculator import CalculatorEnv, add, make_calculator_task  # noqa: E402
from toolgym.types import Budget, Task  # noqa: E402

TARGET_US = 50.0
STRUCTURED: dict[str, Any] = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}],
}
TEXT = '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'
GENERATION = Generation(message=STRUCTURED, prompt_tokens=120, completion_tokens=20, finish_reason="tool_calls")


def make_env() -> CalculatorEnv:
    return CalculatorEnv(budget=Budget(max_turns=None))  # no turn limit: episodes never end mid-measurement


Figure = tuple[float, float]  # (best, median) over rounds, microseconds


def best_median_us(samples: list[float]) -> Figure:
    return min(samples) * 1e6, statistics.median(samples) * 1e6


def bare_us(n: int, rounds: int) -> Figure:
    """The tool function called directly: the baseline."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            add(1, 2)
        samples.append((time.perf_counter() - start) / n)
    return best_median_us(samples)


async def astep_us(env: CalculatorEnv, task: Task, action: Any, episodes: int, steps: int, rounds: int) -> Figure:
    samples = []
    for _ in range(rounds):
        gc.collect()
        total = 0.0
        for _ in range(episodes):
            await env.areset(task=task)
            start = time.perf_counter()
            for _ in range(steps):
                await env.astep(action)
            total += time.perf_counter() - start
            await asyncio.sleep(0)  # let the loop run once, as it would between model calls (drops spent timers)
        samples.append(total / (episodes * steps))
    return best_median_us(samples)


def sync_step_us(env: CalculatorEnv, task: Task, action: Any, episodes: int, steps: int, rounds: int) -> Figure:
    samples = []
    for _ in range(rounds):
        gc.collect()
        total = 0.0
        for _ in range(episodes):
            env.reset(options={"task": task})
            start = time.perf_counter()
            for _ in range(steps):
                env.step(action)
            total += time.perf_counter() - start
        samples.append(total / (episodes * steps))
    return best_median_us(samples)


async def acall_us(fn: Callable[[], Awaitable[Any]], n: int, rounds: int) -> Figure:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        samples.append((time.perf_counter() - start) / n)
        await asyncio.sleep(0)
    return best_median_us(samples)


async def long_episode_us(env: CalculatorEnv, task: Task, length: int, window: int = 64) -> tuple[float, float]:
    """Median step time over the first and the last ``window`` steps of one ``length``-step episode."""
    await env.areset(task=task)
    times = []
    for _ in range(length):
        start = time.perf_counter()
        await env.astep(STRUCTURED)
        times.append(time.perf_counter() - start)
    return statistics.median(times[:window]) * 1e6, statistics.median(times[-window:]) * 1e6


async def async_part(task: Task, episodes: int, steps: int, rounds: int, n: int) -> dict[str, Figure]:
    env = make_env()
    await env.areset(task=task)
    tool = env.toolset
    action = read_action(STRUCTURED, env.parser, 0)
    out: dict[str, Figure] = {}
    for _ in range(2):  # the second pass is the one kept: the first warms caches and allocators
        out["toolset.call (validate + to_output)"] = await acall_us(
            lambda: tool.call("add", {"a": 1, "b": 2}), n, rounds
        )
        out["run_calls (+ asyncio.timeout, ToolResult)"] = await acall_us(
            lambda: run_calls(action.calls, tool, {"add"}, 30.0), n, rounds
        )
        out["a) astep, structured message"] = await astep_us(env, task, STRUCTURED, episodes, steps, rounds)
        out["b) astep, <tool_call> text"] = await astep_us(env, task, TEXT, episodes, steps, rounds)
        out["d) astep, policy Generation (Runner path)"] = await astep_us(
            env, task, GENERATION, episodes, steps, rounds
        )
        out["areset(task=...)"] = await acall_us(lambda: env.areset(task=task), n // 4, rounds)
    await env.aclose()
    return out


def sync_part(task: Task, episodes: int, steps: int, rounds: int, n: int) -> dict[str, Figure]:
    env = make_env()
    out: dict[str, Figure] = {}
    for _ in range(2):
        out["c) env.step (Gymnasium facade)"] = sync_step_us(env, task, STRUCTURED, episodes, steps, rounds)
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            for i in range(n // 4):
                env.reset(seed=i)  # draws (generates) a new task each time
            samples.append((time.perf_counter() - start) / (n // 4))
        out["env.reset(seed=...) incl. task generation"] = best_median_us(samples)
    env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--steps", type=int, default=16, help="steps per episode (reset between, untimed)")
    args = parser.parse_args()
    episodes, rounds, n, long_len = (40, 5, 1000, 256) if args.quick else (100, 21, 2000, 4096)
    task = make_calculator_task(random.Random(0), "bench", 2)

    bare = bare_us(n * 10, rounds)
    figures = asyncio.run(async_part(task, episodes, args.steps, rounds, n))
    figures.update(sync_part(task, episodes, args.steps, rounds, n))
    first, last = asyncio.run(long_episode_us(make_env(), task, long_len))

    print(f"measuring {Path(toolgym.__file__).parent}")
    print(f"ToolEnv step overhead: {args.steps}-step episodes, {episodes} episodes a round, {rounds} rounds")
    print("best = fastest round (least disturbed by other processes), median = median round; microseconds")
    print(f"{'measurement':<48}{'best us':>9}{'median us':>11}{'overhead us':>13}{'x bare':>8}")
    print(f"{'bare add(1, 2) (baseline)':<48}{bare[0]:>9.2f}{bare[1]:>11.2f}{'-':>13}{1:>8}")
    for name, (best, med) in figures.items():
        print(f"{name:<48}{best:>9.2f}{med:>11.2f}{best - bare[0]:>13.2f}{best / bare[0]:>8.0f}")
    print(f"long episode ({long_len} steps): median step {first:.1f} us over the first 64 steps, {last:.1f} us over")
    print(f"  the last 64 (ratio {last / first:.2f}; > 1 means per-step cost grows with the conversation)")
    print("\n--quick: small samples, the verdicts below are indicative only" if args.quick else "")
    for key in ("a) astep, structured message", "b) astep, <tool_call> text", "c) env.step (Gymnasium facade)"):
        overhead = figures[key][0] - bare[0]
        verdict = "PASS" if overhead <= TARGET_US else "MISS"
        print(f"{verdict}  step overhead, {key[3:]}: {overhead:.1f} us (best round; target <= {TARGET_US:.0f} us)")


if __name__ == "__main__":
    main()
