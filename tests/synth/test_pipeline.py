"""The whole pipeline against a real MCP server (mcp-server-time) and a scripted endpoint: output, resume,
determinism, and the `toolgym synth` commands."""

from __future__ import annotations

import json
import shutil

import pytest
import typer
from typer.testing import CliRunner

from tests.synth.conftest import scripted_config
from toolgym.cli.synth import app as synth_app
from toolgym.synth.pipeline import STAGES, run_pipeline
from toolgym.synth.stage import read_stats
from toolgym.synth.tasks import read_tasks

TIME_SERVER = shutil.which("mcp-server-time")
needs_time_server = pytest.mark.skipif(TIME_SERVER is None, reason="mcp-server-time is not installed")


def time_servers() -> dict:
    return {"mcpServers": {"time": {"command": TIME_SERVER, "args": ["--local-timezone", "UTC"]}}}


def cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(synth_app, name="synth")
    return app


def stable_lines(path) -> list[dict]:
    """Records without their timestamps (what must be equal between two runs with one seed)."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        row.pop("at", None)
    return sorted(rows, key=lambda r: r["id"])


@needs_time_server
async def test_pipeline_from_a_real_mcp_server_to_a_dataset(tmp_path, server, handler) -> None:
    pytest.importorskip("toolgym.tools.mcp")
    config = scripted_config(server, tmp_path / "run", harvest={"servers": time_servers()})
    results = await run_pipeline(config)
    assert [r.stage for r in results] == list(STAGES)
    out = config.out
    harvested = [json.loads(line) for line in (out / "harvest" / "tools.jsonl").read_text().splitlines()]
    assert {t["spec"]["name"] for t in harvested} >= {"get_current_time", "convert_time"}
    assert all(t["source"] == "time" and t["real"] for t in harvested)
    tasks = read_tasks(out)
    assert len(tasks) == 4 and any("time" in t.metadata["tool_sources"].values() for t in tasks)
    train = (out / "export" / "train.jsonl").read_text().splitlines()
    test = (out / "export" / "test.jsonl").read_text().splitlines()
    assert len(train) + len(test) == results[-1].written > 0
    card = (out / "export" / "README.md").read_text()
    assert "| time | real |" in card and "## Pass rates" in card and "## Rejections" in card
    stats = read_stats(out)
    assert stats["models"]["generator"].startswith("scripted @ http://127.0.0.1")
    assert set(stats["stages"]) == set(STAGES)
    assert stats["stages"]["tasks"]["requests"] == 4


async def test_rerun_resumes_without_new_requests_and_is_deterministic(tmp_path, server, handler) -> None:
    first = scripted_config(server, tmp_path / "a")
    await run_pipeline(first, [s for s in STAGES if s != "harvest"])
    requests = server.request_count
    assert requests > 0
    results = await run_pipeline(first, [s for s in STAGES if s != "harvest"])
    assert server.request_count == requests  # everything was finished: nothing asked again
    assert all(r.written == 0 for r in results[:-1]) and results[1].skipped == 2  # agents
    # same seed, another folder: the same records
    second = scripted_config(server, tmp_path / "b")
    await run_pipeline(second, ["evolve", "agents", "tasks"])
    for part in ("evolve/tools.jsonl", "agents/agents.jsonl", "tasks/tasks.jsonl"):
        assert stable_lines(first.out / part) == stable_lines(second.out / part), part


async def test_a_run_killed_mid_write_resumes_the_missing_records_only(tmp_path, server, handler) -> None:
    config = scripted_config(server, tmp_path / "run")
    await run_pipeline(config, ["evolve", "agents", "tasks"])
    path = config.out / "tasks" / "tasks.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + lines[2][:40])  # a kill mid-write: 2 records and a partial line
    handler.counts.clear()
    await run_pipeline(config, ["tasks"])
    assert handler.counts == {"task": 2}
    assert [t.id for t in read_tasks(config.out)] == sorted(json.loads(line)["id"] for line in lines)


def test_cli_run_writes_the_dataset(tmp_path, server) -> None:
    yaml_path = tmp_path / "synth.yaml"
    config = scripted_config(server, "out")
    data = json.loads(config.model_dump_json())
    data["out"] = "out"
    yaml_path.write_text(json.dumps(data))  # JSON is YAML
    result = CliRunner().invoke(cli(), ["synth", "run", "--config", str(yaml_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "export" / "README.md").is_file()
    assert "dataset written to" in result.output
    again = CliRunner().invoke(cli(), ["synth", "tasks", "--config", str(yaml_path), "--no-progress"])
    assert again.exit_code == 0 and "tasks" in again.output


def test_cli_config_errors_name_the_field(tmp_path) -> None:
    bad = tmp_path / "synth.yaml"
    bad.write_text("evolve:\n  tools_per_domain: -1\n")
    result = CliRunner().invoke(cli(), ["synth", "run", "--config", str(bad)])
    assert result.exit_code == 2
    assert "field 'evolve.tools_per_domain'" in result.output
    unknown = CliRunner().invoke(cli(), ["synth", "run", "--stages", "evolve,bake"])
    assert unknown.exit_code == 2 and "bake" in unknown.output
    no_servers = CliRunner().invoke(cli(), ["synth", "harvest", "--out", str(tmp_path)])
    assert no_servers.exit_code == 2 and "no MCP servers" in no_servers.output
