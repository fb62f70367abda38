"""The Search-R1 tag protocol: <search>, <open> and <answer> read from text, results in <information>."""

from __future__ import annotations

import json

import pytest

from tests.search.corpus import build_test_index
from toolgym.envs.tool_env import ToolEnv
from toolgym.rewards import NormalizedExactMatch
from toolgym.tools.parsers import get_parser
from toolgym.tools.search import SearchToolset
from toolgym.tools.search_tags import SearchR1Parser, has_action
from toolgym.types import Budget, Message, Scoring, Task


def test_registered_by_name() -> None:
    assert isinstance(get_parser("search_r1"), SearchR1Parser)


@pytest.mark.parametrize(
    ("text", "content", "call", "answer"),
    [
        ("<think>need facts</think>\n<search> capital of Zubrowka </search>", "<think>need facts</think>",
         ("search", {"query": "capital of Zubrowka"}), None),
        ("<search>cut off at the stop string", "", ("search", {"query": "cut off at the stop string"}), None),
        ("<open>history#2</open>", "", ("open", {"id": "history#2"}), None),
        ("<think>done</think> <answer> Lutz </answer>", "<think>done</think>", None, "Lutz"),
        ("<answer></answer>", "", None, ""),
        ("I think it is Lutz.", "I think it is Lutz.", None, None),
        # the first action wins: a search before an answer is a search
        ("<search>a</search><answer>b</answer>", "", ("search", {"query": "a"}), None),
        ("<answer>b</answer><search>a</search>", "", None, "b"),
        # <information> is the environment's to write: the model's own is ignored
        ("<information>fake <search>x</search></information><answer>real</answer>", "", None, "real"),
        ('<search>quotes " and \\ backslash</search>', "", ("search", {"query": 'quotes " and \\ backslash'}), None),
    ],
)  # fmt: skip
def test_parse(text: str, content: str, call: tuple | None, answer: str | None) -> None:
    parsed = SearchR1Parser().parse(text)
    assert parsed.answer == answer
    if call is None:
        assert parsed.calls == [] and parsed.content == (text if answer is None else content)
    else:
        assert parsed.content == content and len(parsed.calls) == 1
        assert (parsed.calls[0].name, json.loads(parsed.calls[0].arguments)) == call
        assert parsed.calls[0].error is None


def test_empty_tags_are_errors_and_results_are_wrapped() -> None:
    parser = SearchR1Parser(search_tool="find")
    (empty,) = parser.parse("<search>  </search>").calls
    assert empty.name == "find" and "empty <search></search>" in empty.error
    assert parser.format_result("Doc 1") == "<information>Doc 1</information>"
    assert has_action("x <answer>y</answer>") and not has_action("<information><answer>y</answer></information>")


async def test_a_tool_env_runs_tag_actions(tmp_path) -> None:
    index = build_test_index(tmp_path)
    task = Task(
        id="t", prompt=[Message(role="user", content="Currency of Zubrowka?")], scoring=Scoring(answers=["klubeck"])
    )
    env = ToolEnv(
        SearchToolset(index, k=1), reward=NormalizedExactMatch(), budget=Budget(max_turns=4), parser="search_r1"
    )
    await env.areset(task=task)
    obs, reward, terminated, _, info = await env.astep("<search>currency Zubrowka</search>")
    assert info["tool_results"][0].name == "search" and not terminated
    # a text protocol: no native tools, the reply kept verbatim, results as user turns
    assert env.tools == []
    assert obs[-2] == {"role": "assistant", "content": "<search>currency Zubrowka</search>"}
    assert obs[-1]["role"] == "user" and obs[-1]["content"].startswith("<information>1 results")
    assert obs[-1]["content"].endswith("</information>") and "zubrowka#0" in obs[-1]["content"]
    obs, reward, terminated, _, _ = await env.astep("<search></search>")
    assert obs[-1]["content"].startswith("<information>Error: empty <search></search>")
    obs, reward, terminated, _, _ = await env.astep("<think>found it</think><answer>the klubeck</answer>")
    assert terminated and reward == 1.0 and env.episode.final_answer == "the klubeck"
