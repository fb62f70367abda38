"""LLM-judge grading (BrowseComp style): a judge model decides whether the final answer matches the reference.

The judge is any Policy; by default an :class:`~toolgym.agents.openai_policy.OpenAIPolicy` on an
OpenAI-compatible endpoint (which retries HTTP failures itself, each request under ``timeout``). A reply
without a readable verdict is asked again, at most ``max_attempts`` times in all; then, or when the
endpoint fails for good, or when grading one answer takes longer than ``deadline``, the score is 0 with
the component ``judge_error`` = 1: recorded, never raised.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from toolgym.agents.policy import Policy, PolicyError, Sampling
from toolgym.rewards.base import Score
from toolgym.types import Episode, Task

JUDGE_TEMPLATE = """\
Decide whether the [response] to the [question] is correct, judged only against the [correct_answer].

[question]: {question}

[response]: {response}

[correct_answer]: {correct_answer}

Reply in exactly this format:

extracted_final_answer: the final answer stated in the [response], or None if it states none.

reasoning: one or two sentences on whether extracted_final_answer and [correct_answer] differ in \
meaning. Do not solve the question again and do not argue for another answer.

correct: yes if extracted_final_answer means the same as [correct_answer] (for numbers, within a small \
margin), otherwise no.
"""

_VERDICT = re.compile(r"^\W*correct\W*:\W*(yes|no)\b", re.IGNORECASE | re.MULTILINE)
_EXTRACTED = re.compile(r"^\W*extracted_final_answer\W*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)


def parse_verdict(reply: str) -> bool | None:
    """The judge's ``correct: yes|no`` (the last one if it repeats), or None if the reply has none."""
    found = _VERDICT.findall(reply)
    return found[-1].lower() == "yes" if found else None


def _question(task: Task) -> str:
    if "question" in task.metadata:
        return str(task.metadata["question"])
    users = [m.content for m in task.prompt if m.role == "user" and m.content]
    return users[-1] if users else ""


class JudgeReward:
    """1 if the judge says the final answer matches an accepted answer, else 0.

    Give ``policy`` (any Policy, e.g. a LocalPolicy) or ``model`` + ``base_url`` for an OpenAI-compatible
    endpoint (key from ``api_key_env``). The question comes from ``task.metadata["question"]`` or the
    last user message. Details of each verdict go to ``episode.metadata["judge"]``.
    """

    name = "judge"

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 2,
        max_attempts: int = 3,
        deadline: float = 300.0,
        max_tokens: int = 512,
        template: str = JUDGE_TEMPLATE,
    ) -> None:
        if max_attempts < 1 or deadline <= 0:
            raise ValueError(f"max_attempts must be >= 1 and deadline > 0, got {max_attempts} and {deadline}")
        if policy is None:
            if not model:
                raise ValueError("JudgeReward needs a policy or a model name (judge_model)")
            from toolgym.agents.openai_policy import OpenAIPolicy

            policy = OpenAIPolicy(
                model=model, base_url=base_url, api_key_env=api_key_env, timeout=timeout, max_retries=max_retries
            )
        self.policy = policy
        self.max_attempts, self.deadline = max_attempts, deadline
        self.sampling = Sampling(temperature=0.0, max_tokens=max_tokens)
        self.template = template

    def prompt(self, task: Task, response: str) -> str:
        """The grading prompt for ``response`` to ``task``."""
        answers = task.scoring.answers
        correct = answers[0] + (f" (also accepted: {'; '.join(answers[1:])})" if len(answers) > 1 else "")
        return self.template.format(question=_question(task), response=response, correct_answer=correct)

    async def score(self, task: Task, episode: Episode) -> Score:
        if not task.scoring.answers:
            raise ValueError(f"task {task.id!r} has no accepted answers for the judge")
        response = (episode.final_answer or "").strip()
        record: dict[str, Any] = {"model": self.policy.name}
        episode.metadata["judge"] = record
        if not response:
            record.update(verdict=False, reason="no final answer")
            return Score(0.0, {"judge_error": 0.0}, success=False)
        messages = [{"role": "user", "content": self.prompt(task, response)}]
        replies: list[str] = []
        end = asyncio.get_running_loop().time() + self.deadline  # all attempts of one grading, retries included
        for _ in range(self.max_attempts):
            try:
                async with asyncio.timeout_at(end):
                    generation = await self.policy.generate(messages, None, self.sampling)
            except PolicyError as exc:
                record.update(error=f"{exc.kind}: {exc}", replies=replies)
                return Score(0.0, {"judge_error": 1.0}, success=False)
            except TimeoutError:
                record.update(error=f"no verdict within {self.deadline:g} s", replies=replies)
                return Score(0.0, {"judge_error": 1.0}, success=False)
            reply = generation.message.get("content") or ""
            replies.append(reply)
            verdict = parse_verdict(reply)
            if verdict is not None:
                extracted = _EXTRACTED.search(reply)
                record.update(verdict=verdict, attempts=len(replies), reply=reply)
                if extracted:
                    record["extracted"] = extracted.group(1).strip()
                return Score(float(verdict), {"judge_error": 0.0}, success=verdict)
        record.update(error=f"no 'correct: yes|no' verdict in {len(replies)} replies", replies=replies)
        return Score(0.0, {"judge_error": 1.0}, success=False)

    async def aclose(self) -> None:
        await self.policy.aclose()
