import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.agents.scripted import CalculatorSolver
from toolgym.agents import Runner, read_episodes
from toolgym.envs.calculator import CalculatorEnv

ROOT = Path(__file__).resolve().parents[2]


def tasks(n: int):
    return CalculatorEnv(difficulty=(1, 3)).tasks.take(n, seed=11)


async def test_runner_runs_all_tasks_and_writes_jsonl(tmp_path):
    out = tmp_path / "run.jsonl"
    seen = []
    runner = Runner(CalculatorEnv, CalculatorSolver(), concurrency=4, out=out, on_episode=seen.append)
    summary = await runner.arun(tasks(20))
    lines = out.read_text().splitlines()
    assert len(lines) == 20 and len(seen) == 20
    assert {json.loads(line)["task_id"] for line in lines} == {t.id for t in tasks(20)}
    assert summary.episodes == 20 and summary.success_rate == 1.0 and summary.mean_reward == 1.0
    assert summary.mean_turns == 2.0 and summary.mean_tool_calls == 1.0
    assert summary.tokens_per_success == pytest.approx(135.0)
    assert summary.errors == {} and summary.stop_reasons == {"answer": 20}


async def test_failures_are_counted_and_the_run_goes_on(tmp_path):
    all_tasks = tasks(10)
    bad = {all_tasks[2].prompt[0].content[8:], all_tasks[7].prompt[0].content[8:]}
    runner = Runner(CalculatorEnv, CalculatorSolver(fail_on=bad), concurrency=3, out=tmp_path / "r.jsonl")
    summary = await runner.arun(all_tasks)
    assert summary.episodes == 10 and summary.errors == {"http_500": 2}
    assert summary.success_rate == pytest.approx(0.8) and summary.mean_reward == 1.0


async def test_rerun_without_resume_starts_afresh_and_duplicate_ids_are_refused(tmp_path):
    out = tmp_path / "r.jsonl"
    await Runner(CalculatorEnv, CalculatorSolver(), out=out).arun(tasks(3))
    await Runner(CalculatorEnv, CalculatorSolver(), out=out).arun(tasks(3))
    assert len(out.read_text().splitlines()) == 3
    with pytest.raises(ValueError, match="unique"):
        await Runner(CalculatorEnv, CalculatorSolver(), out=out).arun(tasks(2) * 2)


KILLED_RUN = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from tests.agents.scripted import CalculatorSolver
    from toolgym.agents import Runner
    from toolgym.envs.calculator import CalculatorEnv
    tasks = CalculatorEnv(difficulty=(1, 3)).tasks.take(40, seed=11)
    Runner(CalculatorEnv, CalculatorSolver(delay=0.05), concurrency=4, out={out!r}).run(tasks)
    """
)


def test_resume_after_a_kill_loses_nothing_and_duplicates_nothing(tmp_path):
    out = tmp_path / "run.jsonl"
    script = KILLED_RUN.format(root=str(ROOT), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and len(out.read_bytes().splitlines()) >= 8:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    before = read_episodes(out)
    assert 8 <= len(before) < 40, "the run should have been killed midway"
    with out.open("a") as fh:  # as if killed in the middle of a write
        fh.write('{"task_id": "calc-s11-39", "turns": [')

    solver = CalculatorSolver()
    summary = Runner(CalculatorEnv, solver, concurrency=4, out=out, resume=True).run(tasks(40))
    after = read_episodes(out)
    ids = [e.task_id for e in after]
    assert len(ids) == len(set(ids)) == 40
    assert set(ids) == {t.id for t in tasks(40)}
    assert [e.id for e in after[: len(before)]] == [e.id for e in before]  # nothing lost or rewritten
    assert solver.calls == 2 * (40 - len(before))  # finished tasks were not run again
    assert summary.episodes == 40 and summary.success_rate == 1.0
    assert out.read_text().endswith("\n")


def test_a_corrupt_run_file_names_file_and_line(tmp_path):
    from toolgym.jsonl import RecordFileError

    out = tmp_path / "run.jsonl"
    out.write_text('{"task_id": "a"}\n{"task_id": 5}\n')
    with pytest.raises(RecordFileError, match=r"run.jsonl:2: field 'task_id'"):
        read_episodes(out)


def test_records_with_broken_text_are_still_written(tmp_path):
    from toolgym.agents import EpisodeLog
    from toolgym.types import Episode

    log = EpisodeLog(tmp_path / "run.jsonl")
    log.open(fresh=True)
    log.append(Episode(task_id="t", final_answer="cut inside an emoji \ud83d", metadata={"when": object()}))
    log.close()
    (episode,) = read_episodes(tmp_path / "run.jsonl")
    assert episode.final_answer.startswith("cut inside an emoji") and episode.task_id == "t"
