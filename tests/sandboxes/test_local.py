"""LocalSandbox: what each mode isolates (and the limits it applies), as docs/sandboxes.md says."""

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from toolgym.sandboxes import LocalSandbox, SandboxLimits, SandboxUnavailable
from toolgym.sandboxes import local as local_module
from toolgym.sandboxes.local import bwrap_works

LIMITS = SandboxLimits(memory_mb=200, workdir_mb=4, tmp_mb=4)
needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot create namespaces here")


@needs_bwrap
async def test_bubblewrap_mode_isolates_network_files_and_processes(tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host only")
    os.chmod(tmp_path, 0o755)
    async with LocalSandbox(LIMITS, isolation="bwrap") as sb:
        assert sb.isolation == "bwrap" and sb.workdir == "/work"
        probe = (
            "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 80), timeout=2)\" 2>&1 | tail -1; "
            f"cat {secret} 2>&1; touch /usr/x 2>&1; ls /proc | grep -c '^[0-9]'; id -u; hostname"
        )
        lines = (await sb.exec(probe)).stdout.splitlines()
        assert "Network is unreachable" in lines[0]
        assert "No such file or directory" in lines[1]  # the host's files outside the system dirs are not there
        assert "Read-only file system" in lines[2]
        assert int(lines[3]) < 10  # its own PID namespace
        assert lines[4] == (str(os.geteuid()) if os.geteuid() else "65534") and lines[5] == "sandbox"
        fill = await sb.exec("head -c 50M /dev/zero > /tmp/big; du -k /tmp/big | cut -f1")
        assert "No space left on device" in fill.stderr and int(fill.stdout) <= 4096
        await sb.write_file("note.txt", "in the work dir")
        sb_host = sb.host_dir
        assert Path(sb_host, "note.txt").read_text() == "in the work dir"
    assert not os.path.exists(sb_host)


@pytest.mark.parametrize("isolation", ["none", pytest.param("bwrap", marks=needs_bwrap)])
async def test_rlimits_bound_memory_and_file_size(isolation):
    async with LocalSandbox(LIMITS, isolation=isolation) as sb:
        memory = await sb.exec("python3 -c 'x = bytearray(400 << 20); print(\"allocated\")'")
        assert "MemoryError" in memory.stderr and "allocated" not in memory.stdout
        big = await sb.exec("head -c 10M /dev/zero > big.bin; echo $?; du -k big.bin | cut -f1")
        status, kilobytes = big.stdout.split()
        assert status != "0" and int(kilobytes) <= LIMITS.workdir_mb * 1024


async def test_plain_mode_runs_in_a_temporary_directory_and_cleans_up_escaped_processes():
    sb = await LocalSandbox(isolation="none").start()
    assert sb.isolation == "none" and sb.workdir == sb.host_dir and os.path.isdir(sb.workdir)
    assert (await sb.exec("pwd")).stdout.strip() == sb.workdir
    await sb.exec("setsid sleep 300 > /dev/null 2>&1 < /dev/null & echo $! > pid; sleep 0.2")
    pid = int((await sb.read_file("pid")).decode())
    os.kill(pid, 0)  # it left the shell's session and outlived its command
    await sb.close()
    for _ in range(50):  # killed at close; it may take a moment to be scheduled and die
        stat = subprocess.run(["cat", f"/proc/{pid}/stat"], capture_output=True, text=True).stdout
        if stat == "" or stat.split()[2] == "Z":  # gone, or a zombie until its new parent reaps it
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"process {pid} outlived its sandbox")
    assert not os.path.exists(sb.host_dir)


async def test_bubblewrap_can_be_required(monkeypatch):
    # bubblewrap is installed here, so a machine without it is simulated by hiding it from the lookup
    real_which = local_module.shutil.which
    monkeypatch.setattr(local_module.shutil, "which", lambda name: None if name == "bwrap" else real_which(name))
    bwrap_works.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="bubblewrap"):
            await LocalSandbox(isolation="bwrap").start()
        async with LocalSandbox(isolation="auto") as sb:  # auto falls back to a plain subprocess
            assert sb.isolation == "none"
    finally:
        monkeypatch.undo()
        bwrap_works.cache_clear()


def test_bad_isolation_is_rejected():
    with pytest.raises(ValueError, match="isolation"):
        LocalSandbox(isolation="chroot")
