"""Answer-matching rewards: exact, normalized exact (SQuAD), token F1 and numeric with tolerance."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from fractions import Fraction

from toolgym.rewards.base import Score, register_reward
from toolgym.types import Episode, Task

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:\s*/\s*\d+)?")


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower case, no punctuation, no articles, single spaces."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token-level F1 between two answers after normalization."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def parse_number(text: str, pick: str = "last") -> float | None:
    """The number in ``text`` (the whole text, else the first or last number in it), or None."""
    text = text.replace("\u2212", "-")  # a typographic minus is a minus
    cleaned = text.strip().replace("$", "").rstrip(".")
    candidates = [cleaned, *[m.group(0) for m in _NUMBER.finditer(text)][:: -1 if pick == "last" else 1]]
    for candidate in candidates:
        if "," in candidate and not _THOUSANDS.fullmatch(candidate):
            continue  # "12, 13" is two numbers, not 1213
        if re.search(r"\d\s+\d", candidate):
            continue  # "1 2" is not 12
        candidate = candidate.replace(",", "").replace(" ", "")
        try:
            value = float(Fraction(candidate)) if "/" in candidate else float(candidate)
        except (ValueError, ZeroDivisionError):
            continue
        if math.isfinite(value):
            return value
    return None


class _AnswerReward:
    """Compares the episode's final answer with each accepted answer and keeps the best match."""

    name = "answer"

    def match(self, prediction: str, reference: str) -> float:
        raise NotImplementedError

    async def score(self, task: Task, episode: Episode) -> Score:
        references = task.scoring.answers
        if not references:
            raise ValueError(f"task {task.id!r} has no accepted answers for reward {self.name!r}")
        prediction = episode.final_answer or ""
        best = max(self.match(prediction, ref) for ref in references)
        return Score(best, success=best >= 1.0)


class ExactMatch(_AnswerReward):
    """1 when the answer equals an accepted answer exactly (surrounding whitespace ignored)."""

    name = "exact_match"

    def match(self, prediction: str, reference: str) -> float:
        return float(prediction.strip() == reference.strip())


class NormalizedExactMatch(_AnswerReward):
    """1 when the answer equals an accepted answer after SQuAD normalization."""

    name = "normalized_exact_match"

    def match(self, prediction: str, reference: str) -> float:
        return float(normalize_answer(prediction) == normalize_answer(reference))


class TokenF1(_AnswerReward):
    """SQuAD token F1 against the best accepted answer; solved when F1 is 1."""

    name = "f1"

    def match(self, prediction: str, reference: str) -> float:
        return token_f1(prediction, reference)


class NumericMatch(_AnswerReward):
    """1 when the number in the answer is within tolerance of an accepted answer.

    ``pick`` chooses which number of a wordy answer counts ("last" or "first"); tolerance is
    absolute plus relative: ``|a - b| <= abs_tol + rel_tol * |b|``.
    """

    name = "numeric_match"

    def __init__(self, abs_tol: float = 1e-6, rel_tol: float = 1e-9, pick: str = "last") -> None:
        if abs_tol < 0 or rel_tol < 0:
            raise ValueError("tolerances must be >= 0")
        if pick not in ("first", "last"):
            raise ValueError(f"pick must be 'first' or 'last', got {pick!r}")
        self.abs_tol, self.rel_tol, self.pick = abs_tol, rel_tol, pick

    def match(self, prediction: str, reference: str) -> float:
        expected = parse_number(reference)
        if expected is None:
            raise ValueError(f"accepted answer {reference!r} is not a number")
        got = parse_number(prediction, self.pick)
        if got is None:
            return 0.0
        return float(abs(got - expected) <= self.abs_tol + self.rel_tol * abs(expected))


for _reward in (ExactMatch, NormalizedExactMatch, TokenF1, NumericMatch):
    register_reward(_reward.name, _reward)
