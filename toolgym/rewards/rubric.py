"""RubricReward: an LLM judge scores an episode against its task's rubric, criterion by criterion.

A rubric (``task.metadata["rubric"]``) lists criteria, each with a weight; required criteria must all be met
for the task to count as solved. The judge returns a verdict and a reason per criterion; the reward is the
weighted partial credit, each criterion is a reward component, and the verdicts with their reasons are kept in
``episode.metadata["judge"]``.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from toolgym.agents.policy import Policy, Sampling
from toolgym.agents.structured import RequestStats, StructuredOutputError, ask_json
from toolgym.errors import first_error
from toolgym.rewards.base import Score
from toolgym.types import Episode, Task


class JudgeError(RuntimeError):
    """The judge gave no usable verdict (after its retries); the reason and raw reply are kept in the episode."""

    def __init__(self, message: str, reason: str, raw: str | None, usage: dict[str, int]) -> None:
        super().__init__(message)
        self.reason, self.raw, self.usage = reason, raw, usage


class Criterion(BaseModel):
    """One thing the judge checks. ``required`` criteria are success criteria; the others are checkpoints."""

    id: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)
    required: bool = False

    @field_validator("weight")
    @classmethod
    def _finite(cls, weight: float) -> float:
        if not math.isfinite(weight):
            raise ValueError("weight must be finite")
        return weight


class Rubric(BaseModel):
    """Success criteria and checkpoints with weights, the tool-use pattern expected, and the pass mark."""

    criteria: list[Criterion] = Field(min_length=1)
    expected_tools: list[str] = Field(default_factory=list, description="tools a good solution calls, in order")
    pass_threshold: float = Field(default=0.7, ge=0, le=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Rubric:
        ids = [c.id for c in self.criteria]
        if len(set(ids)) != len(ids):
            raise ValueError(f"criterion ids must be unique, got {ids}")
        return self

    @classmethod
    def of_task(cls, task: Task) -> Rubric:
        """The rubric in ``task.metadata["rubric"]``; a clear error names the task and field."""
        raw = task.metadata.get("rubric")
        if raw is None:
            raise ValueError(f"task {task.id!r} has no metadata.rubric to judge against")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            field, message = first_error(exc, "(rubric)")
            raise ValueError(f"task {task.id!r}: metadata.rubric.{field}: {message}") from None


class CriterionVerdict(BaseModel):
    """The judge's verdict on one criterion."""

    id: str
    met: bool
    score: float = Field(ge=0, le=1)
    reason: str


class Judgment(BaseModel):
    """A judged episode: the verdict per criterion, the weighted reward and whether it passes."""

    criteria: list[CriterionVerdict]
    summary: str = ""
    reward: float
    success: bool
    judge: str = ""
    usage: dict[str, int] = Field(default_factory=dict)


def judgment_schema(rubric: Rubric) -> dict[str, Any]:
    """The JSON the judge must reply with: a verdict under each criterion id (each exactly once, which
    constrained decoding can then guarantee), then a summary."""
    ids = [c.id for c in rubric.criteria]
    reason = {"type": "string", "minLength": 1, "maxLength": 200}

    def verdict(met: bool, score: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"met": {"const": met}, "score": {"type": "number", **score}, "reason": reason},
            "required": ["met", "score", "reason"],
            "additionalProperties": False,
        }

    either = {  # a met criterion scores above 0, an unmet one below 1
        "anyOf": [
            verdict(True, {"exclusiveMinimum": 0, "maximum": 1}),
            verdict(False, {"minimum": 0, "exclusiveMaximum": 1}),
        ]
    }
    criteria = {
        "type": "object",
        "properties": dict.fromkeys(ids, either),
        "required": ids,
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"criteria": criteria, "summary": {"type": "string", "maxLength": 200}},
        "required": ["criteria", "summary"],
        "additionalProperties": False,
    }


def parse_verdicts(value: Any, rubric: Rubric) -> list[CriterionVerdict]:
    """The judge's verdicts in rubric order, from ``{"criteria": {id: {met, score, reason}}}`` or a list of
    ``{id, met, score, reason}``; ValueError says what is missing, unknown, repeated or malformed."""
    criteria = value.get("criteria") if isinstance(value, dict) else None
    if isinstance(criteria, dict):
        criteria = [{**v, "id": k} if isinstance(v, dict) else v for k, v in criteria.items()]
    if not isinstance(criteria, list):
        raise ValueError("the judgment must be an object with 'criteria' (a verdict per criterion id)")
    known = {c.id for c in rubric.criteria}
    found: dict[str, CriterionVerdict] = {}
    for i, item in enumerate(criteria):
        if not isinstance(item, dict):
            raise ValueError(f"criteria[{i}] is not an object")
        cid = item.get("id")
        if cid not in known:
            raise ValueError(f"criteria[{i}] has unknown id {cid!r}; expected one of {sorted(known)}")
        if cid in found:
            raise ValueError(f"criterion {cid!r} is judged twice")
        met = item.get("met")
        if not isinstance(met, bool):
            raise ValueError(f"criterion {cid!r}: 'met' must be true or false")
        score = item.get("score", 1.0 if met else 0.0)
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise ValueError(f"criterion {cid!r}: 'score' must be a number in [0, 1]")
        if (met and score == 0) or (not met and score == 1):
            raise ValueError(f"criterion {cid!r}: 'met' is {str(met).lower()} but 'score' is {score:g}")
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"criterion {cid!r}: a 'reason' is required")
        found[cid] = CriterionVerdict(id=cid, met=met, score=float(score), reason=reason.strip())
    missing = [c.id for c in rubric.criteria if c.id not in found]
    if missing:
        raise ValueError(f"criteria not judged: {missing}")
    return [found[c.id] for c in rubric.criteria]


def weigh(verdicts: list[CriterionVerdict], rubric: Rubric) -> tuple[float, bool]:
    """Weighted partial credit, and success: every required criterion met and the reward at the pass mark."""
    by_id = {v.id: v for v in verdicts}
    total = sum(c.weight for c in rubric.criteria)
    reward = sum(c.weight * by_id[c.id].score for c in rubric.criteria) / total
    required_met = all(by_id[c.id].met for c in rubric.criteria if c.required)
    return reward, required_met and reward >= rubric.pass_threshold


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit // 2] + " [...] " + text[-limit // 2 :]


def transcript(episode: Episode, limit: int = 6000) -> str:
    """The conversation as the judge reads it: who said what, which tools were called and what they returned."""
    lines = []
    for message in episode.messages:
        role, content = message.get("role"), message.get("content") or ""
        if role == "system":
            continue
        for call in message.get("tool_calls") or []:
            fn = call.get("function", {})
            lines.append(f"[assistant calls {fn.get('name')}] {_clip(str(fn.get('arguments', '')), 400)}")
        if content:
            lines.append(f"[{'tool result' if role == 'tool' else role}] {_clip(str(content), 800)}")
    if episode.error is not None:
        lines.append(f"[episode failed] {episode.error.kind}: {episode.error.message}")
    elif episode.stop_reason is not None and episode.stop_reason.truncated:
        lines.append(f"[episode cut off] {episode.stop_reason.value}")
    return _clip("\n".join(lines), limit)


JUDGE_SYSTEM = (
    "You are a strict grader of an AI assistant that uses tools. Read the task, the rubric and the transcript, "
    "then judge every criterion: met (true/false), a score from 0 to 1 for partial credit, and a short reason "
    "citing the transcript. Judge only what the transcript shows. Reply with JSON only."
)


def judge_messages(task: Task, episode: Episode, rubric: Rubric, limit: int = 6000) -> list[dict[str, Any]]:
    """The judge's prompt for ``episode`` of ``task``."""
    request = "\n".join(str(m.content) for m in task.prompt if m.role == "user" and m.content)
    criteria = "\n".join(
        f"- {c.id} ({'required' if c.required else 'checkpoint'}, weight {c.weight:g}): {c.description}"
        for c in rubric.criteria
    )
    expected = ", ".join(rubric.expected_tools) or "(none stated)"
    body = (
        f"Task given to the assistant:\n{request}\n\nExpected tool-use pattern: {expected}\n\n"
        f"Rubric:\n{criteria}\n\nTranscript:\n{transcript(episode, limit)}\n\n"
        f"Final answer: {episode.final_answer if episode.final_answer is not None else '(none)'}\n\n"
        'Reply as {"criteria": {"<id>": {"met": ..., "score": ..., "reason": ...}, ...}, "summary": ...} '
        "with one entry per criterion id, in the order listed."
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": body}]


class RubricReward:
    """Scores an episode with an LLM judge against ``task.metadata["rubric"]``.

    Args:
        judge: the judging policy (any OpenAI-compatible endpoint, or the local model).
        pass_threshold: overrides each rubric's own pass mark.
        attempts: tries at a well-formed judgment before the episode is recorded as failed (``JudgeError``).
    """

    name = "rubric"

    def __init__(
        self,
        judge: Policy,
        *,
        pass_threshold: float | None = None,
        attempts: int = 3,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = 0,
        structured: bool = True,
        transcript_limit: int = 6000,
    ) -> None:
        if pass_threshold is not None and not 0 <= pass_threshold <= 1:
            raise ValueError("pass_threshold must be within [0, 1]")
        self.judge_policy = judge
        self.pass_threshold = pass_threshold
        self.attempts, self.max_tokens, self.temperature, self.seed = attempts, max_tokens, temperature, seed
        self.structured, self.transcript_limit = structured, transcript_limit
        self.stats = RequestStats()

    async def judge(self, task: Task, episode: Episode) -> Judgment:
        """The judgment of ``episode``; raises JudgeError when the judge gives none that is usable."""
        rubric = Rubric.of_task(task)
        if self.pass_threshold is not None:
            rubric = rubric.model_copy(update={"pass_threshold": self.pass_threshold})
        stats = RequestStats()
        sampling = Sampling(temperature=self.temperature, max_tokens=self.max_tokens, seed=self.seed)
        try:
            value = await ask_json(
                self.judge_policy,
                judge_messages(task, episode, rubric, self.transcript_limit),
                judgment_schema(rubric),
                validate=lambda v: _problem(v, rubric),
                attempts=self.attempts,
                sampling=sampling,
                structured=self.structured,
                stats=stats,
                name="judgment",
            )
        except StructuredOutputError as exc:
            raise JudgeError(f"judge {self.judge_policy.name!r}: {exc}", exc.reason, exc.raw, stats.as_dict()) from None
        finally:
            self.stats.merge(stats)
        verdicts = parse_verdicts(value, rubric)
        reward, success = weigh(verdicts, rubric)
        summary = value.get("summary") if isinstance(value.get("summary"), str) else ""
        return Judgment(
            criteria=verdicts,
            summary=summary,
            reward=reward,
            success=success,
            judge=self.judge_policy.name,
            usage=stats.as_dict(),
        )

    async def score(self, task: Task, episode: Episode) -> Score:
        try:
            judgment = await self.judge(task, episode)
        except JudgeError as exc:
            episode.metadata["judge"] = {"error": exc.reason, "raw": exc.raw, "usage": exc.usage}
            raise
        episode.metadata["judge"] = judgment.model_dump()
        components = {f"criterion.{v.id}": v.score for v in judgment.criteria}
        return Score(judgment.reward, components, judgment.success)


def _problem(value: Any, rubric: Rubric) -> str | None:
    try:
        parse_verdicts(value, rubric)
    except ValueError as exc:
        return str(exc)
    return None
