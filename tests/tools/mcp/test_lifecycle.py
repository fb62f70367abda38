"""Starting, deadlines, crashes, restarts and shutdown of stdio servers (the SDK-free test server)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.tools.mcp.helpers import ROOT, alive, misbehaving, wait_gone
from toolgym.tools.base import ToolError
from toolgym.tools.mcp import MCPServerError, MCPToolset, processes


def toolset(*flags: str, **options) -> MCPToolset:
    return MCPToolset({"mcpServers": {"srv": misbehaving(*flags, **options)}})


async def test_a_crash_mid_call_is_a_tool_error_and_the_server_comes_back():
    async with toolset() as tools:
        first = int((await tools.call("pid", {})).content)
        with pytest.raises(ToolError) as err:
            await tools.call("crash", {"code": 7})
        assert err.value.kind == "server_crashed"
        message = str(err.value)
        assert "exited with code 7" in message and "crashing on purpose" in message and "'crash'" in message
        assert not alive(first)
        second = int((await tools.call("pid", {})).content)  # restarted
        assert second != first
        connection = tools.connection("srv")
        assert (connection.starts, connection.crashes) == (2, 1)


async def test_a_server_dying_while_idle_is_restarted_before_the_next_call():
    async with toolset() as tools:
        connection = tools.connection("srv")
        pid = connection.pid
        os.kill(pid, signal.SIGKILL)
        for _ in range(200):
            if connection.starts == 2 and connection.pid not in (None, pid):
                break
            await asyncio.sleep(0.02)
        assert connection.starts == 2 and connection.crashes == 1
        assert (await tools.call("echo", {"text": "back"})).content == "back"


async def test_restarts_are_bounded_then_calls_fail_fast_until_the_next_episode():
    async with toolset(max_restarts=2) as tools:
        for _ in range(3):  # each crash is followed by a restart: failures 1, 2, 3
            with pytest.raises(ToolError, match="exited with code 1"):
                await tools.call("crash", {"code": 1})
        await asyncio.sleep(0.5)
        start = time.perf_counter()
        with pytest.raises(ToolError) as err:
            await tools.call("echo", {"text": "x"})
        assert err.value.kind == "server_unavailable" and "3 failures in a row" in str(err.value)
        assert time.perf_counter() - start < 0.1
        connection = tools.connection("srv")
        assert connection.starts == 3 and not connection.available
        await tools.on_episode_start()  # a new episode gets one more attempt
        assert (await tools.call("echo", {"text": "again"})).content == "again"
        assert connection.available and connection.starts == 4


async def test_a_server_that_exits_at_start_fails_with_its_stderr_after_bounded_retries():
    tools = toolset("--exit-on-start", max_restarts=1)
    start = time.perf_counter()
    with pytest.raises(MCPServerError) as err:
        await tools.list_tools()
    assert "2 failures in a row" in str(err.value) and "missing configuration" in str(err.value)
    assert time.perf_counter() - start < 10
    await tools.aclose()
    assert processes.tracked() == {}


async def test_a_server_that_never_answers_hits_the_startup_deadline():
    tools = toolset("--hang-on-start", startup_timeout=0.5, max_restarts=0)
    start = time.perf_counter()
    with pytest.raises(MCPServerError, match=r"not ready within 0\.5s"):
        await tools.list_tools()
    assert time.perf_counter() - start < 5
    await tools.aclose()
    assert processes.tracked() == {}


async def test_a_missing_command_fails_at_once_without_retries():
    tools = MCPToolset({"mcpServers": {"ghost": {"command": "toolgym-no-such-server", "max_restarts": 5}}})
    start = time.perf_counter()
    with pytest.raises(MCPServerError, match=r"'ghost': cannot start 'toolgym-no-such-server'.*not found"):
        await tools.list_tools()
    assert time.perf_counter() - start < 1
    await tools.aclose()


async def test_a_hanging_call_times_out_while_other_calls_go_on():
    async with toolset(timeout=0.3) as tools:
        hang = asyncio.create_task(tools.call("hang", {}))
        echoes = await asyncio.gather(*(tools.call("echo", {"text": str(i)}) for i in range(20)))
        assert [e.content for e in echoes] == [str(i) for i in range(20)]
        with pytest.raises(ToolError) as err:
            await hang
        assert err.value.kind == "timeout" and "0.3s" in str(err.value)
        assert (await tools.call("sleep", {"seconds": 0.01})).content == "slept"
        assert tools.connection("srv").starts == 1


async def test_results_errors_and_stray_stdout_lines():
    async with toolset("--junk-on-start") as tools:
        added = await tools.call("add", {"a": 2, "b": 3})
        assert added.content == "5" and added.structured == {"sum": 5}
        failed = await tools.call("fail", {})
        assert failed.is_error and failed.content == "it went wrong"
        assert (await tools.call("junk", {})).content == "after junk"  # the non-JSON line was skipped
        with pytest.raises(ToolError) as err:
            await tools.call("nope", {})
        assert err.value.kind == "unknown_tool"


async def test_close_stops_the_whole_process_group_even_if_the_server_ignores_eof():
    tools = toolset("--ignore-eof")
    server = int((await tools.call("pid", {})).content)
    child = int((await tools.call("spawn", {})).content)
    assert alive(server) and alive(child)
    start = time.perf_counter()
    await tools.aclose()
    assert time.perf_counter() - start < 6
    assert wait_gone([server, child], 2) == []
    assert processes.tracked() == {}


async def test_toolsets_of_one_config_share_a_connection_until_the_last_closes():
    config = {"mcpServers": {"srv": misbehaving()}}
    a, b = MCPToolset(config), MCPToolset(config)
    pid_a = int((await a.call("pid", {})).content)
    assert int((await b.call("pid", {})).content) == pid_a
    assert a.connection("srv") is b.connection("srv")
    await a.aclose()
    assert alive(pid_a) and (await b.call("echo", {"text": "still"})).content == "still"
    await b.aclose()
    assert wait_gone([pid_a], 3) == []
    c = MCPToolset(config, share=False)
    assert int((await c.call("pid", {})).content) != pid_a
    await c.aclose()


CTRL_C_SCRIPT = """
import asyncio, json, sys
from toolgym.tools.mcp import MCPToolset
config = {"mcpServers": {"srv": {"command": sys.executable, "args": [sys.argv[2]]}}}

async def pids(call):
    return [int((await call("pid", {})).content), int((await call("spawn", {})).content)]

if sys.argv[1] == "async":
    async def main():
        tools = MCPToolset(config)
        print(json.dumps(await pids(tools.call)), flush=True)
        await tools.call("hang", {})
    asyncio.run(main())
else:  # the Gymnasium facade: sync env.step on the env's private loop
    from toolgym.envs.tool_env import ToolEnv
    from toolgym.types import Budget, Message, Task
    task = Task(id="t", prompt=[Message(role="user", content="hi")])
    env = ToolEnv(MCPToolset(config), tasks=[task], budget=Budget(max_turns=9, tool_timeout=600))
    env.reset()
    found = []
    for name in ("pid", "spawn", "hang"):
        call = {"id": name, "type": "function", "function": {"name": name, "arguments": "{}"}}
        obs, *_ = env.step({"role": "assistant", "content": None, "tool_calls": [call]})
        found.append(int(obs[-1]["content"]))
        if len(found) == 2:
            print(json.dumps(found), flush=True)
"""


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_ctrl_c_leaves_no_server_or_child_process(mode):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = [sys.executable, "-c", CTRL_C_SCRIPT, mode, str(misbehaving()["args"][0])]
    proc = subprocess.Popen(script, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        server, child = json.loads(line)
        assert alive(server) and alive(child)
        time.sleep(0.2)  # the hanging call is in flight
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
        assert "KeyboardInterrupt" in proc.stderr.read()
        assert wait_gone([server, child], 5) == []
    finally:
        proc.kill()


def test_a_toolset_used_from_two_event_loops_reconnects_and_leaves_nothing_behind():
    tools = toolset()

    async def pid() -> int:
        return int((await tools.call("pid", {})).content)

    first = asyncio.run(pid())  # the loop ends without closing the toolset
    second = asyncio.run(pid())
    assert first != second and wait_gone([first], 3) == []
    asyncio.run(tools.aclose())  # closing on a third loop kills what the second left
    assert wait_gone([second], 3) == []
    assert processes.tracked() == {}


async def test_toolsets_sharing_a_server_keep_their_own_deadlines():
    patient = toolset(timeout=30)
    hasty = toolset(timeout=0.3)
    try:
        await patient.start()
        await hasty.start()
        assert hasty.connection("srv") is patient.connection("srv")  # one process for both
        with pytest.raises(ToolError) as err:
            await hasty.call("sleep", {"seconds": 3})
        assert err.value.kind == "timeout"
        assert (await patient.call("sleep", {"seconds": 0.5})).content == "slept"
    finally:
        await hasty.aclose()
        await patient.aclose()
