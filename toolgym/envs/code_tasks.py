"""Code tasks: the hidden-test spec a task carries, loading task files, and the built-in tasks.

A code task is an ordinary :class:`~toolgym.types.Task` whose ``scoring.params`` hold a
:class:`CodeTests` spec (the hidden cases) and whose ``metadata["files"]`` may hold starter files
written into the sandbox at reset. The agent sees only the prompt and the starter files.
"""

from __future__ import annotations

import json
import keyword
import posixpath
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from toolgym.envs.tasks import TaskFileError, TaskList, load_tasks
from toolgym.errors import first_error
from toolgym.types import Message, Scoring, Task

CODE_REWARD = "code_tests"


class CodeCase(BaseModel):
    """One hidden case: call arguments (function mode) or stdin (program mode), and the expected result."""

    model_config = ConfigDict(extra="forbid")

    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    stdin: str = ""
    expected: Any = Field(description="the return value (JSON), or the program's expected stdout")


class CodeTests(BaseModel):
    """How a code task is verified.

    ``function`` mode imports ``solution_file`` and calls ``function`` on each case; ``program`` mode
    runs ``python3 solution_file`` with each case's stdin and compares stdout (trailing whitespace of
    lines and trailing blank lines ignored). Expected values never enter a sandbox: the host compares.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["function", "program"] = "function"
    solution_file: str = "solution.py"
    function: str | None = None
    cases: list[CodeCase] = Field(min_length=1)
    case_timeout: float = Field(default=5.0, gt=0, le=120)
    tolerance: float = Field(default=0.0, ge=0, description="absolute tolerance when comparing numbers")

    @model_validator(mode="after")
    def _check(self) -> CodeTests:
        path = self.solution_file
        if not path or path.startswith("/") or "\n" in path or ".." in posixpath.normpath(path).split("/"):
            raise ValueError(f"solution_file must be a relative path inside the work dir, got {path!r}")
        if self.mode == "function":
            if not self.function or not self.function.isidentifier() or keyword.iskeyword(self.function):
                raise ValueError("function mode needs 'function': the name of the function to call")
            if not path.endswith(".py"):
                raise ValueError(f"function mode imports solution_file, which must end in .py, got {path!r}")
        elif any(not isinstance(case.expected, str) for case in self.cases):
            raise ValueError("program mode compares stdout: every case's 'expected' must be a string")
        return self

    @classmethod
    def of(cls, task: Task) -> CodeTests:
        """The spec in ``task.scoring.params``; ValueError naming the task and the field otherwise."""
        try:
            return cls.model_validate(task.scoring.params)
        except ValidationError as exc:
            field, message = first_error(exc)
            where = f"scoring.params.{field}" if field else "scoring.params"
            raise ValueError(f"task {task.id!r}: {where}: {message}") from None


def starter_files(task: Task) -> dict[str, str]:
    """The files written into the sandbox before the agent starts (``metadata["files"]``)."""
    files = task.metadata.get("files") or {}
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ValueError(f"task {task.id!r}: metadata.files must map relative paths to text")
    return files


def load_code_tasks(path: str | Path) -> TaskList:
    """Code tasks from JSONL; a bad line is named with its file, line and field."""
    tasks = load_tasks(path)
    lines = [n for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    for task, lineno in zip(tasks.tasks, lines, strict=True):
        try:
            CodeTests.of(task)
            starter_files(task)
        except ValueError as exc:
            raise TaskFileError(f"{path}:{lineno}: {exc}") from None
    return tasks


def code_task(
    task_id: str, prompt: str, tests: dict[str, Any], files: dict[str, str] | None = None, **metadata: Any
) -> Task:
    """A code task from its prompt and its hidden-test spec (validated)."""
    task = Task(
        id=task_id,
        prompt=[Message(role="user", content=prompt)],
        scoring=Scoring(reward=CODE_REWARD, params=tests),
        metadata={"domain": "code", **metadata, **({"files": files} if files else {})},
    )
    CodeTests.of(task)
    return task


def _function_task(task_id: str, function: str, prompt: str, cases: list[tuple[list[Any], Any]], **kw: Any) -> Task:
    text = (
        f"{prompt}\n\nWrite the function `{function}` in the file `solution.py` in your working directory. "
        "Test it, then reply that you are done."
    )
    spec = {"function": function, "cases": [{"args": a, "expected": e} for a, e in cases]}
    return code_task(task_id, text, spec, **kw)


BUILTIN_TASKS: list[Task] = [
    _function_task(
        "code-fizzbuzz",
        "fizzbuzz",
        "`fizzbuzz(n: int) -> list[str]` returns the strings for 1..n: 'Fizz' for multiples of 3, 'Buzz' for "
        "multiples of 5, 'FizzBuzz' for multiples of both, else the number. Example: fizzbuzz(5) == "
        "['1', '2', 'Fizz', '4', 'Buzz'].",
        [
            ([0], []),
            ([1], ["1"]),
            ([3], ["1", "2", "Fizz"]),
            (
                [15],
                ["1", "2", "Fizz", "4", "Buzz", "Fizz", "7", "8", "Fizz", "Buzz", "11", "Fizz", "13", "14", "FizzBuzz"],
            ),
            (
                [16],
                [
                    "1",
                    "2",
                    "Fizz",
                    "4",
                    "Buzz",
                    "Fizz",
                    "7",
                    "8",
                    "Fizz",
                    "Buzz",
                    "11",
                    "Fizz",
                    "13",
                    "14",
                    "FizzBuzz",
                    "16",
                ],
            ),
        ],
        difficulty=1,
    ),
    _function_task(
        "code-palindrome",
        "is_palindrome",
        "`is_palindrome(text: str) -> bool` says whether `text` reads the same backwards, looking only at "
        "letters and digits and ignoring case. Example: is_palindrome('A man, a plan, a canal: Panama') is True.",
        [
            (["A man, a plan, a canal: Panama"], True),
            (["race a car"], False),
            ([""], True),
            (["!!"], True),
            (["No 'x' in Nixon"], True),
            (["0P"], False),
            (["Was it a car or a cat I saw?"], True),
            (["ab"], False),
        ],
        difficulty=1,
    ),
    _function_task(
        "code-roman",
        "roman_to_int",
        "`roman_to_int(numeral: str) -> int` converts a Roman numeral (I, V, X, L, C, D, M, with subtractive "
        "pairs such as IV and CM) to an integer. Example: roman_to_int('XIV') == 14.",
        [(["III"], 3), (["IV"], 4), (["IX"], 9), (["LVIII"], 58), (["MCMXCIV"], 1994), (["MMMCMXCIX"], 3999)],
        difficulty=2,
    ),
    _function_task(
        "code-merge-intervals",
        "merge_intervals",
        "`merge_intervals(intervals: list[list[int]]) -> list[list[int]]` merges overlapping or touching closed "
        "intervals [start, end] and returns them sorted by start. The input may be unsorted. Example: "
        "merge_intervals([[1, 3], [8, 10], [2, 6]]) == [[1, 6], [8, 10]].",
        [
            ([[[1, 3], [8, 10], [2, 6]]], [[1, 6], [8, 10]]),
            ([[]], []),
            ([[[5, 5]]], [[5, 5]]),
            ([[[1, 2], [2, 3]]], [[1, 3]]),
            ([[[1, 10], [2, 3], [4, 5]]], [[1, 10]]),
            ([[[7, 9], [1, 2], [4, 5]]], [[1, 2], [4, 5], [7, 9]]),
            ([[[-3, -1], [-2, 4], [6, 8]]], [[-3, 4], [6, 8]]),
        ],
        difficulty=2,
    ),
    _function_task(
        "code-word-frequencies",
        "word_frequencies",
        "`word_frequencies(text: str) -> dict[str, int]` counts the words of `text`, where a word is a run of "
        "letters a-z after lower-casing (everything else separates words). Example: "
        "word_frequencies('The cat; the HAT.') == {'the': 2, 'cat': 1, 'hat': 1}.",
        [
            (["The cat; the HAT."], {"the": 2, "cat": 1, "hat": 1}),
            ([""], {}),
            (["123 !!"], {}),
            (["don't stop"], {"don": 1, "t": 1, "stop": 1}),
            (["a a a b"], {"a": 3, "b": 1}),
            (["Mixed-CASE mixed case"], {"mixed": 2, "case": 2}),
        ],
        difficulty=2,
    ),
    _function_task(
        "code-flatten",
        "flatten",
        "`flatten(nested: list) -> list` returns the non-list items of an arbitrarily nested list, in order. "
        "Example: flatten([1, [2, [3, 4]], 5]) == [1, 2, 3, 4, 5].",
        [
            ([[1, [2, [3, 4]], 5]], [1, 2, 3, 4, 5]),
            ([[]], []),
            ([[[], [[]]]], []),
            ([[["a"], ["b", ["c"]]]], ["a", "b", "c"]),
            ([[[[[[[1]]]]], 2]], [1, 2]),
            ([[None, [True, [0.5]]]], [None, True, 0.5]),
        ],
        difficulty=2,
    ),
    _function_task(
        "code-run-length",
        "run_length_encode",
        "`run_length_encode(text: str) -> str` replaces each run of a repeated character by the character "
        "followed by the run's length. Example: run_length_encode('aaabcc') == 'a3b1c2'.",
        [
            (["aaabcc"], "a3b1c2"),
            ([""], ""),
            (["a"], "a1"),
            (["abc"], "a1b1c1"),
            (["zzzzzzzzzzzz"], "z12"),
            (["aabbaa"], "a2b2a2"),
            (["  x"], " 2x1"),
        ],
        difficulty=1,
    ),
    code_task(
        "code-stats-program",
        "Write a Python program `stats.py` in your working directory. It reads integers from standard "
        "input, one per line (ignore blank lines), and prints one line: their sum, minimum and maximum "
        "separated by single spaces. With no integers it prints `empty`. Example: input lines 3, 1, 2 "
        "give `6 1 3`. Test it, then reply that you are done.",
        {
            "mode": "program",
            "solution_file": "stats.py",
            "cases": [
                {"stdin": "3\n1\n2\n", "expected": "6 1 3"},
                {"stdin": "", "expected": "empty"},
                {"stdin": "\n\n", "expected": "empty"},
                {"stdin": "-5\n", "expected": "-5 -5 -5"},
                {"stdin": "10\n\n-2\n7", "expected": "15 -2 10"},
                {"stdin": "1000000000000\n1\n", "expected": "1000000000001 1 1000000000000"},
            ],
        },
        difficulty=1,
    ),
]
"""Eight small Python tasks (seven functions, one stdin/stdout program), five to eight hidden cases each."""


def dump_tasks(tasks: list[Task], path: str | Path) -> None:
    """Write tasks as JSONL (e.g. the built-ins, as a template for your own task file)."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for task in tasks:
            fh.write(json.dumps(task.model_dump(exclude_none=True), ensure_ascii=False) + "\n")
