"""`toolgym sandbox ...` through a typer app holding the sandbox sub-app."""

import contextlib
import socket

import pytest
import typer
from typer.testing import CliRunner

from tests.sandboxes.engine import import_docker
from toolgym.cli.sandbox import app as sandbox_app
from toolgym.sandboxes.docker_api import LABEL, OWNER_LABEL

docker = import_docker()

app = typer.Typer()
app.add_typer(sandbox_app, name="sandbox")
cli = CliRunner()


def run(*args: str):
    return cli.invoke(app, ["sandbox", *args], catch_exceptions=False)


def test_status_reports_the_backends(docker_image):
    result = run("status", "--image", docker_image)
    assert result.exit_code == 0, result.output
    assert "reachable" in result.output and "present" in result.output and "docker" in result.output


def test_run_prints_output_and_exits_with_the_command_code(docker_image):
    result = run("run", "echo hi; echo oops >&2; exit 3", "--backend", "docker", "--image", docker_image)
    assert result.exit_code == 3 and "hi" in result.output
    local = run("run", "id -u", "--backend", "local")
    assert local.exit_code == 0 and local.output.strip().isdigit()
    slow = run("run", "sleep 5", "--backend", "local", "--timeout", "0.5")
    assert slow.exit_code == 124 and "timed out" in slow.output
    assert run("run", "true", "--backend", "vm").exit_code == 2


def test_prune_lists_then_removes_orphans(docker_image):
    client = docker.from_env()
    labels = {LABEL: "1", OWNER_LABEL: f"{socket.gethostname()}:999999999:0"}  # no such process
    orphan = client.containers.create(docker_image, ["sleep", "60"], labels=labels)
    try:
        dry = run("prune", "--dry-run")
        assert dry.exit_code == 0 and orphan.id[:12] in dry.output and "would remove" in dry.output
        client.containers.get(orphan.id)
        done = run("prune")
        assert done.exit_code == 0 and orphan.id[:12] in done.output
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(orphan.id)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            orphan.remove(force=True)


def test_build_image_skips_an_existing_image_and_names_bad_input(docker_image, tmp_path):
    result = run("build-image", "--name", docker_image)
    assert result.exit_code == 0 and "exists already" in result.output
    bad = run("build-image", "--name", "toolgym-test/x:1", "--dockerfile", str(tmp_path / "Nope"))
    assert bad.exit_code == 2 and "no such Dockerfile" in " ".join(bad.output.split())  # rich wraps lines
