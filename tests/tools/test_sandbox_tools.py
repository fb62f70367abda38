"""SandboxToolset: the four tools on real sandboxes, their output for the model, errors, and use in a ToolEnv."""

import json

import pytest

from tests.sandboxes.engine import IMAGE, require_docker
from toolgym.envs.tool_env import ToolEnv
from toolgym.sandboxes import DockerSandbox, LocalSandbox
from toolgym.tools import ToolArgumentsError, ToolError
from toolgym.tools.sandbox import SandboxToolset, clip
from toolgym.types import Message, Task


@pytest.fixture
async def tools():
    async with LocalSandbox(isolation="none") as sandbox:
        yield SandboxToolset(sandbox, timeout=5, max_timeout=10, max_output=2000)


async def test_the_tools_and_their_schemas(tools):
    specs = {s.name: s for s in await tools.list_tools()}
    assert list(specs) == ["bash", "python", "read_file", "write_file"]
    assert specs["bash"].parameters["required"] == ["command"]
    assert set(specs["bash"].parameters["properties"]) == {"command", "timeout"}
    assert specs["write_file"].parameters["required"] == ["path", "content"]
    assert "working directory" in specs["bash"].description and "persist" in specs["bash"].description
    only = SandboxToolset(tools=["python"])
    assert [s.name for s in await only.list_tools()] == ["python"]
    with pytest.raises(ValueError, match="unknown sandbox tools"):
        SandboxToolset(tools=["rm"])


async def test_bash_output_as_the_model_sees_it(tools):
    out = await tools.call("bash", {"command": "echo hello; echo warn >&2; exit 4"})
    assert out.content == "hello\n[stderr]\nwarn\n[exit code 4]" and not out.is_error
    assert (await tools.call("bash", {"command": "true"})).content == "[no output]"
    slow = await tools.call("bash", {"command": "echo started; sleep 30", "timeout": 0.5})
    assert slow.is_error and "[timed out after 0.5s; the command was killed]" in slow.content
    assert "started" in slow.content or slow.content.startswith("[timed out")
    long = await tools.call("bash", {"command": "seq 1 5000"})
    assert (
        long.content.startswith("1\n2\n") and long.content.endswith("4999\n5000") and "characters cut" in long.content
    )
    with pytest.raises(ToolError, match="positive"):
        await tools.call("bash", {"command": "true", "timeout": -1})
    with pytest.raises(ToolArgumentsError, match="command"):
        await tools.call("bash", {})


async def test_the_timeout_a_model_asks_for_is_capped(tools):
    capped = SandboxToolset(tools.sandbox, timeout=0.2, max_timeout=1)
    out = await capped.call("bash", {"command": "sleep 60", "timeout": 1e9})
    assert out.is_error and "timed out after 1.0s" in out.content


async def test_python_runs_a_fresh_interpreter(tools):
    out = await tools.call("python", {"code": "import sys\nx = 6 * 7\nprint(x, sys.version_info.major)"})
    assert out.content == "42 3"
    failed = await tools.call("python", {"code": "print(x)"})
    assert "NameError" in failed.content and "[exit code 1]" in failed.content


async def test_files(tools):
    wrote = await tools.call("write_file", {"path": "pkg/mod.py", "content": "VALUE = 'é'\n"})
    assert wrote.content == "wrote 13 bytes to pkg/mod.py"
    assert (await tools.call("read_file", {"path": "pkg/mod.py"})).content == "VALUE = 'é'\n"
    assert (
        await tools.call("bash", {"command": "(cd pkg && python3 -c 'import mod; print(mod.VALUE)')"})
    ).content == "é"
    with pytest.raises(ToolError, match="No such file") as missing:
        await tools.call("read_file", {"path": "nope.txt"})
    assert missing.value.kind == "file_error"
    await tools.call("bash", {"command": "printf '\\x00\\xff' > blob"})
    binary = await tools.call("read_file", {"path": "blob"})
    assert binary.is_error and "binary file (2 bytes)" in binary.content
    await tools.call("write_file", {"path": "empty.txt", "content": ""})
    assert (await tools.call("read_file", {"path": "empty.txt"})).content == "[empty file]"


async def test_without_a_sandbox_calls_fail_clearly():
    tools = SandboxToolset()
    with pytest.raises(ToolError, match="no sandbox is available") as exc:
        await tools.call("bash", {"command": "true"})
    assert exc.value.kind == "sandbox_unavailable"
    sandbox = await LocalSandbox(isolation="none").start()
    tools.attach(sandbox)
    assert (await tools.call("bash", {"command": "echo up"})).content == "up"
    await sandbox.close()
    with pytest.raises(ToolError, match="no sandbox is available"):
        await tools.call("bash", {"command": "true"})


async def test_close_sandbox_closes_what_the_toolset_owns():
    sandbox = await LocalSandbox(isolation="none").start()
    await SandboxToolset(sandbox).aclose()
    assert sandbox.alive
    await SandboxToolset(sandbox, close_sandbox=True).aclose()
    assert not sandbox.alive


def test_clip_keeps_both_ends():
    assert clip("short", 10) == "short"
    clipped = clip("a" * 50 + "b" * 50, 30)
    assert clipped.startswith("a" * 20) and clipped.endswith("b" * 10) and "70 characters cut" in clipped


async def test_in_a_tool_env_on_docker():
    require_docker()
    sandbox = await DockerSandbox(IMAGE).start()
    env = ToolEnv(SandboxToolset(sandbox, close_sandbox=True), budget=None)
    task = Task(id="t", prompt=[Message(role="user", content="make a file")])
    await env.areset(task=task)
    call = {"name": "write_file", "arguments": {"path": "a.txt", "content": "hi"}}
    obs, *_ = await env.astep(f"<tool_call>{json.dumps(call)}</tool_call>")
    assert obs[-1]["content"] == "wrote 2 bytes to a.txt"
    args = json.dumps({"command": "cat a.txt; id -u"})
    action = {
        "role": "assistant",
        "tool_calls": [{"id": "1", "type": "function", "function": {"name": "bash", "arguments": args}}],
    }
    obs, *_ = await env.astep(action)
    assert obs[-1]["content"] == "hi65534"
    await env.aclose()
    assert not sandbox.alive
