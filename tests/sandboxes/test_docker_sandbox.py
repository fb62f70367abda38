"""DockerSandbox on the real engine: safe defaults, labels, teardown, failures, crash cleanup, prune."""

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sandboxes.engine import import_docker
from toolgym.sandboxes import DockerSandbox, SandboxLimits, SandboxUnavailable
from toolgym.sandboxes.docker_api import LABEL, OWNER_LABEL, owner
from toolgym.sandboxes.prune import list_sandboxes, prune

docker = import_docker()

ROOT = Path(__file__).resolve().parents[2]


def container_exists(container_id: str) -> bool:
    try:
        docker.from_env().containers.get(container_id)
    except docker.errors.NotFound:
        return False
    return True


async def test_defaults_are_locked_down(docker_image):
    limits = SandboxLimits(memory_mb=200, cpus=0.5, pids=50, workdir_mb=8, tmp_mb=4)
    async with DockerSandbox(docker_image, limits) as sb:
        script = (
            "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status | tr -s '\\t' ' '; "
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; "
            "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; "
            "df -k /work /tmp | tail -2 | tr -s ' ' | cut -d' ' -f2; touch /usr/x 2>&1; echo hi > /work/ok && cat ok; "
            "tr '\\0\\n' '  ' < /proc/1/cmdline | cut -c1-20"
        )
        result = await sb.exec(script)
        lines = result.stdout.splitlines()
        assert lines[0] == "65534"  # nobody
        assert lines[1:3] == ["CapEff: 0000000000000000", "NoNewPrivs: 1"]
        assert lines[3:5] == [str(200 * 2**20), "50"]
        if len(lines) == 12:  # cgroup v1 also shows the CPU quota (0.5 CPU per 100 ms period)
            assert lines.pop(5) == "50000"
        assert lines[5] == "lo"  # the only network interface
        assert lines[6:8] == ["8192", "4096"]
        assert "Read-only file system" in lines[8] and lines[9] == "hi"
        assert lines[10].startswith("/sbin/docker-init")
        info = docker.from_env().containers.get(sb.container_id).attrs
        assert info["Config"]["Labels"][LABEL] == "1" and info["Config"]["Labels"][OWNER_LABEL] == owner()
        assert info["HostConfig"]["NetworkMode"] == "none" and info["HostConfig"]["ReadonlyRootfs"]
        assert info["HostConfig"]["CapDrop"] == ["ALL"] and info["HostConfig"]["AutoRemove"]
    assert not container_exists(sb.container_id)
    assert not sb.alive


async def test_network_can_be_allowed(docker_image):
    async with DockerSandbox(docker_image, SandboxLimits(network=True)) as sb:
        result = await sb.exec("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort")
        assert result.stdout.split() == ["eth0", "lo"]


async def test_a_missing_image_is_a_clear_error_and_leaves_nothing(docker_image):
    before = {c.id for c in await list_sandboxes()}
    with pytest.raises(SandboxUnavailable, match=r"no-such-image:1.*toolgym sandbox build-image"):
        await DockerSandbox("no-such-image:1").start()
    assert {c.id for c in await list_sandboxes()} == before


async def test_an_image_without_bash_is_named(docker_image, tmp_path):
    client = docker.from_env()
    (tmp_path / "Dockerfile").write_text(
        f"FROM {docker_image}\nUSER root\nRUN rm /usr/bin/bash /bin/bash 2>/dev/null; true\n"
    )
    image = client.images.build(path=str(tmp_path), tag="toolgym-test/no-bash:1", rm=True)[0]
    try:
        with pytest.raises(Exception, match="bash"):
            await DockerSandbox("toolgym-test/no-bash:1", start_timeout=20).start()
    finally:
        client.images.remove(image.id, force=True)


async def test_containers_of_a_crashed_process_remove_themselves(docker_image):
    script = (
        "import asyncio, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from toolgym.sandboxes import DockerSandbox\n"
        "async def main():\n"
        f"    sb = await DockerSandbox({docker_image!r}).start()\n"
        "    await sb.exec('sleep 600 &')\n"
        "    print(sb.container_id, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        container_id = child.stdout.readline().strip()
        assert container_exists(container_id)
    finally:
        child.kill()  # SIGKILL: no cleanup code runs in the child
        child.wait()
    deadline = time.monotonic() + 15
    while container_exists(container_id) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not container_exists(container_id)


async def test_prune_removes_containers_whose_owner_exited(docker_image):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    start = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
    labels = {LABEL: "1", OWNER_LABEL: f"{socket.gethostname()}:{dead.pid}:{start}"}
    client = docker.from_env()
    orphan = client.containers.create(docker_image, ["sleep", "60"], labels=labels)
    elsewhere = client.containers.create(
        docker_image, ["sleep", "60"], labels={LABEL: "1", OWNER_LABEL: "other-host:1:1"}
    )
    try:
        async with DockerSandbox(docker_image) as mine:
            found = {c.id: c for c in await list_sandboxes()}
            assert found[orphan.id].orphaned is True
            assert found[mine.container_id].orphaned is False
            assert found[elsewhere.id].orphaned is None
            would = await prune(dry_run=True)
            assert orphan.id in {c.id for c in would} and container_exists(orphan.id)
            removed = await prune()
            assert orphan.id in {c.id for c in removed}
            assert not container_exists(orphan.id)
            assert container_exists(mine.container_id) and container_exists(elsewhere.id)
            assert (await mine.exec("echo alive")).stdout == "alive\n"
    finally:
        for container in (orphan, elsewhere):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


async def test_many_sandboxes_start_concurrently_and_are_independent(docker_image):
    limits = SandboxLimits(memory_mb=64, pids=32)
    sandboxes = await asyncio.gather(*(DockerSandbox(docker_image, limits).start() for _ in range(6)))
    try:
        await asyncio.gather(*(sb.write_file("me", str(i)) for i, sb in enumerate(sandboxes)))
        results = await asyncio.gather(*(sb.exec("cat me; hostname") for sb in sandboxes))
        assert [r.stdout for r in results] == [f"{i}sandbox\n" for i in range(6)]
    finally:
        await asyncio.gather(*(sb.close() for sb in sandboxes))
    assert not any(container_exists(sb.container_id) for sb in sandboxes)


async def test_a_start_cancelled_at_any_point_leaves_no_container(docker_image):
    before = {c.id for c in await list_sandboxes()}
    for delay in (0.0, 0.01, 0.05, 0.1, 0.2):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(DockerSandbox(docker_image).start(), delay)
    deadline = time.monotonic() + 15
    while {c.id for c in await list_sandboxes()} - before and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert {c.id for c in await list_sandboxes()} - before == set()


async def test_a_socket_arriving_after_the_caller_gave_up_is_closed():
    import threading

    from toolgym.sandboxes import docker_api
    from toolgym.sandboxes.base import SandboxError

    arrived = threading.Event()

    class FakeSocket:  # stands in for the socket a slow Docker call returns after its deadline
        closed = False

        def close(self):
            self.closed = True

    sock = FakeSocket()

    def slow_attach():
        arrived.wait(5)
        return sock

    with pytest.raises(SandboxError, match=r"within 0\.05s"):
        await docker_api.call(slow_attach, timeout=0.05, what="attaching", on_abandoned=docker_api.close_quietly)
    arrived.set()
    for _ in range(100):
        if sock.closed:
            break
        await asyncio.sleep(0.01)
    assert sock.closed
