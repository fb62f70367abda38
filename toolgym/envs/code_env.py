"""CodeEnv: the agent writes code in a sandbox; hidden tests score it in a second, fresh sandbox.

Per episode: ``reset`` takes a fresh sandbox from a warm pool and writes the task's starter files;
the agent works with ``bash``/``python``/``read_file``/``write_file``; when it answers (or calls
``submit``), the solution file is copied out of its sandbox and that sandbox is destroyed. The
reward then copies *only the solution file* into another fresh sandbox and runs the hidden cases
there. The expected results never enter any sandbox: the sandbox only reports what the solution
returned or printed, under a per-episode random nonce that tells those records apart from anything
the solution prints, and the host compares. Nothing the agent did to its own sandbox (fake tests,
edited files, background processes, a doctored ``python3``) can reach the verification, and no
output it forges can claim a result its function does not return.
"""

from __future__ import annotations

import json
import math
import secrets
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolgym.envs.code_tasks import BUILTIN_TASKS, CodeTests, load_code_tasks, starter_files
from toolgym.envs.tasks import TaskList, TaskSource
from toolgym.envs.tool_env import Messages, ToolEnv
from toolgym.rewards.base import Score
from toolgym.sandboxes.base import Sandbox, SandboxError, SandboxFileError, SandboxLimits
from toolgym.sandboxes.docker_api import DEFAULT_IMAGE
from toolgym.sandboxes.factory import Backend, sandbox_factory
from toolgym.sandboxes.pool import SandboxPool
from toolgym.tools.sandbox import SandboxToolset
from toolgym.types import Budget, Episode, Task

SYSTEM_PROMPT = (
    "You are a software engineer working in a Linux sandbox with Python 3 and no network. Use the tools to "
    "write files, run them and test them. When the requested file is complete and tested, reply with a short "
    "final message and no tool call. Hidden tests will then check the file."
)
MAX_SOLUTION_BYTES = 256_000

HARNESS = r"""
import importlib.util, json, os, signal, sys

class CaseTimeout(BaseException):
    pass

def on_alarm(signum, frame):
    raise CaseTimeout("the case ran out of time")

def describe(exc):
    return (type(exc).__name__ + ": " + str(exc))[:300]

config = json.loads(sys.stdin.read())
nonce = config["nonce"]
records = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr

def emit(record):
    try:
        line = json.dumps(record)
    except (TypeError, ValueError) as exc:
        line = json.dumps({"case": record.get("case"), "error": "the return value is not JSON: " + describe(exc)})
    records.write(nonce + line + "\n")
    records.flush()

signal.signal(signal.SIGALRM, on_alarm)
sys.path.insert(0, os.path.dirname(os.path.abspath(config["file"])))
try:
    signal.setitimer(signal.ITIMER_REAL, config["timeout"])
    spec = importlib.util.spec_from_file_location("solution", config["file"])
    module = importlib.util.module_from_spec(spec)
    sys.modules["solution"] = module
    spec.loader.exec_module(module)
    signal.setitimer(signal.ITIMER_REAL, 0)
    function = getattr(module, config["function"])
except BaseException as exc:
    signal.setitimer(signal.ITIMER_REAL, 0)
    emit({"error": "loading the solution failed: " + describe(exc)})
    raise SystemExit(0)
for index, case in enumerate(config["cases"]):
    try:
        signal.setitimer(signal.ITIMER_REAL, config["timeout"])
        value = function(*case["args"], **case["kwargs"])
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit({"case": index, "value": value})
    except BaseException as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit({"case": index, "error": describe(exc)})
"""
"""Runs in the verifier sandbox: imports the solution, calls it on each case's arguments and writes one
nonce-prefixed JSON record per case to the original stdout (the solution's own prints go to stderr)."""


def values_equal(got: Any, expected: Any, tolerance: float = 0.0) -> bool:
    """JSON values compared strictly: booleans only equal booleans, numbers within ``tolerance``."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is type(expected) and got == expected
    if isinstance(expected, int | float) and isinstance(got, int | float):
        if math.isnan(expected) or math.isnan(got):
            return math.isnan(expected) and math.isnan(got)
        return abs(got - expected) <= tolerance if tolerance else got == expected
    if isinstance(expected, list) and isinstance(got, list):
        return len(got) == len(expected) and all(
            values_equal(g, e, tolerance) for g, e in zip(got, expected, strict=True)
        )
    if isinstance(expected, dict) and isinstance(got, dict):
        return got.keys() == expected.keys() and all(values_equal(got[k], expected[k], tolerance) for k in expected)
    return type(got) is type(expected) and got == expected


def normalize_output(text: str) -> str:
    """Program output as compared: trailing whitespace of each line and trailing blank lines dropped."""
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n")


def parse_records(stdout: str, nonce: str, cases: int) -> tuple[dict[int, Any], str | None]:
    """The harness records in ``stdout``: {case: record} (a case reported twice counts as failed) and a
    load error, if any. Lines without the nonce are the solution's and are ignored."""
    found: dict[int, list[dict[str, Any]]] = {}
    load_error = None
    for line in stdout.splitlines():
        if not line.startswith(nonce):
            continue
        try:
            record = json.loads(line[len(nonce) :])
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        case = record.get("case")
        if case is None and "error" in record:
            load_error = str(record["error"])[:300]
        elif isinstance(case, int) and 0 <= case < cases:
            found.setdefault(case, []).append(record)
    return {
        case: recs[0] if len(recs) == 1 else {"error": "reported twice"} for case, recs in found.items()
    }, load_error


class CodeTestsReward:
    """Fraction of a code task's hidden cases passed, checked in a fresh sandbox from ``pool``.

    Reads the solution from ``episode.metadata["submission"]`` (CodeEnv puts it there). Components:
    ``tests_passed`` and ``tests_total``; success = every case passed. A verifier sandbox that fails
    raises SandboxError (the episode records the error instead of a false score).
    """

    name = "code_tests"

    def __init__(self, pool: SandboxPool) -> None:
        self.pool = pool

    async def score(self, task: Task, episode: Episode) -> Score:
        spec = CodeTests.of(task)
        total = len(spec.cases)
        files = (episode.metadata.get("submission") or {}).get("files") or {}
        source = files.get(spec.solution_file)
        if source is None:
            episode.metadata["verifier"] = {"error": f"{spec.solution_file} was not written"}
            return Score(0.0, {"tests_passed": 0.0, "tests_total": float(total)}, success=False)
        async with self.pool.sandbox() as sandbox:
            await sandbox.write_file(spec.solution_file, source)
            if spec.mode == "function":
                outcomes, errors = await self._run_function(sandbox, spec)
            else:
                outcomes, errors = await self._run_program(sandbox, spec)
        passed = sum(outcomes)
        episode.metadata["verifier"] = {"passed": outcomes, "errors": errors}
        return Score(passed / total, {"tests_passed": float(passed), "tests_total": float(total)}, passed == total)

    async def _run_function(self, sandbox: Sandbox, spec: CodeTests) -> tuple[list[bool], dict[str, str]]:
        nonce = secrets.token_hex(16)
        harness = f"/tmp/harness-{nonce[:8]}.py"
        await sandbox.write_file(harness, HARNESS)
        config = {
            "nonce": nonce,
            "file": spec.solution_file,
            "function": spec.function,
            "timeout": spec.case_timeout,
            "cases": [{"args": c.args, "kwargs": c.kwargs} for c in spec.cases],
        }
        deadline = spec.case_timeout * (len(spec.cases) + 1) + 10
        result = await sandbox.exec(f"python3 {harness}", timeout=deadline, stdin=json.dumps(config))
        records, load_error = parse_records(result.stdout, nonce, len(spec.cases))
        outcomes, errors = [], {}
        for index, case in enumerate(spec.cases):
            record = records.get(index)
            ok = (
                record is not None
                and "value" in record
                and values_equal(record["value"], case.expected, spec.tolerance)
            )
            outcomes.append(ok)
            if not ok:
                errors[str(index)] = _why(record, load_error, result.timed_out)
        return outcomes, errors

    async def _run_program(self, sandbox: Sandbox, spec: CodeTests) -> tuple[list[bool], dict[str, str]]:
        outcomes, errors = [], {}
        command = f"python3 {shlex.quote(spec.solution_file)}"
        for index, case in enumerate(spec.cases):
            result = await sandbox.exec(command, timeout=spec.case_timeout, stdin=case.stdin)
            ok = result.ok and normalize_output(result.stdout) == normalize_output(case.expected)
            outcomes.append(ok)
            if not ok:
                errors[str(index)] = (
                    "timed out" if result.timed_out else f"exit {result.exit_code}, output differs"
                ) + (f": {result.stderr.strip()[-200:]}" if result.stderr.strip() else "")
        return outcomes, errors


def _why(record: dict[str, Any] | None, load_error: str | None, timed_out: bool) -> str:
    if record is None:
        return load_error or ("the tests ran out of time" if timed_out else "no result")
    if "error" in record:
        return str(record["error"])[:300]
    return "wrong result"


class CodeEnv(ToolEnv):
    """Python coding tasks verified by hidden tests in a fresh sandbox.

    Args:
        tasks: a JSONL file of code tasks, a TaskSource or a list of Tasks (default: the built-ins).
        sandbox: ``"docker"``, ``"local"`` or ``"auto"`` (Docker when an engine is reachable).
        image: the Docker image (any local image with bash, GNU coreutils and python3).
        pool: a shared SandboxPool to draw from (the env then does not close it).
        pool_size: warm sandboxes kept ready when the env makes its own pool.
        memory_mb, pids, timeout: sandbox memory and process limits; default command deadline, seconds.
        budget: episode limits (default 20 turns).
    """

    env_name = "code"

    def __init__(
        self,
        tasks: str | Path | TaskSource | Sequence[Task] | None = None,
        *,
        sandbox: Backend = "auto",
        image: str = DEFAULT_IMAGE,
        pool: SandboxPool | None = None,
        pool_size: int = 1,
        memory_mb: int = 512,
        pids: int = 256,
        timeout: float = 30.0,
        budget: Budget | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(tasks, str | Path):
            tasks = load_code_tasks(tasks)
        elif tasks is None:
            tasks = TaskList(BUILTIN_TASKS)
        elif isinstance(tasks, Sequence):
            tasks = TaskList(list(tasks))
        if isinstance(tasks, TaskList):
            for task in tasks.tasks:
                CodeTests.of(task)
                starter_files(task)
        self.owns_pool = pool is None
        if pool is None:
            limits = SandboxLimits(memory_mb=memory_mb, pids=pids)
            pool = SandboxPool(sandbox_factory(sandbox, image=image, limits=limits), size=pool_size)
        self.pool = pool
        self.sandbox_tools = SandboxToolset(timeout=timeout, max_timeout=max(timeout, 60.0))
        self._sandbox: Sandbox | None = None
        kwargs.setdefault("system_prompt", SYSTEM_PROMPT)
        kwargs.setdefault("final_tool", "submit")
        super().__init__(
            toolset=kwargs.pop("toolset", None) or self.sandbox_tools,
            tasks=tasks,
            reward=kwargs.pop("reward", None) or CodeTestsReward(pool),
            budget=budget or Budget(max_turns=20, tool_timeout=max(timeout, 60.0) + 15),
            **kwargs,
        )

    @property
    def sandbox(self) -> Sandbox | None:
        """The current episode's sandbox (None between episodes)."""
        return self._sandbox

    async def areset(
        self, *, task: Task | None = None, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Messages, dict[str, Any]]:
        """Start an episode in a fresh sandbox holding the task's starter files."""
        await self._release()  # an episode abandoned midway
        messages, info = await super().areset(task=task, seed=seed, options=options)
        assert self.task is not None
        CodeTests.of(self.task)
        files = starter_files(self.task)
        sandbox = await self.pool.acquire()
        try:
            for path, content in files.items():
                await sandbox.write_file(path, content)
        except BaseException:
            await self.pool.release(sandbox)
            raise
        self._sandbox = sandbox
        self.sandbox_tools.attach(sandbox)
        return messages, info

    async def on_end(self, episode: Episode) -> None:
        """Copy the solution file out of the agent's sandbox, then destroy that sandbox."""
        sandbox = self._sandbox
        if sandbox is None or self.task is None:
            return
        spec = CodeTests.of(self.task)
        submission: dict[str, Any] = {"files": {}}
        try:
            data = await sandbox.read_file(spec.solution_file, max_bytes=MAX_SOLUTION_BYTES)
            submission["files"][spec.solution_file] = data.decode("utf-8", "replace")
        except SandboxFileError as exc:
            submission["missing"] = str(exc)
        except SandboxError as exc:
            # The agent's own commands can break its sandbox, so a broken sandbox scores as no solution
            # (0) rather than voiding the episode: crashing must never be a way out of a low score.
            submission["missing"] = f"the agent's sandbox failed: {exc}"
            episode.metadata["sandbox_error"] = str(exc)
        finally:
            await self._release()
        episode.metadata["submission"] = submission

    async def _release(self) -> None:
        sandbox, self._sandbox = self._sandbox, None
        self.sandbox_tools.attach(None)
        if sandbox is not None:
            await self.pool.release(sandbox)

    async def aclose(self) -> None:
        await self._release()
        if self.owns_pool:
            await self.pool.aclose()
        await super().aclose()
