"""Building sandbox images on the real engine: rootfs import, Dockerfile builds, skipping, clear errors.
(The full debootstrap build takes minutes and a Debian mirror; CI runs it through `toolgym sandbox build-image`.)"""

import contextlib

import pytest

from tests.sandboxes.engine import import_docker
from toolgym.sandboxes import DockerSandbox, SandboxUnavailable
from toolgym.sandboxes import image as image_module
from toolgym.sandboxes.image import ImageBuildError, build_image, debootstrap_rootfs, import_rootfs

docker = import_docker()


@pytest.fixture
def scratch_tag():
    tags = []
    yield tags.append
    client = docker.from_env()
    for tag in tags:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag, force=True)


async def test_a_root_filesystem_directory_becomes_an_image(docker_image, tmp_path, scratch_tag):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hello").write_text("from the rootfs\n")
    scratch_tag("toolgym-test/rootfs:1")
    image_id = await import_rootfs(tmp_path, "toolgym-test/rootfs:1")
    attrs = docker.from_env().images.get("toolgym-test/rootfs:1").attrs
    assert attrs["Id"] == image_id
    assert attrs["Config"]["Labels"]["toolgym.image"] == "base"
    assert any(e.startswith("PATH=") for e in attrs["Config"]["Env"])
    with pytest.raises(ImageBuildError, match="not a directory"):
        await import_rootfs(tmp_path / "missing", "toolgym-test/rootfs:2")


async def test_build_from_a_dockerfile_and_use_it(docker_image, tmp_path, scratch_tag):
    (tmp_path / "Dockerfile").write_text(f"FROM {docker_image}\nRUN echo baked > /baked.txt\n")
    scratch_tag("toolgym-test/custom:1")
    lines = []
    image_id = await build_image("toolgym-test/custom:1", dockerfile=tmp_path / "Dockerfile", log=lines.append)
    assert image_id.startswith("sha256:") and any("Step" in line for line in lines)
    async with DockerSandbox("toolgym-test/custom:1") as sb:
        assert (await sb.exec("cat /baked.txt")).stdout == "baked\n"
    assert await build_image("toolgym-test/custom:1", dockerfile=tmp_path / "Dockerfile") is None  # exists
    (tmp_path / "Broken").write_text(f"FROM {docker_image}\nRUN exit 7\n")
    with pytest.raises(ImageBuildError, match="failed"):
        await build_image("toolgym-test/broken:1", dockerfile=tmp_path / "Broken", force=True)
    with pytest.raises(ImageBuildError, match="no such Dockerfile"):
        await build_image("toolgym-test/none:1", dockerfile=tmp_path / "nope", force=True)


async def test_the_default_image_is_not_rebuilt(docker_image):
    assert await build_image(docker_image) is None


async def test_debootstrap_needs_debootstrap(monkeypatch, tmp_path):
    # debootstrap is installed here, so a machine without it is simulated by hiding it from the lookup
    monkeypatch.setattr(image_module.shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="debootstrap is not installed"):
        await debootstrap_rootfs(tmp_path)
