"""Hostile commands on the real engine: each is contained, the shell, the host and a neighbour sandbox carry on,
and the caller gets a clear result. Limits are low and deadlines short to keep this fast.
(Tampering with hidden tests and rewards is covered in tests/envs/test_code_env.py.)"""

import asyncio
import ipaddress
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.sandboxes.engine import import_docker
from toolgym.sandboxes import DockerSandbox, SandboxLimits

docker = import_docker()

LIMITS = SandboxLimits(memory_mb=128, cpus=0.5, pids=48, workdir_mb=16, tmp_mb=8)


@pytest.fixture
async def pair(docker_image):
    """An attacker sandbox and a neighbour that must not notice anything."""
    attacker, neighbour = await asyncio.gather(
        DockerSandbox(docker_image, LIMITS).start(), DockerSandbox(docker_image, LIMITS).start()
    )
    try:
        yield attacker, neighbour
    finally:
        await asyncio.gather(attacker.close(), neighbour.close())


async def neighbour_latency(neighbour: DockerSandbox, seconds: float) -> float:
    """The slowest ``echo`` of the neighbour while the attack runs."""
    worst = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        assert (await neighbour.exec("echo ok", timeout=5)).stdout == "ok\n"
        worst = max(worst, time.perf_counter() - start)
        await asyncio.sleep(0.05)
    return worst


async def test_fork_bomb(pair):
    attacker, neighbour = pair
    bomb = attacker.exec("bomb() { bomb | bomb; }; bomb", timeout=3)  # grows until the deadline
    result, worst = await asyncio.gather(bomb, neighbour_latency(neighbour, 2.5))
    assert result.timed_out and result.exit_code == 137
    assert worst < 2.0
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still fork
    after = await attacker.exec("ls /proc | grep -c '^[0-9]'")
    assert after.ok and int(after.stdout) < 10  # the bomb is gone; the shell answers


async def test_backgrounded_fork_bomb_dies_with_its_command(pair):
    attacker, neighbour = pair
    result = await attacker.exec(":(){ :|:& };:", timeout=5)  # the classic: returns at once, forks on
    assert result.exit_code == 0 and not result.timed_out
    start = time.perf_counter()
    after = await attacker.exec("ls /proc | grep -c '^[0-9]'", timeout=5)
    assert after.ok and int(after.stdout) < 10 and time.perf_counter() - start < 2
    assert (await neighbour.exec("echo ok")).stdout == "ok\n"


async def test_memory_bomb(pair):
    attacker, neighbour = pair
    hog = "import sys; blocks = []\nwhile True: blocks.append(bytearray(16 << 20)); print(len(blocks), flush=True)"
    result, worst = await asyncio.gather(
        attacker.exec("python3 -", stdin=hog, timeout=20), neighbour_latency(neighbour, 1.0)
    )
    assert result.exit_code == 137 and not result.timed_out  # killed by the kernel at the memory limit
    assert int(result.stdout.split()[-1]) * 16 <= LIMITS.memory_mb  # never held more than the limit
    assert worst < 2.0
    # the kernel's own account: the sandbox's memory never went past its limit (cgroup v1), or it was OOM-killed (v2)
    peak = await attacker.exec(
        "cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes 2>/dev/null || grep oom_kill /sys/fs/cgroup/memory.events"
    )
    if peak.stdout.split()[0].isdigit():
        assert int(peak.stdout) <= LIMITS.memory_mb << 20
    else:
        assert int(peak.stdout.split()[-1]) >= 1
    assert (await attacker.exec("echo survived")).stdout == "survived\n"


async def test_disk_fill(pair):
    attacker, neighbour = pair
    result = await attacker.exec("head -c 100M /dev/zero > big; echo $?; head -c 100M /dev/zero > /tmp/big", timeout=10)
    assert "No space left on device" in result.stderr and result.exit_code != 0
    sizes = await attacker.exec("du -sk big /tmp/big | cut -f1")
    work_kb, tmp_kb = map(int, sizes.stdout.split())
    assert work_kb <= LIMITS.workdir_mb * 1024 and tmp_kb <= LIMITS.tmp_mb * 1024
    assert (await attacker.exec("rm big /tmp/big && echo freed")).stdout == "freed\n"
    await attacker.write_file("after.txt", "room again")
    assert (await neighbour.exec("df -k /work | tail -1 | tr -s ' ' | cut -d' ' -f3")).stdout.strip() == "0"


async def test_infinite_loop(pair):
    attacker, neighbour = pair
    start = time.perf_counter()
    spin = attacker.exec("python3 -c 'while True: pass' & while :; do :; done", timeout=1.5)
    result, worst = await asyncio.gather(spin, neighbour_latency(neighbour, 1.2))
    assert result.timed_out and time.perf_counter() - start < 5
    assert worst < 2.0
    busy = await attacker.exec("grep -l 'pytho[n]3' /proc/[0-9]*/cmdline 2>/dev/null | wc -l")
    assert busy.stdout.strip() == "0"  # the background spinner died with the command


@pytest.fixture
def host_listener():
    """A TCP server on the host on every interface; records whether anything connected."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.2)
    hits: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, addr = server.accept()
            except OSError:
                continue
            hits.append(addr)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


async def test_network_egress(pair, host_listener):
    attacker, _ = pair
    port, hits = host_listener
    bridge = docker.from_env().networks.get("bridge").attrs["IPAM"]["Config"][0]
    gateway = bridge.get("Gateway") or str(next(ipaddress.ip_network(bridge["Subnet"]).hosts()))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("192.0.2.1", 9))  # picks the host's outgoing address; UDP connect sends nothing
        host_ip = udp.getsockname()[0]
    probe = (
        "import socket, sys\n"
        "for host in sys.argv[1:]:\n"
        "    try:\n"
        f"        socket.create_connection((host, {port}), timeout=2); print(host, 'connected')\n"
        "    except OSError as e:\n"
        "        print(host, type(e).__name__, e.errno)\n"
        "try:\n"
        "    socket.getaddrinfo('example.com', 80); print('dns resolved')\n"
        "except OSError as e:\n"
        "    print('dns', type(e).__name__)\n"
    )
    await attacker.write_file("probe.py", probe)
    result = await attacker.exec(f"python3 probe.py {gateway} {host_ip} 127.0.0.1 1.1.1.1", timeout=15)
    assert "connected" not in result.stdout and "dns resolved" not in result.stdout, result.stdout
    assert f"{gateway} OSError 101" in result.stdout  # network unreachable: not one packet leaves
    assert f"{host_ip} OSError 101" in result.stdout and "1.1.1.1 OSError 101" in result.stdout
    assert "127.0.0.1 ConnectionRefusedError" in result.stdout  # the sandbox's own loopback, not the host's
    assert hits == []


async def test_writing_outside_the_work_dir(pair):
    attacker, neighbour = pair
    attempts = ["/etc/passwd", "/usr/bin/python3", "/x", "/root/x", "/var/tmp/x", "/proc/sys/kernel/hostname"]
    result = await attacker.exec("; ".join(f"echo pwned >> {p} 2>/dev/null && echo wrote {p}" for p in attempts))
    assert "wrote" not in result.stdout
    for path in ("/etc/passwd", "/usr/bin/x"):
        with pytest.raises(Exception, match=r"Read-only file system|Permission denied"):
            await attacker.write_file(path, "pwned")
    escalate = await attacker.exec("su -c id 2>&1 </dev/null; python3 -c 'import os; os.setuid(0)' 2>&1 | tail -1")
    assert "uid=0" not in escalate.stdout and "PermissionError" in escalate.stdout
    assert (await neighbour.exec("grep -c pwned /etc/passwd")).stdout.strip() == "0"
    assert "pwned" not in Path("/etc/passwd").read_text()


async def test_a_forged_process_group_is_not_killed(pair):
    # The PID the host kills at a deadline is reported from inside the sandbox; a command can forge it.
    # Only children of the driver shell may be killed: not the control shell (that would kill the
    # container and void the episode's score), not a process that left the command's group.
    attacker, _ = pair
    escaped = await attacker.exec("setsid sleep 300 > /dev/null 2>&1 & sleep 0.5; echo $!", timeout=5)
    escaped_pid = int(escaped.stdout)
    session = attacker._session
    assert session is not None and session.pid
    for target in (escaped_pid, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10):
        await attacker._kill_group(target, session.pid)
    alive = await attacker.exec(f"kill -0 {escaped_pid} && echo alive", timeout=5)
    assert alive.stdout == "alive\n"
    assert attacker.alive and (await attacker.exec("echo still here", timeout=5)).stdout == "still here\n"


async def test_a_local_sandbox_kills_only_its_own_commands(tmp_path):
    from toolgym.sandboxes import LocalSandbox

    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        async with LocalSandbox(isolation="none") as sandbox:
            session = sandbox._session
            assert session is not None and session.pid
            await sandbox._kill_group(bystander.pid, session.pid)
            assert bystander.poll() is None, "a host process outside the sandbox was killed"
            result = await sandbox.exec("sleep 30", timeout=0.5)
            assert result.timed_out  # its own commands still die at the deadline
    finally:
        bystander.kill()
        bystander.wait()
