"""The LLM judge against a scripted OpenAI-compatible server on 127.0.0.1: verdicts, malformed replies
retried a bounded number of times, endpoint failures recorded as a judge_error component."""

from __future__ import annotations

import pytest

from toolgym.agents.openai_policy import OpenAIPolicy
from toolgym.rewards.base import evaluate
from toolgym.rewards.judge import JudgeReward, parse_verdict
from toolgym.testing.openai_server import Reply, ScriptedOpenAIServer
from toolgym.types import Episode, Message, Scoring, Task

TASK = Task(
    id="q1",
    prompt=[Message(role="user", content="What is the capital of Zubrowka?")],
    scoring=Scoring(answers=["Lutz", "Lutz City"]),
    metadata={"question": "What is the capital of Zubrowka?"},
)
YES = "extracted_final_answer: Lutz\n\nreasoning: Same city.\n\ncorrect: yes"
NO = "extracted_final_answer: Kessel\n\nreasoning: A river, not the capital.\n\n**correct:** No"


def episode(answer: str | None = "The capital is Lutz.") -> Episode:
    return Episode(task_id="q1", final_answer=answer)


def judge_for(server: ScriptedOpenAIServer, **kwargs) -> JudgeReward:
    return JudgeReward(model="judge-model", base_url=server.base_url, timeout=5, **kwargs)


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        (YES, True),
        (NO, False),
        ("correct: yes", True),
        ("Correct : NO.", False),
        ("correct: no\n...on reflection...\ncorrect: yes", True),
        ("The answer is correct.", None),
        ("correct: maybe", None),
        ("", None),
    ],
)
def test_parse_verdict(reply: str, verdict: bool | None) -> None:
    assert parse_verdict(reply) is verdict


async def test_judge_says_yes_and_sees_question_response_and_answers() -> None:
    async with ScriptedOpenAIServer.from_replies([YES]) as server:
        judge = judge_for(server)
        ep = episode()
        score = await evaluate(judge, TASK, ep)
        await judge.aclose()
    assert (score.value, score.success, score.components) == (1.0, True, {"judge_error": 0.0})
    (request,) = server.requests
    prompt = request["messages"][0]["content"]
    assert request["model"] == "judge-model" and request["temperature"] == 0.0
    assert "[question]: What is the capital of Zubrowka?" in prompt
    assert "[response]: The capital is Lutz." in prompt
    assert "[correct_answer]: Lutz (also accepted: Lutz City)" in prompt
    assert ep.metadata["judge"] == {"model": "judge-model", "verdict": True, "attempts": 1, "reply": YES,
                                    "extracted": "Lutz"}  # fmt: skip


async def test_judge_says_no() -> None:
    async with ScriptedOpenAIServer.from_replies([NO]) as server:
        judge = judge_for(server)
        score = await judge.score(TASK, episode("Kessel"))
        await judge.aclose()
    assert (score.value, score.success, score.components) == (0.0, False, {"judge_error": 0.0})


async def test_malformed_replies_are_asked_again_then_graded() -> None:
    async with ScriptedOpenAIServer.from_replies(["I cannot say.", "correct - unsure", YES]) as server:
        judge = judge_for(server, max_attempts=3)
        ep = episode()
        score = await judge.score(TASK, ep)
        await judge.aclose()
    assert score.value == 1.0 and server.request_count == 3 and ep.metadata["judge"]["attempts"] == 3


async def test_always_malformed_is_a_recorded_judge_error_after_bounded_attempts() -> None:
    async with ScriptedOpenAIServer.from_replies(["no verdict here"]) as server:
        judge = judge_for(server, max_attempts=2)
        ep = episode()
        score = await judge.score(TASK, ep)
        await judge.aclose()
    assert (score.value, score.success, score.components) == (0.0, False, {"judge_error": 1.0})
    assert server.request_count == 2
    assert ep.metadata["judge"]["error"] == "no 'correct: yes|no' verdict in 2 replies"


async def test_a_failing_endpoint_is_a_recorded_judge_error() -> None:
    async with ScriptedOpenAIServer.from_replies([Reply(status=500)]) as server:
        judge = JudgeReward(OpenAIPolicy("judge-model", base_url=server.base_url, max_retries=1, backoff=0.01))
        ep = episode()
        score = await judge.score(TASK, ep)
        await judge.aclose()
    assert score.components == {"judge_error": 1.0} and score.value == 0.0
    assert server.request_count == 2  # the policy's own bounded retries, then no more
    assert ep.metadata["judge"]["error"].startswith("http_500:")


async def test_a_hanging_judge_meets_its_deadline() -> None:
    async with ScriptedOpenAIServer.from_replies([Reply(hang=True)]) as server:
        judge = JudgeReward(OpenAIPolicy("judge-model", base_url=server.base_url, timeout=0.3, max_retries=0))
        score = await judge.score(TASK, episode())
        await judge.aclose()
    assert score.components == {"judge_error": 1.0}


async def test_no_answer_is_wrong_without_asking() -> None:
    async with ScriptedOpenAIServer.from_replies([YES]) as server:
        judge = judge_for(server)
        score = await judge.score(TASK, episode(None))
        await judge.aclose()
    assert score.value == 0.0 and server.request_count == 0


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="needs a policy or a model"):
        JudgeReward()
    with pytest.raises(ValueError, match="max_attempts"):
        JudgeReward(model="m", base_url="http://127.0.0.1:1/v1", max_attempts=0)
    with pytest.raises(ValueError, match="deadline"):
        JudgeReward(model="m", base_url="http://127.0.0.1:1/v1", deadline=0)


async def test_the_whole_grading_has_a_deadline() -> None:
    async with ScriptedOpenAIServer.from_replies([Reply(content="thinking...", delay=0.2)]) as server:
        judge = judge_for(server, max_attempts=10, deadline=0.5)
        ep = episode()
        score = await judge.score(TASK, ep)
        await judge.aclose()
    assert score.components == {"judge_error": 1.0} and 2 <= server.request_count <= 3
    assert ep.metadata["judge"]["error"] == "no verdict within 0.5 s"
