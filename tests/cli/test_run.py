import json

import pytest
from typer.testing import CliRunner

from tests.agents.test_runner_http import calculator_handler
from toolgym.cli import app
from toolgym.testing.openai_server import ScriptedOpenAIServer

cli = CliRunner()


@pytest.fixture(scope="module")
def server():
    with ScriptedOpenAIServer(calculator_handler({})) as srv:
        yield srv


def run(*args: str):
    return cli.invoke(app, list(args), catch_exceptions=False)


def test_envs_lists_the_calculator():
    result = run("envs")
    assert result.exit_code == 0
    assert "calculator" in result.output and "toolgym/Calculator-v0" in result.output


def test_eval_writes_jsonl_and_prints_summary(server, tmp_path):
    out = tmp_path / "run.jsonl"
    args = ["eval", "calculator", "--model", "scripted", "--base-url", server.base_url, "--n", "5"]
    result = run(*args, "--out", str(out), "--seed", "2", "--env-arg", "difficulty=[1, 3]")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5 and all(r["reward"] == 1.0 for r in records)
    assert {r["metadata"]["difficulty"] for r in records} <= {1, 2, 3}
    assert "success rate" in result.output and "100.0%" in result.output

    again = run(*args, "--out", str(out))
    assert again.exit_code == 2 and "--resume" in again.output

    more = run(*args[:-1], "8", "--out", str(out), "--seed", "2", "--env-arg", "difficulty=[1, 3]", "--resume")
    assert more.exit_code == 0, more.output
    ids = [json.loads(line)["task_id"] for line in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 8


def test_unknown_options_go_to_the_env(server, tmp_path):
    out = tmp_path / "hard.jsonl"
    args = ["eval", "calculator", "--difficulty", "4", "--model", "m", "--base-url", server.base_url, "--n", "2"]
    result = run(*args, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert all(json.loads(line)["metadata"]["difficulty"] == 4 for line in out.read_text().splitlines())
    bad = run("eval", "calculator", "--colour", "red", "--base-url", server.base_url, "--model", "m")
    assert bad.exit_code == 2 and "colour" in bad.output


def test_eval_max_turns_is_applied(server, tmp_path):
    out = tmp_path / "short.jsonl"
    args = ["eval", "--model", "m", "--base-url", server.base_url, "--n", "2", "--max-turns", "1"]
    result = run(*args, "--out", str(out))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["stop_reason"] == "max_turns" and r["budget"]["max_turns"] == 1 for r in records)


def test_eval_bad_input_is_named(tmp_path):
    assert "unknown environment 'nope'" in run("eval", "nope").output
    result = run("eval", "calculator", "--env-arg", "difficulty=99", "--base-url", "http://x", "--model", "m")
    assert result.exit_code == 2 and "difficulty" in result.output
    assert "key=value" in run("eval", "--env-arg", "oops").output
    assert "--model" in run("eval", "--base-url", "http://127.0.0.1:9").output


def test_report_prints_table_and_writes_png(server, tmp_path):
    out = tmp_path / "run.jsonl"
    run("eval", "--model", "s", "--base-url", server.base_url, "--n", "4", "--out", str(out))
    result = run("report", str(out))
    assert result.exit_code == 0, result.output
    assert "mean reward" in result.output
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = run("report", str(tmp_path / "none.jsonl"))
    assert missing.exit_code == 2 and "no such run file" in missing.output


def test_first_tool_choice_is_sent_on_the_first_reply_only(server, tmp_path):
    before = len(server.requests)
    args = ["eval", "--model", "m", "--base-url", server.base_url, "--n", "1", "--out", str(tmp_path / "r.jsonl")]
    result = run(*args, "--first-tool-choice", "required")
    assert result.exit_code == 0, result.output
    first, *later = server.requests[before:]
    assert first["tool_choice"] == "required"
    assert later and all("tool_choice" not in r for r in later)


def test_a_local_model_that_cannot_load_fails_the_command(tmp_path):
    result = run("eval", "--model", str(tmp_path / "no-such-model"), "--n", "2", "--out", str(tmp_path / "r.jsonl"))
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not (tmp_path / "r.jsonl").exists() or not (tmp_path / "r.jsonl").read_text()


def test_error_messages_keep_square_brackets(capsys):
    from toolgym.cli.common import fail

    exit_ = fail("pip install 'toolgym[mcp]'")
    assert exit_.exit_code == 2
    assert "pip install 'toolgym[mcp]'" in capsys.readouterr().out
