import pytest

from toolgym.agents.summary import summarize
from toolgym.types import Episode, ErrorInfo, StopReason, ToolResult, Turn, Usage


def episode(reward, success, turns=2, tokens=100, calls=("search",), error=None, components=None) -> Episode:
    results = [ToolResult(call_id=str(i), name=name, content="") for i, name in enumerate(calls)]
    return Episode(
        task_id="t",
        reward=reward,
        success=success,
        error=ErrorInfo(kind=error, message="x") if error else None,
        stop_reason=StopReason.ERROR if error else StopReason.ANSWER,
        usage=Usage(turns=turns, completion_tokens=tokens, tool_calls=len(calls), wall_seconds=2.0),
        turns=[Turn(index=0, action={}, tool_results=results)],
        reward_components=components or {},
    )


def test_summary_figures():
    episodes = [
        episode(1.0, True, components={"em": 1.0, "f1": 1.0}),
        episode(0.5, False, turns=4, tokens=300, calls=("search", "open", "search"), components={"em": 0.0, "f1": 0.5}),
        episode(None, False, error="timeout"),
    ]
    s = summarize(episodes)
    assert s.episodes == 3 and s.scored == 2
    assert s.mean_reward == pytest.approx(0.75)
    assert s.success_rate == pytest.approx(1 / 3)
    assert s.mean_turns == pytest.approx(8 / 3)
    assert s.tokens_per_success == pytest.approx(500)
    assert s.components == {"em": 0.5, "f1": 0.75}
    assert s.tool_calls_by_name == {"open": pytest.approx(1 / 3), "search": pytest.approx(4 / 3)}
    assert s.errors == {"timeout": 1} and s.stop_reasons == {"answer": 2, "error": 1}
    labels = [label for label, _ in s.rows()]
    assert "mean em" in labels and "mean search calls" in labels


def test_no_successes_and_no_episodes():
    s = summarize([episode(0.0, False)])
    assert s.success_rate == 0.0 and s.tokens_per_success is None
    assert summarize([]).episodes == 0
