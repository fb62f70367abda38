"""Docker sandbox speed: persistent shell against exec_run, warm pool against cold start, 50 at once.

    python benchmarks/sandbox.py            # full run (~30 s)
    python benchmarks/sandbox.py --quick    # smoke run (~15 s)

Needs a Docker engine and the image (``toolgym sandbox build-image``; ``--image`` for another one).

1. Command latency on one container: ``true`` through the sandbox's persistent shell
   (``DockerSandbox.exec``) against the docker SDK's ``container.exec_run`` (a new process per command).
2. Getting a sandbox: ``SandboxPool.acquire`` with a warm sandbox ready, against starting one
   (``DockerSandbox().start()``, what every episode would pay without the pool).
3. Many at once: ``--many`` sandboxes (default 50) started concurrently on this machine; wall time,
   per-sandbox start times, memory (the host's MemAvailable drop, and the containers' own cgroup
   usage where readable), then every one runs a command and must answer correctly.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "toolgym").is_dir():  # measure this checkout, whichever toolgym happens to be installed
    sys.path.insert(0, str(ROOT))

from toolgym.sandboxes import DEFAULT_IMAGE, DockerSandbox, SandboxLimits, SandboxPool, docker_api  # noqa: E402

SHELL_TARGET_MS = 2.0
ACQUIRE_TARGET_MS = 20.0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def verdict(ok: bool, text: str) -> None:
    print(f"{'PASS' if ok else 'MISS'}  {text}")


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def cgroup_memory(container_id: str) -> int | None:
    for path in (
        f"/sys/fs/cgroup/memory/docker/{container_id}/memory.usage_in_bytes",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/memory.current",
    ):
        try:
            return int(Path(path).read_text())
        except OSError:
            continue
    return None


async def shell_vs_exec_run(image: str, n_shell: int, n_exec: int) -> float:
    print(f"\n1. command latency on one container ({n_shell} x shell, {n_exec} x exec_run, command `true`)")
    sandbox = await DockerSandbox(image).start()
    try:
        for _ in range(20):
            await sandbox.exec("true")
        shell = []
        for _ in range(n_shell):
            start = time.perf_counter()
            result = await sandbox.exec("true")
            shell.append(time.perf_counter() - start)
            assert result.exit_code == 0
        container = docker_api.docker_sdk().from_env().containers.get(sandbox.container_id)

        def exec_runs() -> list[float]:
            times = []
            for _ in range(n_exec):
                start = time.perf_counter()
                code, _ = container.exec_run(["true"], user=sandbox.user)
                times.append(time.perf_counter() - start)
                assert code == 0
            return times

        exec_run = await asyncio.to_thread(exec_runs)
    finally:
        await sandbox.close()
    shell_median, exec_median = statistics.median(shell), statistics.median(exec_run)
    p90 = statistics.quantiles(shell, n=10)[-1]
    print(f"   persistent shell  median {ms(shell_median)}   p90 {ms(p90)}")
    print(f"   exec_run          median {ms(exec_median)}")
    print(f"   shell is {exec_median / shell_median:.0f}x faster")
    verdict(shell_median * 1000 <= SHELL_TARGET_MS, f"shell command median {shell_median * 1000:.2f} ms <= 2 ms")
    return shell_median


async def warm_vs_cold(image: str, n_warm: int, n_cold: int) -> float:
    print(f"\n2. getting a sandbox ({n_warm} x warm pool acquire, {n_cold} x cold start)")
    pool = SandboxPool(lambda: DockerSandbox(image).start(), size=2)
    warm, first = [], []
    try:
        await pool.start(wait=True)
        for _ in range(n_warm):
            while pool.ready < 1:  # the refill is not what is measured
                await asyncio.sleep(0.02)
            start = time.perf_counter()
            sandbox = await pool.acquire()
            warm.append(time.perf_counter() - start)
            assert (await sandbox.exec("echo ok")).stdout == "ok\n"
            first.append(time.perf_counter() - start)
            await pool.release(sandbox)
    finally:
        await pool.aclose()
    cold = []
    for _ in range(n_cold):
        start = time.perf_counter()
        sandbox = await DockerSandbox(image).start()
        cold.append(time.perf_counter() - start)
        await sandbox.close()
    warm_median, cold_median = statistics.median(warm), statistics.median(cold)
    print(f"   warm pool acquire median {ms(warm_median)}   max {ms(max(warm))}")
    print(f"   acquire + 1st cmd median {ms(statistics.median(first))}   max {ms(max(first))}")
    print(f"   cold start        median {ms(cold_median)}   max {ms(max(cold))}")
    print(f"   warm is {cold_median / warm_median:.0f}x faster")
    verdict(warm_median * 1000 <= ACQUIRE_TARGET_MS, f"warm acquire median {warm_median * 1000:.3f} ms <= 20 ms")
    return warm_median


async def many_at_once(image: str, count: int) -> bool:
    print(f"\n3. {count} sandboxes at once (128 MB memory limit each)")
    limits = SandboxLimits(memory_mb=128, pids=64)
    before = mem_available()
    starts: list[float] = []

    async def start_one() -> DockerSandbox:
        begin = time.perf_counter()
        sandbox = await DockerSandbox(image, limits, start_timeout=300).start()
        starts.append(time.perf_counter() - begin)
        return sandbox

    begin = time.perf_counter()
    results = await asyncio.gather(*(start_one() for _ in range(count)), return_exceptions=True)
    wall = time.perf_counter() - begin
    sandboxes = [r for r in results if isinstance(r, DockerSandbox)]
    failures = [r for r in results if not isinstance(r, DockerSandbox)]
    try:
        await asyncio.sleep(1.0)  # let memory settle
        used = before - mem_available()
        own = [cgroup_memory(s.container_id or "") for s in sandboxes]
        print(f"   started {len(sandboxes)}/{count} in {wall:.2f} s wall")
        if starts:
            print(f"   start time per sandbox: median {statistics.median(starts):.2f} s, max {max(starts):.2f} s")
        for failure in failures[:3]:
            print(f"   failed: {failure}")
        print(f"   host memory in use (MemAvailable drop): {used / 2**20:.0f} MB, {used / 2**20 / count:.1f} MB each")
        if all(o is not None for o in own) and own:
            total = sum(o for o in own if o is not None)
            print(
                f"   the containers' own memory (cgroups): {total / 2**20:.0f} MB, {total / 2**20 / count:.1f} MB each"
            )
        begin = time.perf_counter()
        answers = await asyncio.gather(*(s.exec(f"echo $(( {i} * {i} ))") for i, s in enumerate(sandboxes)))
        answered = sum(a.stdout.strip() == str(i * i) for i, a in enumerate(answers))
        print(f"   {answered}/{count} answered a command correctly, all within {time.perf_counter() - begin:.2f} s")
    finally:
        begin = time.perf_counter()
        await asyncio.gather(*(s.close() for s in sandboxes), return_exceptions=True)
        print(f"   closed all in {time.perf_counter() - begin:.2f} s")
    ok = answered == count and not failures
    verdict(ok, f"{count} sandboxes running at once, {answered} answered")
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--image", default=DEFAULT_IMAGE)
    parser.add_argument("--many", type=int, default=50, help="sandboxes started at once in part 3")
    args = parser.parse_args()
    if not await docker_api.engine_reachable():
        print("no Docker engine reachable: start dockerd first")
        return 2
    if not await docker_api.image_exists(args.image):
        print(f"image {args.image} is missing: run `toolgym sandbox build-image`")
        return 2
    quick = args.quick
    await shell_vs_exec_run(args.image, 100 if quick else 500, 10 if quick else 40)
    await warm_vs_cold(args.image, 5 if quick else 20, 3 if quick else 8)
    await many_at_once(args.image, args.many)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
