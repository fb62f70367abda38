"""RubricReward: parsing the judge's verdicts (malformed ones included), weighing them, and judging episodes
through a scripted judge endpoint on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from toolgym.agents.openai_policy import OpenAIPolicy
from toolgym.agents.structured import schema_error
from toolgym.rewards.base import evaluate
from toolgym.rewards.rubric import (
    Criterion,
    JudgeError,
    Rubric,
    RubricReward,
    judge_messages,
    judgment_schema,
    parse_verdicts,
    transcript,
    weigh,
)
from toolgym.testing.openai_server import Reply, ScriptedOpenAIServer
from toolgym.types import Episode, Message, StopReason, Task

RUBRIC = Rubric(
    criteria=[
        Criterion(id="s1", description="books the 9:00 flight", weight=2.0, required=True),
        Criterion(id="c1", description="checks seat availability first", weight=1.0),
        Criterion(id="c2", description="confirms with the user", weight=1.0),
    ],
    expected_tools=["search_flights", "book_flight"],
    pass_threshold=0.6,
)


def task() -> Task:
    return Task(
        id="t1",
        prompt=[Message(role="system", content="You book flights."), Message(role="user", content="Book the 9:00.")],
        metadata={"rubric": RUBRIC.model_dump()},
    )


def episode() -> Episode:
    call = {"id": "c", "type": "function", "function": {"name": "book_flight", "arguments": '{"flight": "9:00"}'}}
    return Episode(
        task_id="t1",
        messages=[
            {"role": "system", "content": "secret system prompt"},
            {"role": "user", "content": "Book the 9:00."},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c", "content": '{"booked": true}'},
            {"role": "assistant", "content": "Booked the 9:00 flight."},
        ],
        final_answer="Booked the 9:00 flight.",
        stop_reason=StopReason.ANSWER,
        terminated=True,
    )


def verdict(cid: str, met: bool, score: float | None = None, reason: str = "because") -> dict:
    item = {"id": cid, "met": met, "reason": reason}
    if score is not None:
        item["score"] = score
    return item


def keyed(*verdicts: dict) -> dict:
    """The reply shape the judge is asked for: verdicts keyed by criterion id."""
    return {"criteria": {v["id"]: {k: x for k, x in v.items() if k != "id"} for v in verdicts}, "summary": "ok"}


def test_parse_verdicts_in_rubric_order_with_default_scores() -> None:
    value = {"criteria": [verdict("c2", False), verdict("s1", True), verdict("c1", True, 0.5)]}
    parsed = parse_verdicts(value, RUBRIC)
    assert [(v.id, v.met, v.score) for v in parsed] == [("s1", True, 1.0), ("c1", True, 0.5), ("c2", False, 0.0)]
    assert parse_verdicts(keyed(verdict("c2", False), verdict("s1", True), verdict("c1", True, 0.5)), RUBRIC) == parsed


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "must be an object with 'criteria'"),
        ({"criteria": "all good"}, "must be an object with 'criteria'"),
        ({"criteria": {"s1": "met"}}, r"criteria\[0\] is not an object"),
        ({"criteria": ["s1"]}, r"criteria\[0\] is not an object"),
        ({"criteria": [verdict("s9", True)]}, "unknown id 's9'"),
        ({"criteria": [verdict("s1", True), verdict("s1", False)]}, "judged twice"),
        ({"criteria": [{"id": "s1", "met": "yes", "reason": "r"}]}, "'met' must be true or false"),
        ({"criteria": [verdict("s1", True, 1.5)]}, r"'score' must be a number in \[0, 1\]"),
        ({"criteria": [verdict("s1", False, 1)]}, "'met' is false but 'score' is 1"),
        ({"criteria": [verdict("s1", True, 0)]}, "'met' is true but 'score' is 0"),
        ({"criteria": [verdict("s1", True, reason=" ")]}, "a 'reason' is required"),
        ({"criteria": [verdict("s1", True)]}, r"criteria not judged: \['c1', 'c2'\]"),
    ],
)
def test_parse_verdicts_names_what_is_wrong(value, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_verdicts(value, RUBRIC)


def test_weighted_partial_credit_and_required_criteria() -> None:
    parsed = parse_verdicts({"criteria": [verdict("s1", True), verdict("c1", True, 0.5), verdict("c2", False)]}, RUBRIC)
    reward, success = weigh(parsed, RUBRIC)
    assert reward == pytest.approx((2 * 1 + 1 * 0.5 + 0) / 4) and success
    missed = parse_verdicts({"criteria": [verdict("s1", False), verdict("c1", True), verdict("c2", True)]}, RUBRIC)
    reward, success = weigh(missed, RUBRIC)
    assert reward == pytest.approx(0.5) and not success  # a required criterion failed


def test_rubric_from_task_errors_name_the_field() -> None:
    assert Rubric.of_task(task()) == RUBRIC
    with pytest.raises(ValueError, match=r"has no metadata\.rubric"):
        Rubric.of_task(Task(id="x", prompt=[Message(role="user", content="hi")]))
    bad = Task(id="x", prompt=[Message(role="user", content="hi")], metadata={"rubric": {"criteria": [{"id": "a"}]}})
    with pytest.raises(ValueError, match=r"task 'x': metadata.rubric.criteria.0.description: Field required"):
        Rubric.of_task(bad)
    with pytest.raises(ValueError, match="unique"):
        Rubric(criteria=[Criterion(id="a", description="x"), Criterion(id="a", description="y")])


def test_judge_prompt_shows_the_transcript_not_the_system_prompt() -> None:
    text = transcript(episode())
    assert "[assistant calls book_flight]" in text and '[tool result] {"booked": true}' in text
    assert "secret system prompt" not in text
    prompt = judge_messages(task(), episode(), RUBRIC)[1]["content"]
    assert "s1 (required, weight 2)" in prompt and "search_flights, book_flight" in prompt
    schema = judgment_schema(RUBRIC)
    assert schema["properties"]["criteria"]["required"] == ["s1", "c1", "c2"]
    assert schema_error(keyed(verdict("s1", True, 1), verdict("c1", True, 1), verdict("c2", True, 1)), schema) is None
    assert "'c2' is a required property" in schema_error(keyed(verdict("s1", True, 1), verdict("c1", True, 1)), schema)


def judge_server(*replies: str | dict) -> ScriptedOpenAIServer:
    return ScriptedOpenAIServer.from_replies(
        [Reply(content=r if isinstance(r, str) else json.dumps(r)) for r in replies]
    )


GOOD = {**keyed(verdict("s1", True, 1.0), verdict("c1", True, 0.5), verdict("c2", False, 0.0)), "summary": "mostly"}


async def test_rubric_reward_scores_and_keeps_the_judge_reasons() -> None:
    with judge_server(GOOD) as server:
        reward = RubricReward(OpenAIPolicy("judge", base_url=server.base_url, max_retries=0))
        ep = episode()
        score = await evaluate(reward, task(), ep)
        request = server.requests[0]
    assert score.value == pytest.approx(0.625) and score.success
    assert score.components == {"criterion.s1": 1.0, "criterion.c1": 0.5, "criterion.c2": 0.0}
    judge = ep.metadata["judge"]
    assert [c["reason"] for c in judge["criteria"]] == ["because"] * 3 and judge["summary"] == "mostly"
    assert judge["judge"] == "judge" and judge["usage"]["requests"] == 1
    assert request["response_format"]["json_schema"]["name"] == "judgment"
    assert request["temperature"] == 0.0


async def test_malformed_judge_replies_are_retried_then_fail_with_the_reason() -> None:
    bad_json = "The assistant did well. {criteria: [s1 ok]}"
    missing = keyed(verdict("s1", True, 1.0))
    with judge_server(bad_json, missing, GOOD) as server:
        reward = RubricReward(OpenAIPolicy("judge", base_url=server.base_url, max_retries=0), attempts=3)
        judgment = await reward.judge(task(), episode())
        retry = server.requests[1]["messages"][-1]["content"]
    assert judgment.reward == pytest.approx(0.625) and judgment.usage["invalid_replies"] == 2
    assert "not valid JSON" in retry and "corrected JSON" in retry
    with judge_server(bad_json, missing) as server:
        reward = RubricReward(OpenAIPolicy("judge", base_url=server.base_url, max_retries=0), attempts=2)
        ep = episode()
        with pytest.raises(JudgeError, match="'c1' is a required property") as info:
            await reward.score(task(), ep)
    assert info.value.raw == json.dumps(missing)
    assert ep.metadata["judge"]["error"].startswith("at 'criteria'")  # names where the reply is wrong
    assert ep.metadata["judge"]["usage"]["requests"] == 2


async def test_pass_threshold_override_and_unreachable_judge() -> None:
    with judge_server(GOOD) as server:
        strict = RubricReward(OpenAIPolicy("judge", base_url=server.base_url, max_retries=0), pass_threshold=0.9)
        assert not (await strict.judge(task(), episode())).success
    dead = RubricReward(OpenAIPolicy("judge", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2), attempts=2)
    with pytest.raises(JudgeError, match="request failed"):
        await dead.judge(task(), episode())
    with pytest.raises(ValueError):
        RubricReward(dead.judge_policy, pass_threshold=2)
