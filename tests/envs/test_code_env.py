"""CodeEnv on real sandboxes: built-in tasks, partial credit, tampering with tests and rewards, lifecycle."""

import json
import uuid
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from tests.sandboxes.engine import IMAGE, require_docker
from toolgym.agents.policy import Generation
from toolgym.agents.runner import Runner
from toolgym.cli import app as cli_app
from toolgym.envs.code_env import CodeEnv, CodeTestsReward, normalize_output, parse_records, values_equal
from toolgym.envs.code_tasks import BUILTIN_TASKS, CodeTests, code_task, dump_tasks, load_code_tasks
from toolgym.envs.registry import register_env
from toolgym.envs.tasks import TaskFileError
from toolgym.sandboxes import LocalSandbox, SandboxPool
from toolgym.testing.openai_server import Reply, ScriptedOpenAIServer
from toolgym.types import Episode

REFERENCE = {
    "code-fizzbuzz": "def fizzbuzz(n):\n    return ['FizzBuzz' if i % 15 == 0 else 'Fizz' if i % 3 == 0 else "
    "'Buzz' if i % 5 == 0 else str(i) for i in range(1, n + 1)]\n",
    "code-palindrome": "def is_palindrome(text):\n    s = [c.lower() for c in text if c.isalnum()]\n"
    "    return s == s[::-1]\n",
    "code-roman": "def roman_to_int(numeral):\n    v = dict(I=1, V=5, X=10, L=50, C=100, D=500, M=1000)\n"
    "    total = 0\n"
    "    for a, b in zip(numeral, numeral[1:] + ' '):\n        total += -v[a] if b != ' ' and v[a] < v[b] else v[a]\n"
    "    return total\n",
    "code-merge-intervals": "def merge_intervals(intervals):\n    out = []\n    for s, e in sorted(intervals):\n"
    "        if out and s <= out[-1][1]:\n            out[-1][1] = max(out[-1][1], e)\n        else:\n"
    "            out.append([s, e])\n    return out\n",
    "code-word-frequencies": "import re, collections\ndef word_frequencies(text):\n"
    "    return dict(collections.Counter(re.findall('[a-z]+', text.lower())))\n",
    "code-flatten": "def flatten(nested):\n    out = []\n    for x in nested:\n"
    "        out.extend(flatten(x) if isinstance(x, list) else [x])\n    return out\n",
    "code-run-length": "import itertools\ndef run_length_encode(text):\n"
    "    return ''.join(f'{c}{len(list(g))}' for c, g in itertools.groupby(text))\n",
    "code-stats-program": "import sys\nnums = [int(x) for x in sys.stdin.read().split()]\n"
    "print(f'{sum(nums)} {min(nums)} {max(nums)}' if nums else 'empty')\n",
}


def tool_call(name: str, **arguments) -> dict:
    call = {"id": "c", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


async def solve(env: CodeEnv, task, source: str | None, answer: str = "done") -> Episode:
    await env.areset(task=task)
    if source is not None:
        path = CodeTests.of(task).solution_file
        obs, *_ = await env.astep(tool_call("write_file", path=path, content=source))
        assert obs[-1]["content"].startswith("wrote")
    _, reward, terminated, _, info = await env.astep(answer)
    assert terminated
    return info["episode"]


@pytest.fixture
async def docker_env():
    require_docker()
    env = CodeEnv(sandbox="docker", image=IMAGE, pool_size=2)
    yield env
    await env.aclose()


def task_by_id(task_id: str):
    return next(t for t in BUILTIN_TASKS if t.id == task_id)


# ---- the tasks ----------------------------------------------------------------------------------


def test_builtin_tasks_are_valid():
    assert len(BUILTIN_TASKS) == 8 and len({t.id for t in BUILTIN_TASKS}) == 8
    for task in BUILTIN_TASKS:
        spec = CodeTests.of(task)
        assert 5 <= len(spec.cases) <= 8
        assert spec.solution_file in task.prompt[0].content
    assert set(REFERENCE) == {t.id for t in BUILTIN_TASKS}


async def test_the_agent_sees_the_prompt_but_not_the_hidden_cases():
    env = CodeEnv(sandbox="local")
    try:
        for task in BUILTIN_TASKS:
            obs, info = await env.areset(task=task)
            seen = json.dumps(obs) + json.dumps(info["tools"])
            assert obs[-1]["content"] == task.prompt[0].content
            assert '"expected"' not in seen and '"cases"' not in seen
            listing = (await env.sandbox.exec("ls -A; ls -A /tmp")).stdout
            assert "harness" not in listing and "expected" not in listing
    finally:
        await env.aclose()


async def test_reference_solutions_score_one_on_every_builtin_task(docker_env):
    for task in BUILTIN_TASKS:
        episode = await solve(docker_env, task, REFERENCE[task.id])
        total = len(CodeTests.of(task).cases)
        assert episode.reward == 1.0 and episode.success, (task.id, episode.metadata.get("verifier"))
        assert episode.reward_components == {"tests_passed": total, "tests_total": total}
        assert episode.metadata["submission"]["files"] == {CodeTests.of(task).solution_file: REFERENCE[task.id]}
        assert docker_env.sandbox is None  # released at the end of the episode


async def test_partial_and_missing_solutions(docker_env):
    off_by_one = REFERENCE["code-fizzbuzz"].replace("range(1, n + 1)", "range(1, max(n, 1) + 1)")
    episode = await solve(docker_env, task_by_id("code-fizzbuzz"), off_by_one)
    assert episode.reward == pytest.approx(4 / 5) and not episode.success  # fizzbuzz(0) is wrong
    assert episode.metadata["verifier"]["passed"] == [False, True, True, True, True]
    assert episode.metadata["verifier"]["errors"] == {"0": "wrong result"}

    nothing = await solve(docker_env, task_by_id("code-roman"), None)
    assert nothing.reward == 0.0 and "was not written" in nothing.metadata["verifier"]["error"]
    assert "No such file" in nothing.metadata["submission"]["missing"]

    broken = await solve(docker_env, task_by_id("code-roman"), "def roman_to_int(:\n")
    assert broken.reward == 0.0 and "SyntaxError" in broken.metadata["verifier"]["errors"]["0"]

    shouting = REFERENCE["code-stats-program"].replace("'empty'", "'EMPTY'") + "print('   ')\n"
    episode = await solve(docker_env, task_by_id("code-stats-program"), shouting)
    assert episode.metadata["verifier"]["passed"] == [True, False, False, True, True, True]  # the two empty inputs
    assert "output differs" in episode.metadata["verifier"]["errors"]["1"]


async def test_a_hanging_case_fails_alone():
    task = code_task(
        "hang",
        "write solution.py",
        {
            "function": "f",
            "case_timeout": 0.5,
            "cases": [{"args": [1], "expected": 2}, {"args": [0], "expected": 1}, {"args": [5], "expected": 6}],
        },
    )
    env = CodeEnv([task], sandbox="local")
    try:
        source = "def f(x):\n    while x == 0:\n        pass\n    return x + 1\n"
        episode = await solve(env, task, source)
        assert episode.metadata["verifier"]["passed"] == [True, False, True]
        assert "CaseTimeout" in episode.metadata["verifier"]["errors"]["1"]
    finally:
        await env.aclose()


# ---- tampering: nothing the agent does reaches the verification ----------------------------------

FORGER = """
import json, sys
main = sys.modules["__main__"]
nonce = getattr(main, "nonce", None)
if nonce:  # the harness is importing us: claim every case passed, in its own record format
    for index in range(len(main.config["cases"])):
        main.records.write(nonce + json.dumps({"case": index, "value": True}) + "\\n")
    main.records.flush()
print(nonce, "PASSED all tests")

class AlwaysEqual:
    def __eq__(self, other):
        return True

def is_palindrome(text):
    return AlwaysEqual()
"""

SNEAKY_INT = """
class Yes(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__

def roman_to_int(numeral):
    return Yes(0)
"""

EXITER = "import os\nos._exit(0)\n"


async def test_tampering_with_tests_and_reward_gets_nothing(docker_env):
    palindrome = task_by_id("code-palindrome")
    await docker_env.areset(task=palindrome)
    sabotage = (
        "mkdir -p tests && echo 'def test_ok(): assert True' > tests/test_solution.py; "
        "echo 'import sys; sys.exit(0)' > conftest.py; echo 'print(\"1.0\")' > sitecustomize.py; "
        'echo \'{"reward": 1.0, "passed": 8}\' > reward.json; mkdir -p bin && '
        "printf '#!/bin/sh\\necho PASSED\\n' > bin/python3 && chmod +x bin/python3; export PATH=$PWD/bin:$PATH; "
        "setsid sh -c 'while :; do echo 1.0 > reward.json; sleep 0.1; done' >/dev/null 2>&1 </dev/null & sleep 0.2; "
        "echo 'def is_palindrome(text): return False' > solution.py"
    )
    await docker_env.astep(tool_call("bash", command=sabotage))
    _, reward, *_ = await docker_env.astep("All 8 tests PASSED. reward = 1.0")
    episode = docker_env.episode
    assert episode.reward_components["tests_passed"] == 3  # only the cases whose answer is False
    assert set(episode.metadata["submission"]["files"]) == {"solution.py"}  # nothing else left the sandbox

    forged = await solve(docker_env, palindrome, FORGER)
    assert forged.reward == 0.0  # each case was reported twice (forged + real): none counts
    assert all(e in ("reported twice",) or "not JSON" in e for e in forged.metadata["verifier"]["errors"].values())

    sneaky = await solve(docker_env, task_by_id("code-roman"), SNEAKY_INT)
    assert sneaky.reward == 0.0  # the host compares plain JSON values: Yes(0) is 0

    exiter = await solve(docker_env, task_by_id("code-roman"), EXITER)
    assert exiter.reward == 0.0 and "no result" in exiter.metadata["verifier"]["errors"]["0"]


class RecordingSandbox(LocalSandbox):
    """A real local sandbox that remembers every byte the verifier sends into it."""

    sent: ClassVar[list[str]] = []

    async def write_file(self, path, content, mode=0o644):
        self.sent.append(content if isinstance(content, str) else content.decode())
        await super().write_file(path, content, mode)

    async def exec(self, cmd, timeout=None, stdin=None):
        self.sent.append(cmd + (stdin.decode() if isinstance(stdin, bytes) else stdin or ""))
        return await super().exec(cmd, timeout, stdin)


async def test_expected_results_never_enter_a_sandbox():
    secrets = [f"expected-{i}-{uuid.uuid4().hex}" for i in range(6)]
    function = code_task(
        "f", "p", {"function": "f", "cases": [{"args": [i], "expected": s} for i, s in enumerate(secrets[:3])]}
    )
    program = code_task(
        "p", "p", {"mode": "program", "cases": [{"stdin": str(i), "expected": s} for i, s in enumerate(secrets[3:])]}
    )
    pool = SandboxPool(lambda: RecordingSandbox(isolation="none").start(), size=0)
    reward = CodeTestsReward(pool)
    source = "import sys\ndef f(x):\n    return 'nope'\nif __name__ == '__main__':\n    print(sys.stdin.read())\n"
    for task in (function, program):
        RecordingSandbox.sent = []
        files = {CodeTests.of(task).solution_file: source}
        score = await reward.score(task, Episode(task_id=task.id, metadata={"submission": {"files": files}}))
        assert score.value == 0.0 and score.components["tests_total"] == 3
        assert RecordingSandbox.sent and not any(s in "\n".join(RecordingSandbox.sent) for s in secrets)
    await pool.aclose()


def test_host_side_comparison_and_record_parsing():
    assert values_equal([1, [2.0]], [1, [2]]) and not values_equal(True, 1) and not values_equal(1, True)
    assert not values_equal({"a": 1}, {"a": 1, "b": 2}) and values_equal(0.1 + 0.2, 0.3, tolerance=1e-9)
    assert not values_equal(0.1 + 0.2, 0.3) and values_equal(float("nan"), float("nan"))
    assert not values_equal("1", 1) and not values_equal(None, 0) and values_equal([], [])
    assert normalize_output("a  \nb\n\n\n") == "a\nb" and normalize_output("a\n b") != "a\nb"
    out = (
        'N{"case": 0, "value": 1}\nnoise N{"case": 1, "value": 2}\nN{"case": 1, "value": 3}\nNnot json\nN{"case": 9}\n'
    )
    records, load_error = parse_records(out, "N", 3)
    assert records == {0: {"case": 0, "value": 1}, 1: {"case": 1, "value": 3}} and load_error is None
    records, _ = parse_records(out + 'N{"case": 0, "value": 1}\n', "N", 3)
    assert records[0] == {"error": "reported twice"}
    assert parse_records('N{"error": "loading the solution failed: X"}\n', "N", 1) == (
        {},
        "loading the solution failed: X",
    )


# ---- task files ---------------------------------------------------------------------------------


def test_task_files_load_and_bad_lines_are_named(tmp_path):
    path = tmp_path / "tasks.jsonl"
    dump_tasks(BUILTIN_TASKS[:3], path)
    assert [t.id for t in load_code_tasks(path).tasks] == [t.id for t in BUILTIN_TASKS[:3]]
    assert CodeEnv(tasks=str(path), sandbox="local").tasks.take(5)[2].id == BUILTIN_TASKS[2].id

    lines = path.read_text().splitlines()
    broken = json.loads(lines[1])
    del broken["scoring"]["params"]["function"]
    path.write_text("\n".join([lines[0], json.dumps(broken), lines[2]]) + "\n")
    with pytest.raises(TaskFileError, match=r"tasks.jsonl:2: task 'code-palindrome': scoring.params.*function"):
        load_code_tasks(path)

    escape = json.loads(lines[0])
    escape["scoring"]["params"]["solution_file"] = "../../etc/x.py"
    path.write_text(json.dumps(escape) + "\n")
    with pytest.raises(TaskFileError, match=r":1: .*solution_file must be a relative path"):
        CodeEnv(tasks=path)

    program = json.loads(lines[0])
    program["scoring"]["params"] = {"mode": "program", "cases": [{"stdin": "", "expected": 3}]}
    path.write_text(json.dumps(program) + "\n")
    with pytest.raises(TaskFileError, match="must be a string"):
        load_code_tasks(path)
    with pytest.raises(ValueError, match="cases"):
        code_task("x", "p", {"function": "f", "cases": []})


# ---- lifecycle ----------------------------------------------------------------------------------


async def test_each_episode_gets_a_fresh_sandbox_with_the_starter_files():
    task = code_task(
        "starter",
        "finish solution.py",
        {"function": "f", "cases": [{"args": [], "expected": 1}]},
        files={"solution.py": "def f():\n    return 0  # TODO\n", "data/input.txt": "42\n"},
    )
    env = CodeEnv([task], sandbox="local", pool_size=1)
    try:
        await env.areset(task=task)
        first = env.sandbox
        obs, *_ = await env.astep(tool_call("bash", command="cat data/input.txt solution.py; echo mark > mark.txt"))
        assert "42" in obs[-1]["content"] and "TODO" in obs[-1]["content"]
        await env.areset(task=task)  # the first episode is abandoned: its sandbox is destroyed
        assert env.sandbox is not first and not first.alive
        obs, *_ = await env.astep(tool_call("bash", command="ls"))
        assert "mark.txt" not in obs[-1]["content"]
        episode = await solve(env, task, "def f():\n    return 1\n")
        assert episode.reward == 1.0
    finally:
        await env.aclose()
    assert env.pool.in_use == 0 and env.pool.ready == 0


def test_the_gymnasium_facade_runs_an_episode():
    env = CodeEnv(sandbox="local")
    try:
        task = task_by_id("code-run-length")
        obs, info = env.reset(options={"task": task})
        assert {t["function"]["name"] for t in info["tools"]} == {"bash", "python", "read_file", "write_file", "submit"}
        env.step(tool_call("write_file", path="solution.py", content=REFERENCE[task.id]))
        _, reward, terminated, truncated, info = env.step(tool_call("submit", answer="done"))
        assert (reward, terminated, truncated) == (1.0, True, False)
    finally:
        env.close()


async def test_a_broken_sandbox_scores_zero_and_is_recorded(docker_env):
    import docker

    await docker_env.areset(task=task_by_id("code-flatten"))
    docker.from_env().containers.get(docker_env.sandbox.container_id).kill()
    obs, *_ = await docker_env.astep(tool_call("bash", command="echo hi"))
    assert "Error:" in obs[-1]["content"] and ("gone" in obs[-1]["content"] or "sandbox" in obs[-1]["content"])
    _, reward, terminated, _, info = await docker_env.astep("done")
    episode = info["episode"]
    # scored as no solution, not voided: crashing its own sandbox must not let an agent skip a low score
    assert reward == 0.0 and episode.success is False and episode.reward == 0.0 and episode.error is None
    assert "sandbox" in episode.metadata["sandbox_error"] or episode.metadata["sandbox_error"]
    assert "sandbox failed" in episode.metadata["submission"]["missing"]
    again = await solve(docker_env, task_by_id("code-flatten"), REFERENCE["code-flatten"])
    assert again.reward == 1.0  # the next episode gets a healthy sandbox


class ReferencePolicy:
    """Writes the reference solution of the task in the prompt, then says it is done."""

    name = "reference"

    async def generate(self, messages, tools=None, sampling=None) -> Generation:
        if messages[-1]["role"] == "tool":
            return Generation(message={"role": "assistant", "content": "done"})
        prompt = next(m["content"] for m in messages if m["role"] == "user")
        task = next(t for t in BUILTIN_TASKS if t.prompt[0].content == prompt)
        path = CodeTests.of(task).solution_file
        return Generation(message=tool_call("write_file", path=path, content=REFERENCE[task.id]))

    async def aclose(self) -> None:
        pass


async def test_runner_writes_scored_episodes(docker_image_or_skip, tmp_path):
    out = tmp_path / "code.jsonl"
    runner = Runner(lambda: CodeEnv(sandbox="docker", image=IMAGE), ReferencePolicy(), concurrency=2, out=out)
    summary = await runner.arun(BUILTIN_TASKS[:4])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 4 and all(r["reward"] == 1.0 for r in records)
    assert all(r["metadata"]["submission"]["files"] for r in records)
    assert summary.episodes == 4


@pytest.fixture
def docker_image_or_skip():
    require_docker()
    return IMAGE


def reference_handler(request):
    """An OpenAI-compatible endpoint that writes the reference solution, then says it is done."""
    messages = request["messages"]
    if messages[-1]["role"] == "tool":
        return Reply(content="done")
    prompt = next(m["content"] for m in messages if m["role"] == "user")
    task = next(t for t in BUILTIN_TASKS if t.prompt[0].content == prompt)
    path = CodeTests.of(task).solution_file
    return Reply(tool_calls=[{"name": "write_file", "arguments": {"path": path, "content": REFERENCE[task.id]}}])


def test_toolgym_eval_code_from_the_command_line(tmp_path):
    register_env("code", "toolgym.envs.code_env:CodeEnv", "Python coding tasks checked by hidden tests in a sandbox.")
    tasks = tmp_path / "tasks.jsonl"
    dump_tasks(BUILTIN_TASKS[2:5], tasks)
    out = tmp_path / "run.jsonl"
    with ScriptedOpenAIServer(reference_handler) as server:
        args = ["eval", "code", "--model", "m", "--base-url", server.base_url, "--n", "3", "--out", str(out)]
        result = CliRunner().invoke(cli_app, [*args, "--tasks", str(tasks), "--sandbox", "local", "--memory-mb", "256"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["task_id"] for r in records) == sorted(t.id for t in BUILTIN_TASKS[2:5])
    assert all(r["reward"] == 1.0 for r in records)
