"""SearchEnv end to end: scripted policies that really search, open and answer (local index, Search-R1
retriever, tag protocol), the LLM judge, budgets, bad configuration, `toolgym eval search`, and the
real local model (format and bookkeeping only)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.search.corpus import build_test_index
from toolgym.agents.policy import Generation
from toolgym.agents.rollout import rollout
from toolgym.agents.runner import Runner
from toolgym.envs.search_env import SearchEnv
from toolgym.search.index import SearchIndex, SearchIndexError
from toolgym.search.qa import QAFileError
from toolgym.search.server import RetrievalServer
from toolgym.testing.openai_server import Reply, ScriptedOpenAIServer
from toolgym.types import Episode, StopReason

QUESTIONS = [
    {"id": "capital", "question": "What is the capital of Zubrowka?", "answers": ["Lutz"]},
    {"id": "currency", "question": "What is the currency of Zubrowka?", "answers": ["klubeck", "the klubeck"]},
    {"id": "eruption", "question": "In which year did Mount Ember last erupt?", "answers": ["1907"]},
    {"id": "bridges", "question": "How many bridges did the council of Lutz build in year 1805?", "answers": ["7"]},
]
PATTERNS = {  # how the scripted reader finds each answer in the text it opened
    "capital": r"capital of Zubrowka is (\w+)",
    "currency": r"currency of Zubrowka is the (\w+)",
    "eruption": r"last erupted in (\d{4})",
    "bridges": r"In year 1805 the council of Lutz met \d+ times and built (\d+) bridges",
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> SearchIndex:
    return build_test_index(tmp_path_factory.mktemp("env-index"))


@pytest.fixture(scope="module")
def qa_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("qa") / "qa.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    return path


def next_step(messages: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The scripted reader: search the question, open the best hit, read the answer out of it."""
    first = next(m for m in messages if m["role"] == "user")
    question = next(q for q in QUESTIONS if q["question"] in first["content"])
    last = messages[-1]
    if last is first:
        return "search", {"query": question["question"]}
    if "results for" in last["content"]:
        return "open", {"id": re.search(r"id: (\S+)", last["content"]).group(1)}
    return "answer", {"answer": re.search(PATTERNS[question["id"]], last["content"]).group(1)}


class ScriptedReader:
    """Calls the tools natively (OpenAI tool_calls); answers with the answer tool or as plain text."""

    name = "scripted-reader"

    def __init__(self, answer_as_text: bool = False) -> None:
        self.answer_as_text = answer_as_text

    async def generate(self, messages, tools=None, sampling=None) -> Generation:
        assert tools is not None and {t["function"]["name"] for t in tools} >= {"search", "open"}
        tool, args = next_step(messages)
        if tool == "answer" and self.answer_as_text:
            return Generation(message={"role": "assistant", "content": args["answer"]}, completion_tokens=2)
        call = {
            "id": f"c{len(messages)}",
            "type": "function",
            "function": {"name": tool, "arguments": json.dumps(args)},
        }
        return Generation(
            message={"role": "assistant", "content": None, "tool_calls": [call]},
            prompt_tokens=100,
            completion_tokens=10,
        )

    async def aclose(self) -> None:
        pass


class TagReader(ScriptedReader):
    """The same reader speaking the Search-R1 tag protocol in plain text."""

    async def generate(self, messages, tools=None, sampling=None) -> Generation:
        assert not tools  # the prompt teaches the tags; no native tools are offered
        assert all(m["role"] in ("user", "assistant") and "tool_calls" not in m for m in messages)
        last = messages[-1]
        if last["content"].startswith("<information>"):  # unwrap for the shared script
            messages = [*messages[:-1], {**last, "content": last["content"].removeprefix("<information>")}]
        tool, args = next_step(messages)
        text = {"search": "<search>{}</search>", "open": "<open>{}</open>", "answer": "<answer>{}</answer>"}[tool]
        return Generation(message={"role": "assistant", "content": "<think>...</think>" + text.format(*args.values())})


async def test_scripted_agent_searches_opens_and_answers(index: SearchIndex, qa_file: Path, tmp_path: Path) -> None:
    runner = Runner(lambda: SearchEnv(index.path, qa_file), ScriptedReader(), concurrency=2, out=tmp_path / "run.jsonl")
    summary = await runner.arun(SearchEnv(index.path, qa_file).tasks.take(10))
    assert summary.episodes == 4 and summary.success_rate == 1.0
    assert summary.components == {"em": 1.0, "f1": 1.0}
    assert summary.tool_calls_by_name == {"open": 1.0, "search": 1.0}  # the answer tool ends the episode
    assert summary.mean_turns == 3.0 and summary.stop_reasons == {"final_tool": 4}
    episodes = {e.task_id: e for e in runner.episodes}
    assert episodes["bridges"].final_answer == "7" and episodes["bridges"].reward == 1.0
    opened = episodes["bridges"].turns[1].tool_results[0]
    assert opened.name == "open" and "page 1 of 1" in opened.content


async def test_the_answer_may_be_the_final_message(index: SearchIndex, qa_file: Path) -> None:
    env = SearchEnv(str(index.path), str(qa_file), answer_tool=False, max_turns=5)
    episode = await rollout(env, ScriptedReader(answer_as_text=True), env.tasks.take(1)[0])
    assert episode.stop_reason is StopReason.ANSWER and episode.reward_components == {"em": 1.0, "f1": 1.0}
    assert "answer" not in {t["function"]["name"] for t in env.tools}
    await env.aclose()


async def test_turn_budget_truncates(index: SearchIndex, qa_file: Path) -> None:
    env = SearchEnv(index.path, qa_file, max_turns=2)
    episode = await rollout(env, ScriptedReader(), env.tasks.take(1)[0])
    assert episode.truncated and episode.stop_reason is StopReason.MAX_TURNS and episode.usage.turns == 2
    assert episode.reward == 0.0 and episode.reward_components == {"em": 0.0, "f1": 0.0}
    big = SearchEnv(index.path, qa_file, max_turns=128, max_tool_calls=1)
    assert big.budget.max_turns == 128 and big.budget.max_tool_calls == 1
    episode = await rollout(big, ScriptedReader(), big.tasks.take(1)[0])
    assert episode.stop_reason is StopReason.MAX_TOOL_CALLS


async def test_tag_protocol_episode_is_plain_text(index: SearchIndex, qa_file: Path) -> None:
    env = SearchEnv(index.path, qa_file, protocol="tags")
    task = env.tasks.take(4)[3]
    assert task.prompt[0].content.endswith("Question: " + QUESTIONS[3]["question"])
    episode = await rollout(env, TagReader(), task)
    assert episode.reward == 1.0 and episode.final_answer == "7"
    assert [m["role"] for m in episode.messages] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert episode.messages[1]["content"].startswith("<think>...</think><search>")
    assert episode.messages[2]["content"].startswith("<information>")
    assert [r.name for t in episode.turns for r in t.tool_results] == ["search", "open"]


async def test_tag_protocol_invalid_action_gets_the_hint(index: SearchIndex, qa_file: Path) -> None:
    env = SearchEnv(index.path, qa_file, protocol="tags", max_turns=3)
    await env.areset(task=env.tasks.take(1)[0])
    obs, _, terminated, truncated, _ = await env.astep("I would rather not use tags.")
    assert not (terminated or truncated) and obs[-1]["content"].startswith("My previous action is invalid.")
    obs, reward, terminated, *_ = await env.astep("<answer>Lutz</answer>")
    assert terminated and reward == 1.0


async def test_retriever_backed_env(index: SearchIndex, qa_file: Path) -> None:
    with RetrievalServer(index) as server:
        env = SearchEnv(retriever_url=server.url, qa=qa_file)
        episodes = [await rollout(env, ScriptedReader(), task) for task in env.tasks.take(4)]
        await env.aclose()
    assert [e.reward for e in episodes] == [1.0] * 4


async def test_unreachable_retriever_is_survived(qa_file: Path) -> None:
    env = SearchEnv(retriever_url="http://127.0.0.1:9/retrieve", qa=qa_file, max_turns=1)
    episode = await rollout(env, ScriptedReader(), env.tasks.take(1)[0])
    result = episode.turns[0].tool_results[0]
    assert result.is_error and result.error_kind == "backend_unavailable" and episode.error is None
    assert episode.stop_reason is StopReason.MAX_TURNS
    await env.aclose()


async def test_judge_grades_through_the_env(index: SearchIndex, qa_file: Path) -> None:
    async with ScriptedOpenAIServer.from_replies(["correct: yes", "nothing useful"]) as judge:
        env = SearchEnv(index.path, qa_file, judge_model="judge", judge_base_url=judge.base_url)
        tasks = env.tasks.take(2)
        first = await rollout(env, ScriptedReader(), tasks[0])
        second = await rollout(env, ScriptedReader(), tasks[1])  # the judge never gives a verdict again
        await env.aclose()
    assert first.reward_components == {"em": 1.0, "f1": 1.0, "judge": 1.0, "judge_error": 0.0}
    assert first.reward == 1.0
    assert second.reward_components == {"em": 1.0, "f1": 1.0, "judge": 0.0, "judge_error": 1.0}
    assert second.reward == 0.0 and second.error is None
    assert judge.request_count == 1 + 3


def test_bad_configuration_fails_clearly(index: SearchIndex, qa_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of index"):
        SearchEnv(qa=qa_file)
    with pytest.raises(ValueError, match="exactly one of index"):
        SearchEnv(index.path, qa_file, retriever_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="protocol must be"):
        SearchEnv(index.path, qa_file, protocol="xml")
    with pytest.raises(SearchIndexError, match="no such folder"):
        SearchEnv(tmp_path / "missing", qa_file)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "question": "q"}\n')
    with pytest.raises(QAFileError, match=r"bad\.jsonl:1: field 'answers'"):
        SearchEnv(index.path, bad)
    env = SearchEnv(index, [{"question": "Capital?", "answers": ["Lutz"]}])  # a loaded index works too
    assert env.tasks.take(1)[0].id == "q0" and env.toolset.backend.index is index


def openai_reader(request: dict[str, Any]) -> Reply:
    """The scripted reader behind an OpenAI-compatible endpoint (real HTTP, as `toolgym eval` uses it)."""
    tool, args = next_step(request["messages"])
    return Reply(tool_calls=[{"name": tool, "arguments": args}])


def test_toolgym_eval_search_and_report_over_budgets(index: SearchIndex, qa_file: Path, tmp_path: Path) -> None:
    from toolgym.cli import run
    from toolgym.envs import ENVS, register_env

    if "search" not in ENVS:
        register_env("search", "toolgym.envs.search_env:SearchEnv", "Question answering by searching a corpus.")
    app = typer.Typer()
    app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(run.eval_)
    app.command()(run.report)
    runs = []
    with ScriptedOpenAIServer(openai_reader) as server:
        for turns in (2, 3):
            out = tmp_path / f"turns{turns}.jsonl"
            args = ["eval", "search", "--index", str(index.path), "--qa", str(qa_file), "--max-turns", str(turns)]
            args += ["--n", "4", "--base-url", server.base_url, "--model", "reader", "--out", str(out)]
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
            assert "mean em" in result.output and "mean search calls" in result.output
            runs.append(str(out))
    result = CliRunner().invoke(app, ["report", *runs, "--plot", str(tmp_path / "budget.png"), "--metric", "em"])
    assert result.exit_code == 0, result.output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines() if "│ turn" in line]
    assert [(row[1], row[3]) for row in rows] == [("2", "0.000"), ("3", "1.000")]  # budget, EM: sorted by budget
    assert (tmp_path / "budget.png").stat().st_size > 10_000


def check_books(episode: Episode) -> None:
    assert episode.error is None and episode.done and episode.model.startswith("local:")
    assert 1 <= episode.usage.turns <= 2 and len(episode.turns) == episode.usage.turns
    assert episode.stop_reason in (StopReason.ANSWER, StopReason.FINAL_TOOL, StopReason.MAX_TURNS)
    assert episode.usage.completion_tokens > 0 and episode.usage.prompt_tokens > 0
    assert not any(t.extra.get("tokens_estimated") for t in episode.turns)  # counted by the tokenizer
    assert episode.usage.completion_tokens == sum(t.completion_tokens for t in episode.turns)
    for turn in episode.turns:
        calls = turn.action.get("tool_calls") or []
        assert len(turn.tool_results) == len([c for c in calls if c["function"]["name"] != "answer"])
    assert set(episode.reward_components) == {"em", "f1"}
    assert all(0.0 <= v <= 1.0 for v in episode.reward_components.values())


@pytest.mark.model
async def test_local_model_episodes_keep_their_books(index: SearchIndex, qa_file: Path) -> None:
    """One short episode per protocol with the real local model: format and bookkeeping, not accuracy."""
    from toolgym.agents.local_policy import LocalPolicy
    from toolgym.agents.policy import Sampling

    policy = LocalPolicy()
    try:
        for protocol in ("tools", "tags"):
            env = SearchEnv(index.path, qa_file, protocol=protocol, max_turns=2)
            episode = await rollout(env, policy, env.tasks.take(1)[0], sampling=Sampling(max_tokens=40))
            await env.aclose()
            check_books(episode)
            if protocol == "tags":
                assert all("tool_calls" not in m for m in episode.messages)
    finally:
        await policy.aclose()
