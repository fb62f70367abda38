"""Runner throughput against an instant local fake endpoint, beside a bare loop of the same HTTP calls.

    python benchmarks/runner_throughput.py            # full run (~1.5 min)
    python benchmarks/runner_throughput.py --quick    # smoke run (< 30 s)

The fake server (benchmarks/fake_openai_server.py, a separate process) answers each conversation with
``--tool-turns`` calls of the ``add`` tool, then a final answer: tool-turns + 1 turns an episode. For each
concurrency, in one event loop and with one OpenAIPolicy (same client settings), alternating:

* bare:   OpenAIPolicy.generate in a loop over the same conversations and concurrency, no env;
* runner: Runner(CalculatorEnv, OpenAIPolicy).arun over the same episodes.

Runner overhead per turn = (runner_seconds - bare_seconds) / turns, on wall time and on this process's CPU
time. The Runner is also timed with an in-process instant policy (no HTTP at all). Last, a child process
runs 1,000 episodes at concurrency 1,000 against a server delaying each reply, and reports its peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "toolgym").is_dir():  # measure this checkout, whichever toolgym happens to be installed
    sys.path.insert(0, str(ROOT))

import toolgym  # noqa: E402
from toolgym.agents.openai_policy import OpenAIPolicy  # noqa: E402
from toolgym.agents.policy import Generation, Policy, Sampling  # noqa: E402
from toolgym.agents.runner import Runner  # noqa: E402
from toolgym.envs.calculator import CalculatorEnv  # noqa: E402
from toolgym.types import Budget, Task  # noqa: E402

TURN_TARGET_MS = 1.0
RSS_TARGET_MB = 500.0
Messages = list[dict[str, Any]]


@contextmanager
def fake_server(tool_turns: int, delay: float = 0.0) -> Iterator[str]:
    """benchmarks/fake_openai_server.py in a subprocess (its own CPU time slice); yields its base URL."""
    script = Path(__file__).with_name("fake_openai_server.py")
    cmd = [sys.executable, str(script), "--tool-turns", str(tool_turns), "--delay", str(delay)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        if not url.startswith("http"):
            raise RuntimeError(f"fake server did not start (got {url!r})")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def make_env(tool_turns: int) -> CalculatorEnv:
    return CalculatorEnv(difficulty=1, budget=Budget(max_turns=tool_turns + 2))


def make_tasks(n: int, seed: int) -> list[Task]:
    return make_env(1).tasks.take(n, seed=seed)  # type: ignore[union-attr]


@dataclass
class Timing:
    wall: float
    cpu: float
    turns: int


async def bare_episode(policy: OpenAIPolicy, messages: Messages, tools: Messages) -> int:
    """The HTTP calls of one episode without an env: append each reply and a canned tool result."""
    turns = 0
    while True:
        generation = await policy.generate(messages, tools, Sampling())
        turns += 1
        calls = generation.message.get("tool_calls")
        if not calls:
            return turns
        results = [{"role": "tool", "tool_call_id": c["id"], "content": "3"} for c in calls]
        messages = [*messages, generation.message, *results]


async def time_bare(policy: OpenAIPolicy, tasks: list[Task], concurrency: int, tool_turns: int) -> Timing:
    env = make_env(tool_turns)
    queue: asyncio.Queue[tuple[Messages, Messages]] = asyncio.Queue()
    for task in tasks:  # the same first messages and tools the env sends
        messages, info = await env.areset(task=task)
        queue.put_nowait((messages, info["tools"]))
    counts: list[int] = []

    async def worker() -> None:
        while not queue.empty():
            counts.append(await bare_episode(policy, *queue.get_nowait()))

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Timing(time.perf_counter() - wall, time.process_time() - cpu, sum(counts))


async def time_runner(policy: Policy, tasks: list[Task], concurrency: int, tool_turns: int) -> Timing:
    runner = Runner(lambda: make_env(tool_turns), policy, concurrency=concurrency)
    wall, cpu = time.perf_counter(), time.process_time()
    await runner.arun(tasks)
    timing = Timing(time.perf_counter() - wall, time.process_time() - cpu, sum(len(e.turns) for e in runner.episodes))
    bad = [e for e in runner.episodes if e.error is not None or e.stop_reason is None or e.truncated]
    if bad:
        print(f"  warning: {len(bad)} episodes ended badly, e.g. {bad[0].stop_reason} {bad[0].error}")
    return timing


class InstantPolicy:
    """Replies like the fake server, in process and at no cost: what is left is the Runner's own overhead."""

    name = "instant"

    def __init__(self, tool_turns: int) -> None:
        fn = {"name": "add", "arguments": '{"a": 1, "b": 2}'}
        self.calls = [
            Generation(message={"role": "assistant", "content": None, "tool_calls": [{"id": f"c{n}", "function": fn}]})
            for n in range(tool_turns)
        ]
        self.answer = Generation(message={"role": "assistant", "content": str(tool_turns)})

    async def generate(self, messages: Messages, *args: Any, **kwargs: Any) -> Generation:
        done = sum(1 for m in messages if m.get("role") == "tool")
        return self.calls[done] if done < len(self.calls) else self.answer

    async def aclose(self) -> None:
        pass


async def throughput(url: str, concurrency: int, episodes: int, reps: int, tool_turns: int) -> dict[str, Timing]:
    policy = OpenAIPolicy("fake", base_url=url, api_key_env="TOOLGYM_BENCH_NO_KEY")
    await time_bare(policy, make_tasks(concurrency, seed=999), concurrency, tool_turns)  # open the connections
    runs: dict[str, list[Timing]] = {"bare": [], "runner": []}
    for rep in range(reps):  # alternate the two so drifting load on the machine hits both alike
        tasks = make_tasks(episodes, seed=rep)
        runs["bare"].append(await time_bare(policy, tasks, concurrency, tool_turns))
        runs["runner"].append(await time_runner(policy, tasks, concurrency, tool_turns))
    await policy.aclose()
    return {kind: min(timings, key=lambda t: t.wall) for kind, timings in runs.items()}  # best of reps


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def memory_child(url: str, episodes: int, tool_turns: int) -> dict[str, float]:
    """Run ``episodes`` episodes all at once; report peak RSS and the most generations in flight at once."""
    policy = OpenAIPolicy("fake", base_url=url, api_key_env="TOOLGYM_BENCH_NO_KEY", max_connections=episodes)
    inflight = peak = 0
    generate = policy.generate

    async def counting(*args: Any, **kwargs: Any) -> Generation:
        nonlocal inflight, peak
        inflight += 1
        peak = max(peak, inflight)
        try:
            return await generate(*args, **kwargs)
        finally:
            inflight -= 1

    policy.generate = counting  # type: ignore[method-assign]
    tasks = make_tasks(episodes, seed=0)
    before = peak_rss_mb()
    runner = Runner(lambda: make_env(tool_turns), policy, concurrency=episodes)
    start = time.perf_counter()
    await runner.arun(tasks)
    wall = time.perf_counter() - start
    await policy.aclose()
    ok = sum(1 for e in runner.episodes if e.error is None and e.stop_reason is not None and not e.truncated)
    return {"rss_before_mb": before, "peak_rss_mb": peak_rss_mb(), "peak_in_flight": peak, "wall": wall, "ok": ok}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--tool-turns", type=int, default=4, help="tool-call turns per episode (+1 answer turn)")
    parser.add_argument("--memory-child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--memory-episodes", type=int, default=1000)
    parser.add_argument("--memory-delay", type=float, default=1.5, help="server delay per reply in the memory run")
    args = parser.parse_args()
    k = args.tool_turns
    if args.memory_child:
        print(json.dumps(asyncio.run(memory_child(args.memory_child, args.memory_episodes, k))))
        return
    reps, waves = (1, {1: 100, 64: 2, 256: 1}) if args.quick else (3, {1: 200, 64: 8, 256: 4})

    print(f"measuring {Path(toolgym.__file__).parent}; {k + 1} turns an episode; best of {reps} alternating reps")
    print(f"{'conc':>5}{'episodes':>9}{'turns':>7}{'bare t/s':>10}{'runner t/s':>12}{'ratio':>7}{'wall ms/turn':>14}"
          f"{'cpu ms/turn':>13}")  # fmt: skip
    worst = 0.0
    cpu_turn: dict[int, tuple[float, float, int]] = {}  # concurrency -> bare, runner CPU ms/turn, episodes
    with fake_server(k) as url:
        for concurrency, wave in waves.items():
            res = asyncio.run(throughput(url, concurrency, concurrency * wave, reps, k))
            bare, run = res["bare"], res["runner"]
            wall_ms, cpu_ms = ((run.wall - bare.wall) / run.turns * 1e3, (run.cpu - bare.cpu) / run.turns * 1e3)
            worst = max(worst, wall_ms)
            cpu_turn[concurrency] = (bare.cpu / bare.turns * 1e3, run.cpu / run.turns * 1e3, concurrency * wave)
            bare_tps, run_tps = bare.turns / bare.wall, run.turns / run.wall
            print(f"{concurrency:>5}{concurrency * wave:>9}{run.turns:>7}{bare_tps:>10.0f}{run_tps:>12.0f}"
                  f"{run_tps / bare_tps:>7.2f}{wall_ms:>14.3f}{cpu_ms:>13.3f}")  # fmt: skip
    print("  (ms/turn = Runner overhead per turn beyond the bare HTTP call: (runner - bare) / turns)")
    start = time.process_time()  # CPU time: steadier than wall time on a shared machine
    for _ in range(50):
        make_env(k)
    env_ms = (time.process_time() - start) / 50 * 1e3
    for concurrency, (bare_cpu, run_cpu, episodes) in cpu_turn.items():
        amortized = env_ms * concurrency / (episodes * (k + 1))
        print(f"  conc {concurrency:>3}: client CPU/turn bare {bare_cpu:.3f} ms, runner {run_cpu:.3f} ms; of it env "
              f"construction ({env_ms:.2f} ms x {concurrency} workers): {amortized:.3f} ms/turn")  # fmt: skip

    print("Runner alone, in-process instant policy (no HTTP, no server):")
    for concurrency, wave in waves.items():
        t = asyncio.run(time_runner(InstantPolicy(k), make_tasks(concurrency * wave * 10, 7), concurrency, k))
        print(f"  conc {concurrency:>3}: {t.turns / t.wall:>7.0f} turns/s, {t.wall / t.turns * 1e3:.3f} ms wall, "
              f"{t.cpu / t.turns * 1e3:.3f} ms CPU per turn ({t.turns} turns)")  # fmt: skip

    n, delay = (200, 0.5) if args.quick else (args.memory_episodes, args.memory_delay)
    with fake_server(k, delay) as url:
        cmd = [sys.executable, __file__, "--memory-child", url, "--memory-episodes", str(n), "--tool-turns", str(k)]
        mem = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    per_episode_kb = (mem["peak_rss_mb"] - mem["rss_before_mb"]) / n * 1024
    print(f"memory: {n} episodes at concurrency {n}, server delay {delay} s/reply: {mem['ok']} ok, "
          f"{mem['peak_in_flight']} generations in flight at peak, wall {mem['wall']:.1f} s")  # fmt: skip
    print(f"  RSS before the run {mem['rss_before_mb']:.0f} MB, peak RSS {mem['peak_rss_mb']:.0f} MB "
          f"({per_episode_kb:.0f} KB per episode in flight)")  # fmt: skip
    print("\n--quick: small samples, the verdicts below are indicative only" if args.quick else "")
    print(f"{verdict(worst <= TURN_TARGET_MS)}  Runner overhead per turn (worst concurrency, wall): {worst:.3f} ms "
          f"(target <= {TURN_TARGET_MS:g} ms)")  # fmt: skip
    print(f"{verdict(mem['peak_rss_mb'] < RSS_TARGET_MB)}  peak RSS with {n} episodes in flight: "
          f"{mem['peak_rss_mb']:.0f} MB (target < {RSS_TARGET_MB:g} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
