"""Shared by the MCP tests: real servers to talk to, and process checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

MISBEHAVING = Path(__file__).with_name("misbehaving_server.py")
ROOT = Path(__file__).resolve().parents[3]

# `toolgym mcp ...` through a local typer app (the subcommand is wired into the main CLI elsewhere)
MCP_CLI = (
    "import typer; from toolgym.cli.mcp import app as mcp; cli = typer.Typer(); cli.add_typer(mcp, name='mcp'); cli()"
)


def misbehaving(*flags: str, **options: object) -> dict:
    """A config entry for the SDK-free test server of misbehaving_server.py."""
    return {"command": sys.executable, "args": [str(MISBEHAVING), *flags], **options}


def installed_server(command: str, install: str) -> str:
    """The path of an installed third-party MCP server; required in CI, skipped locally when missing."""
    path = shutil.which(command)
    if path is None:
        message = f"{command} is not installed ({install})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def npm_server(command: str) -> str:
    """A globally installed npm reference server, e.g. ``mcp-server-memory``."""
    package = "@modelcontextprotocol/" + command.removeprefix("mcp-")
    return installed_server(command, f"npm install -g {package}")


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_gone(pids: list[int], seconds: float = 10.0) -> list[int]:
    """Wait until none of ``pids`` is alive; returns the ones still alive at the deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def serve_http(target: str, port: int = 0, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """`toolgym mcp serve TARGET --transport http` in a subprocess on 127.0.0.1; returns it and its URL."""
    command = [sys.executable, "-c", MCP_CLI, "mcp", "serve", target, "--transport", "http", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([*command, *extra], stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if " at http" in line or not line:
            break
    if " at http" not in line:
        proc.kill()
        raise RuntimeError(f"the MCP server did not start: {line}{proc.stderr.read()}")
    return proc, line.rsplit(" at ", 1)[1].strip()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
