"""The persistent-shell protocol, on every backend: framing, stdin, deadlines, cancellation, a killed shell."""

import asyncio
import os
import time

import pytest

from tests.sandboxes.engine import IMAGE, require_docker
from toolgym.sandboxes import DockerSandbox, LocalSandbox, SandboxDied, SandboxError, SandboxFileError, SandboxLimits
from toolgym.sandboxes.local import bwrap_works
from toolgym.sandboxes.shell import _Capture

# a process counts as alive while it exists and is not a zombie waiting for its (new) parent to reap it
ALIVE = (
    "for p in $(cat {files}); do s=$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null); "
    '[ -n "$s" ] && [ $s != Z ] && echo alive; done; true'
)
LIMITS = SandboxLimits(memory_mb=256, pids=64, output_bytes=64_000)


@pytest.fixture(params=["local-none", "local-bwrap", "docker"])
async def sandbox(request):
    if request.param == "docker":
        require_docker()
        sb = DockerSandbox(IMAGE, LIMITS)
    elif request.param == "local-bwrap":
        if not bwrap_works():
            pytest.skip("bubblewrap cannot create namespaces here")
        sb = LocalSandbox(LIMITS, isolation="bwrap")
    else:
        sb = LocalSandbox(LIMITS, isolation="none")
    async with sb:
        yield sb


# ---- the framing, on its own -------------------------------------------------------------------


def _captured(stream: bytes, chunk: int, limit: int = 1_000_000) -> _Capture:
    capture = _Capture(b"tok", 7, limit, asyncio.Event())
    for i in range(0, len(stream), chunk):
        capture.feed(stream[i : i + chunk])
    return capture


def test_capture_finds_its_frame_however_the_bytes_are_split():
    body = b"line\n\x00\xff binary\ntok:6:end:0\n\ntok:7:en no marker yet\npartial tok:7:start:9"
    stream = b"noise from a background job tok:6:end:3\n" + b"tok:7:start:4242\n" + body + b"\ntok:7:end:17\nafter"
    for chunk in range(1, len(stream) + 1):
        capture = _captured(stream, chunk)
        assert (capture.pid, capture.status, bytes(capture.out)) == (4242, 17, body), chunk


def test_capture_keeps_at_most_its_limit_and_still_finds_the_end():
    capture = _captured(b"tok:7:start:1\n" + b"a" * 10_000 + b"\ntok:7:end:0\n", 333, limit=100)
    assert capture.status == 0 and bytes(capture.out) == b"a" * 100 and capture.dropped == 9_900


# ---- on every backend ---------------------------------------------------------------------------


async def test_output_streams_and_exit_codes(sandbox):
    result = await sandbox.exec("echo out; echo err >&2; printf 'no newline'; exit 3")
    assert (result.stdout, result.stderr, result.exit_code, result.timed_out) == ("out\nno newline", "err\n", 3, False)
    assert (await sandbox.exec("true")).ok
    syntax = await sandbox.exec("if then fi")
    assert syntax.exit_code == 2 and "syntax error" in syntax.stderr


async def test_binary_output_and_marker_lookalikes_do_not_confuse_the_host(sandbox):
    result = await sandbox.exec(r"printf '\x00\xff\xfe'; echo; printf '\n:1:end:0\n%s:5:start:1\n' \"$T\"")
    assert result.stdout.startswith("\x00\ufffd\ufffd\n") and ":1:end:0" in result.stdout and result.ok
    data = os.urandom(300_000)
    await sandbox.write_file("blob.bin", data)
    assert await sandbox.read_file("blob.bin") == data
    assert (await sandbox.exec("wc -c < blob.bin")).stdout.strip() == "300000"


async def test_commands_reading_stdin_get_end_of_file_or_the_given_bytes(sandbox):
    start = time.perf_counter()
    result = await sandbox.exec('cat; read -r x; echo "got [$x]"', timeout=10)
    assert result.stdout == "got []\n" and time.perf_counter() - start < 5
    given = await sandbox.exec("cat; echo; wc -c", stdin=b"line one\nx ")
    assert given.stdout == "line one\nx \n0\n"  # cat took all of it; nothing of the protocol leaks in
    assert (await sandbox.exec("python3 -c 'print(input()[::-1])'", stdin="olleh\n")).stdout == "hello\n"


async def test_deadline_kills_the_command_and_its_children_but_not_the_shell(sandbox):
    start = time.perf_counter()
    result = await sandbox.exec(
        "sleep 60 & echo $! > child.pid; (sleep 61 & echo $! > grandchild.pid; wait); echo no", 1
    )
    assert result.timed_out and not result.ok and result.stdout == ""
    assert time.perf_counter() - start < 5
    await asyncio.sleep(0.2)
    alive = await sandbox.exec(ALIVE.format(files="child.pid grandchild.pid"))
    assert alive.stdout == "" and alive.ok
    assert (await sandbox.exec("echo still here")).stdout == "still here\n"


async def test_a_cancelled_call_is_cleaned_up_before_the_next(sandbox):
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sandbox.exec("echo $BASHPID > job.pid; sleep 30"), 0.5)
    start = time.perf_counter()
    result = await sandbox.exec(ALIVE.format(files="job.pid") + "; echo next")
    assert result.stdout == "next\n" and time.perf_counter() - start < 4


async def test_a_command_that_kills_the_shell_gets_a_clear_result_and_a_new_shell(sandbox):
    await sandbox.write_file("keep.txt", "files survive")
    result = await sandbox.exec("p=$BASHPID; kill -9 $(cut -d' ' -f4 /proc/$p/stat)")  # the shell: its parent
    assert result.exit_code == -1 and "shell was killed" in result.stderr
    again = await sandbox.exec("cat keep.txt; pwd")
    assert again.stdout == f"files survive{sandbox.workdir}\n" and sandbox.shell_restarts == 1


async def test_working_directory_and_exported_variables_persist(sandbox):
    await sandbox.exec("mkdir -p a/b && cd a/b && export GREETING=hi && LOCAL=gone")
    result = await sandbox.exec('pwd; echo "$GREETING/$LOCAL"')
    assert result.stdout == f"{sandbox.workdir}/a/b\nhi/\n"
    await sandbox.write_file("a/b/note.txt", "relative to the work dir, not the shell's directory")
    assert (await sandbox.exec("cat note.txt")).stdout.startswith("relative")


async def test_output_beyond_the_cap_is_dropped_and_flagged(sandbox):
    result = await sandbox.exec("head -c 500000 /dev/zero | tr '\\0' a; echo tail >&2")
    assert len(result.stdout) == LIMITS.output_bytes and result.truncated and result.stderr == "tail\n"


async def test_concurrent_calls_run_one_at_a_time_and_get_their_own_output(sandbox):
    results = await asyncio.gather(*(sandbox.exec(f"echo {i}; sleep 0.0{i % 3}") for i in range(12)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(12)]


async def test_files(sandbox):
    await sandbox.write_file("deep/er/run.sh", "#!/bin/sh\necho ran\n", mode=0o755)
    assert (await sandbox.exec("./deep/er/run.sh")).stdout == "ran\n"
    await sandbox.write_file(f"{sandbox.workdir}/empty", b"")
    assert await sandbox.read_file("empty") == b""
    with pytest.raises(SandboxFileError, match="No such file"):
        await sandbox.read_file("missing.txt")
    with pytest.raises(SandboxFileError, match="directory"):
        await sandbox.read_file("deep")
    with pytest.raises(SandboxFileError, match="larger than 10 bytes"):
        await sandbox.read_file("deep/er/run.sh", max_bytes=10)
    with pytest.raises(SandboxFileError, match="invalid path"):
        await sandbox.write_file("bad\nname", "x")
    with pytest.raises(SandboxFileError, match="cannot write"):
        await sandbox.write_file("deep/er", "a directory is in the way")
    assert (await sandbox.exec("echo ok")).ok  # a failed write leaves the shell in step


async def test_bad_calls_and_closed_sandboxes(sandbox):
    with pytest.raises(ValueError, match="timeout"):
        await sandbox.exec("true", timeout=0)
    await sandbox.close()
    await sandbox.close()
    assert not sandbox.alive
    with pytest.raises(SandboxDied):
        await sandbox.exec("true")


async def test_an_unstarted_sandbox_says_so():
    with pytest.raises(SandboxError, match="not started"):
        await LocalSandbox().exec("true")


async def test_background_processes_end_with_their_command_unless_detached(sandbox):
    await sandbox.exec(
        "sleep 30 & echo $! > bg.pid; setsid sleep 31 > /dev/null 2>&1 < /dev/null & echo $! > away.pid; sleep 0.2"
    )
    await asyncio.sleep(0.1)
    assert (await sandbox.exec(ALIVE.format(files="bg.pid"))).stdout == ""
    assert (await sandbox.exec(ALIVE.format(files="away.pid"))).stdout == "alive\n"
