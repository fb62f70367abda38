import math

import pytest

from toolgym.rewards import (
    BudgetPenalty,
    ExactMatch,
    NormalizedExactMatch,
    NumericMatch,
    RewardError,
    Score,
    TokenF1,
    WeightedSum,
    evaluate,
    get_reward,
    normalize_answer,
    parse_number,
    token_f1,
)
from toolgym.types import Episode, Message, Scoring, StopReason, Task


def task(*answers: str) -> Task:
    return Task(id="t", prompt=[Message(role="user", content="q")], scoring=Scoring(answers=list(answers)))


def episode(answer: str | None, stop: StopReason = StopReason.ANSWER) -> Episode:
    return Episode(task_id="t", final_answer=answer, stop_reason=stop, truncated=stop.truncated)


async def score(reward, answer, *answers, stop=StopReason.ANSWER) -> Score:
    return await evaluate(reward, task(*answers), episode(answer, stop))


async def test_exact_match():
    assert (await score(ExactMatch(), " Paris\n", "Paris")).value == 1.0
    s = await score(ExactMatch(), "paris", "Paris")
    assert s.value == 0.0 and s.success is False


async def test_normalized_exact_match_squad_rules():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple, a day") == "apple day"
    assert (await score(NormalizedExactMatch(), "the Paris.", "Lyon", "paris")).value == 1.0
    assert (await score(NormalizedExactMatch(), "Paris France", "paris")).value == 0.0


async def test_token_f1_takes_best_accepted_answer():
    assert token_f1("Barack Obama", "Obama") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0
    s = await score(TokenF1(), "president Barack Obama", "George Bush", "Barack Obama")
    assert s.value == pytest.approx(0.8) and s.success is False
    assert (await score(TokenF1(), "the barack obama", "Barack Obama")).success is True


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("42", "42", 1.0),
        ("The answer is 1,234.", "1234", 1.0),
        ("42.0000000001", "42", 1.0),
        ("41.9", "42", 0.0),
        ("3/4", "0.75", 1.0),
        ("-17", "-17", 1.0),
        ("first 3 then 5", "5", 1.0),
        ("no number here", "5", 0.0),
        ("", "5", 0.0),
        ("1e3", "1000", 1.0),
        ("\u22127", "-7", 1.0),
        ("\u22127", "7", 0.0),
        ("12, 13", "1213", 0.0),
        ("1 2", "12", 0.0),
        ("1,234,567.5", "1234567.5", 1.0),
    ],
)
async def test_numeric_match(answer, reference, expected):
    assert (await score(NumericMatch(), answer, reference)).value == expected


async def test_numeric_tolerance_and_pick():
    assert (await score(NumericMatch(abs_tol=0.2), "41.9", "42")).value == 1.0
    assert (await score(NumericMatch(rel_tol=0.01), "1005", "1000")).value == 1.0
    assert (await score(NumericMatch(pick="first"), "first 3 then 5", "3")).value == 1.0
    assert parse_number("about $1,500.") == 1500.0
    with pytest.raises(ValueError, match="pick"):
        NumericMatch(pick="middle")
    with pytest.raises(ValueError, match="not a number"):
        await score(NumericMatch(), "5", "five")


async def test_missing_answers_is_a_clear_error():
    with pytest.raises(ValueError, match="no accepted answers"):
        await score(ExactMatch(), "x")


async def test_weighted_sum_components_and_success():
    reward = WeightedSum([(ExactMatch(), 0.5), (TokenF1(), 0.5)])
    s = await score(reward, "barack obama", "Barack Obama")
    assert s.value == pytest.approx(0.5)
    assert s.components == {"exact_match": 0.0, "f1": 1.0}
    assert s.success is False
    with pytest.raises(ValueError, match="finite"):
        WeightedSum([(ExactMatch(), math.inf)])
    with pytest.raises(ValueError, match="at least one"):
        WeightedSum([])


async def test_budget_penalty():
    reward = BudgetPenalty(ExactMatch(), penalty=0.5)
    ok = await score(reward, "5", "5")
    assert ok.value == 1.0 and ok.components["budget_penalty"] == 0.0
    cut = await score(reward, "5", "5", stop=StopReason.MAX_TOKENS)
    assert cut.value == -0.5 and cut.success is False
    # other budgets are not penalised unless asked
    turns = await score(reward, "x", "5", stop=StopReason.MAX_TURNS)
    assert turns.value == 0.0
    every = BudgetPenalty(ExactMatch(), on=())
    assert (await score(every, "5", "5", stop=StopReason.MAX_TURNS)).value == -1.0
    with pytest.raises(ValueError):
        BudgetPenalty(ExactMatch(), penalty=-1)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
async def test_non_finite_scores_raise(bad):
    class Bad:
        name = "bad"

        async def score(self, task, episode):
            return Score(bad)

    class BadComponent:
        name = "badc"

        async def score(self, task, episode):
            return Score(1.0, {"part": bad})

    with pytest.raises(RewardError, match="'bad'"):
        await score(Bad(), "x", "x")
    with pytest.raises(RewardError, match="component 'part'"):
        await score(BadComponent(), "x", "x")
    with pytest.raises(RewardError):
        await score(WeightedSum([(Bad(), 1.0)]), "x", "x")


async def test_non_score_return_is_an_error():
    class Wrong:
        name = "wrong"

        async def score(self, task, episode):
            return 1.0

    with pytest.raises(RewardError, match="not a Score"):
        await score(Wrong(), "x", "x")


def test_registry():
    assert isinstance(get_reward("numeric_match", abs_tol=0.1), NumericMatch)
    assert get_reward("f1").name == "f1"
    with pytest.raises(ValueError, match="unknown reward 'bleu'"):
        get_reward("bleu")
