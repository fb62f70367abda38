"""SandboxPool with real sandboxes: warm acquire, one use each, bounds, failures, shutdown."""

import asyncio
import os

import pytest

from toolgym.sandboxes import DockerSandbox, LocalSandbox, SandboxError, SandboxPool, SandboxUnavailable


def local_factory(started: list | None = None):
    async def make():
        sandbox = await LocalSandbox(isolation="none").start()
        if started is not None:
            started.append(sandbox)
        return sandbox

    return make


async def wait_ready(pool: SandboxPool, n: int) -> None:
    async with asyncio.timeout(20):
        while pool.ready < n:
            await asyncio.sleep(0.01)


async def test_acquire_takes_a_warm_sandbox_and_release_replaces_it():
    started = []
    async with SandboxPool(local_factory(started), size=2) as pool:
        await pool.start(wait=True)
        assert pool.ready == 2 and len(started) == 2
        first = await pool.acquire()
        assert first in started and first.alive and pool.in_use == 1
        await first.write_file("secret.txt", "episode 1")
        await wait_ready(pool, 2)  # a replacement was started at once
        await pool.release(first, wait=True)
        assert not first.alive and not os.path.exists(first.host_dir)
        for _ in range(3):
            again = await pool.acquire()
            assert again is not first
            assert "No such file" in (await again.exec("cat secret.txt")).stderr
            await pool.release(again)
    assert all(not s.alive for s in started)


async def test_the_bound_makes_callers_wait_and_a_release_frees_them():
    async with SandboxPool(local_factory(), size=0, max_sandboxes=2) as pool:
        a, b = await pool.acquire(), await pool.acquire()
        with pytest.raises(SandboxError, match="no sandbox free"):
            await pool.acquire(timeout=0.3)
        waiter = asyncio.create_task(pool.acquire(timeout=20))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        await pool.release(a)
        c = await waiter
        assert c.alive and c not in (a, b)
        assert pool.in_use == 2


async def test_a_warm_sandbox_that_died_is_skipped():
    async with SandboxPool(local_factory(), size=2) as pool:
        await pool.start(wait=True)
        dead = pool._ready[0]
        await dead.close()
        got = await pool.acquire()
        assert got is not dead and got.alive


async def test_failing_starts_are_retried_a_bounded_number_of_times():
    attempts = []

    async def flaky():
        attempts.append(1)
        return await LocalSandbox(start_timeout=1e-6).start()  # a real start that misses its deadline

    pool = SandboxPool(flaky, size=1, max_failures=3)
    with pytest.raises(SandboxError, match=r"3 times in a row.*did not start"):
        await pool.acquire(timeout=30)
    assert 3 <= len(attempts) <= 4
    await pool.aclose()


async def test_a_missing_engine_or_image_fails_at_once(docker_image):
    pool = SandboxPool(lambda: DockerSandbox("toolgym-test/missing:1").start(), size=2)
    with pytest.raises(SandboxUnavailable, match="image not found"):
        await pool.acquire(timeout=30)
    await pool.aclose()


async def test_close_destroys_every_sandbox_and_refuses_more():
    started = []
    pool = SandboxPool(local_factory(started), size=2)
    await pool.start(wait=True)
    held = await pool.acquire()
    await pool.aclose()
    assert not held.alive and all(not s.alive for s in started)
    with pytest.raises(SandboxError, match="closed"):
        await pool.acquire()


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="size"):
        SandboxPool(local_factory(), size=-1)
    with pytest.raises(ValueError, match="max_sandboxes"):
        SandboxPool(local_factory(), size=4, max_sandboxes=2)


async def test_docker_pool_hands_out_fresh_containers(docker_image):
    import docker

    async with SandboxPool(lambda: DockerSandbox(docker_image).start(), size=1) as pool:
        await pool.start(wait=True)
        async with pool.sandbox() as first:
            await first.write_file("mark", "dirty")
            first_id = first.container_id
        async with pool.sandbox() as second:
            assert second.container_id != first_id
            assert (await second.exec("ls")).stdout == ""
        await asyncio.sleep(0.5)
        with pytest.raises(docker.errors.NotFound):
            docker.from_env().containers.get(first_id)
