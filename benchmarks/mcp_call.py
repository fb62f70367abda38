"""MCP tool-call latency: one call through ``env.astep`` (ToolEnv + MCPToolset) against a raw ``mcp`` SDK
``Client.call_tool`` to the same server, in the same run, over in-memory, stdio and streamable-HTTP transports.

    python benchmarks/mcp_call.py            # full run (~1 min)
    python benchmarks/mcp_call.py --quick    # smoke run (~15 s)

The server is one MCPServer with an ``add(a, b)`` tool: the object itself (in-memory), this script run as
a child process (stdio), and the same under uvicorn on 127.0.0.1 (HTTP). Raw calls, ``MCPToolset.call``s
and ``env.astep``s alternate in blocks of 10, so all three see the same load from other processes; the
10th percentile of each (the typical cost of an undisturbed call) is compared, and medians are printed
too. Episodes are reset between blocks, outside the timings. Target: an env step costs <= 1.2x the raw
call.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "toolgym").is_dir():  # measure this checkout, whichever toolgym happens to be installed
    sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.2
BLOCK = 10
ACTION: dict[str, Any] = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}],
}


def bench_server() -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_http_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-http", str(port)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the benchmark HTTP server did not start")


Samples = dict[str, list[float]]


async def compare(raw_target: Any, config: dict[str, Any], n: int) -> Samples:
    """``n`` calls each of the raw SDK, MCPToolset.call and env.astep, in alternating blocks of BLOCK calls
    (so all three see the same machine load, and each call finds its server as recently busy as the
    others do); the seconds each single call took."""
    from mcp import Client

    from toolgym.envs.tool_env import ToolEnv
    from toolgym.tools.mcp import MCPToolset
    from toolgym.types import Budget, Message, Task

    task = Task(id="bench", prompt=[Message(role="user", content="1 + 2?")])
    env = ToolEnv(MCPToolset({"mcpServers": {"bench": config}}), tasks=[task], budget=Budget(max_turns=None))
    out: Samples = {"raw": [], "toolset": [], "env": []}
    clock = time.perf_counter

    async with Client(raw_target) as client:

        async def raw() -> None:
            await client.call_tool("add", {"a": 1, "b": 2})

        async def toolset() -> None:
            await env.toolset.call("add", {"a": 1, "b": 2})

        async def step() -> None:
            observation, *_ = await env.astep(ACTION)
            assert observation[-1]["content"] == "3", observation[-1]

        await client.list_tools()
        blocks = n // BLOCK
        for block in range(blocks + blocks // 10):
            await env.areset(task=task)  # untimed: keeps the conversation short, as in real episodes
            gc.collect()
            for name, call in (("raw", raw), ("toolset", toolset), ("env", step)):
                for _ in range(BLOCK):
                    start = clock()
                    await call()
                    if block >= blocks // 10:  # the first tenth warms every path
                        out[name].append(clock() - start)
    await env.aclose()
    return out


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def run(quick: bool) -> list[tuple[str, Samples]]:
    from mcp.client.stdio import StdioServerParameters

    n = 300 if quick else 2000
    server = bench_server()
    results = [("in-memory", await compare(server, {"server": server}, n))]
    stdio = {"command": sys.executable, "args": [__file__, "--serve-stdio"]}
    raw_stdio = StdioServerParameters(command=stdio["command"], args=stdio["args"])
    results.append(("stdio", await compare(raw_stdio, stdio, n)))
    proc, url = start_http_server()
    try:
        results.append(("streamable HTTP", await compare(url, {"url": url}, n // 2)))
    finally:
        proc.terminate()
        proc.wait(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--serve-stdio", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-http", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stdio:
        bench_server().run("stdio")
        return
    if args.serve_http is not None:
        bench_server().run("streamable-http", host="127.0.0.1", port=args.serve_http, json_response=True)
        return

    import toolgym

    results = asyncio.run(run(args.quick))
    print(f"measuring {Path(toolgym.__file__).parent}")
    print("one add(1, 2) tool call to the same server: raw mcp Client.call_tool, MCPToolset.call, ToolEnv.astep")
    print("p10 = 10th percentile (undisturbed calls), med = median; microseconds; ratio = env p10 / raw p10")
    print(
        f"{'transport':<17}{'calls':>6}{'raw p10':>9}{'raw med':>9}{'toolset p10':>12}{'env p10':>9}{'env med':>9}"
        f"{'ratio':>7}  verdict"
    )
    verdicts = []
    for name, samples in results:
        raw, toolset, env = ([x * 1e6 for x in samples[k]] for k in ("raw", "toolset", "env"))
        ratio = percentile(env, 0.1) / percentile(raw, 0.1)
        verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
        verdicts.append(verdict)
        print(
            f"{name:<17}{len(raw):>6}{percentile(raw, 0.1):>9.0f}{statistics.median(raw):>9.0f}"
            f"{percentile(toolset, 0.1):>12.0f}{percentile(env, 0.1):>9.0f}{statistics.median(env):>9.0f}"
            f"{ratio:>7.2f}  {verdict}"
        )
    quick = " (--quick: indicative only)" if args.quick else ""
    print(f"target: env step <= {TARGET_RATIO}x the raw SDK call{quick}")
    print("PASS" if all(v == "PASS" for v in verdicts) else "MISS")


if __name__ == "__main__":
    main()
