"""SimulatedToolset against a scripted simulator endpoint on 127.0.0.1: state across calls, argument checks,
seeded failures and edge cases, and simulator failures turned into tool errors."""

from __future__ import annotations

import contextlib
import json
import re

import pytest

from toolgym.agents.openai_policy import OpenAIPolicy
from toolgym.testing.openai_server import Reply, ScriptedOpenAIServer
from toolgym.tools.base import ToolArgumentsError, ToolError, UnknownToolError
from toolgym.tools.simulated import EDGE_CASES, FAILURES, SimulatedToolset
from toolgym.types import ToolSpec

NOTES = [
    ToolSpec(
        name="add_note",
        description="Store a note and return its id.",
        parameters={
            "type": "object",
            "properties": {"text": {"type": "string"}, "pinned": {"type": "boolean"}},
            "required": ["text"],
        },
    ),
    ToolSpec(name="list_notes", description="All stored notes.", parameters={"type": "object", "properties": {}}),
]


def notes_simulator(request: dict) -> Reply:
    """Plays the notes app from what the prompt says happened earlier in the session."""
    prompt = request["messages"][-1]["content"]
    call = re.search(r"New call: (\w+)\((.*)\)", prompt)
    name, args = call.group(1), json.loads(call.group(2))
    earlier = re.findall(r"- add_note\((.*?)\) -> ok", prompt)
    if name == "add_note":
        result = {"id": len(earlier) + 1, "text": args["text"]}
    else:
        result = [json.loads(a)["text"] for a in earlier]
    if "return an edge case" in prompt:
        result = []
    return Reply(content=json.dumps({"status": "ok", "result": result}))


def toolset(server: ScriptedOpenAIServer, **kw) -> SimulatedToolset:
    policy = OpenAIPolicy("sim", base_url=server.base_url, max_retries=0, timeout=5)
    return SimulatedToolset(NOTES, policy, behaviours={"add_note": "Rejects empty text."}, context="a notes app", **kw)


async def test_state_carries_across_calls_and_resets_per_episode() -> None:
    with ScriptedOpenAIServer(notes_simulator) as server:
        tools = toolset(server)
        first = await tools.call("add_note", {"text": "buy milk"})
        second = await tools.call("add_note", {"text": "call mom", "pinned": True})
        listing = await tools.call("list_notes", {})
        assert json.loads(first.content) == {"id": 1, "text": "buy milk"}
        assert json.loads(second.content)["id"] == 2
        assert json.loads(listing.content) == ["buy milk", "call mom"] and listing.structured == [
            "buy milk",
            "call mom",
        ]
        prompt = server.requests[2]["messages"]
        assert "a notes app" in prompt[0]["content"] and "Stated behaviour" not in prompt[1]["content"]
        assert "Stated behaviour: Rejects empty text." in server.requests[0]["messages"][1]["content"]
        assert server.requests[0]["response_format"]["json_schema"]["name"] == "tool_result"
        await tools.on_episode_start()  # a new episode starts with no state
        assert json.loads((await tools.call("list_notes", {})).content) == []
    assert tools.stats.requests == 4


async def test_arguments_are_checked_before_the_simulator_is_asked() -> None:
    with ScriptedOpenAIServer(notes_simulator) as server:
        tools = toolset(server)
        with pytest.raises(ToolArgumentsError, match="'text' is a required property"):
            await tools.call("add_note", {"pinned": True})
        with pytest.raises(ToolArgumentsError, match="pinned: 'yes' is not of type 'boolean'"):
            await tools.call("add_note", {"text": "x", "pinned": "yes"})
        with pytest.raises(UnknownToolError):
            await tools.call("delete_note", {})
        assert server.request_count == 0


async def test_seeded_failures_and_edge_cases_are_reproducible() -> None:
    with ScriptedOpenAIServer(notes_simulator) as server:
        always = toolset(server, failure_rate=1.0)
        with pytest.raises(ToolError) as info:
            await always.call("list_notes", {})
        assert info.value.kind == "simulated_failure" and str(info.value) in FAILURES
        assert server.request_count == 0  # a failure costs no request

        async def statuses(seed: int) -> list[str]:
            tools = toolset(server, failure_rate=0.4, seed=seed)
            for _ in range(12):
                with contextlib.suppress(ToolError):
                    await tools.call("list_notes", {})
            return [c.status for c in tools.calls]

        first = await statuses(1)
        assert first == await statuses(1)  # the same seed fails the same calls
        assert "error" in first and "ok" in first
        edgy = toolset(server, edge_case_rate=1.0)
        assert json.loads((await edgy.call("add_note", {"text": "x"})).content) == []
        assert any(edge in server.requests[-1]["messages"][1]["content"] for edge in EDGE_CASES)


async def test_simulator_failures_become_tool_errors() -> None:
    garbage = ScriptedOpenAIServer.from_replies(["I am a tool!", "still not json"])
    with garbage as server:
        tools = toolset(server, attempts=2)
        with pytest.raises(ToolError, match="the tool service failed") as info:
            await tools.call("list_notes", {})
        assert info.value.kind == "simulator_error" and server.request_count == 2
    error_reply = Reply(content=json.dumps({"status": "error", "result": "note store is read-only"}))
    with ScriptedOpenAIServer.from_replies([error_reply]) as server:
        out = await toolset(server).call("add_note", {"text": "x"})
        assert out.is_error and out.content == "note store is read-only"
    dead = SimulatedToolset(NOTES, OpenAIPolicy("sim", base_url="http://127.0.0.1:9/v1", max_retries=0), attempts=1)
    with pytest.raises(ToolError, match="request failed"):
        await dead.call("list_notes", {})
    with pytest.raises(ValueError):
        SimulatedToolset([NOTES[0], NOTES[0]], dead.policy)
