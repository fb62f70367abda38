"""Structured replies from any policy: ask for JSON matching a schema, validate it, retry a bounded number of times.

Shared by everything that reads a model's JSON (the synthetic-data stages, the LLM judge, the tool and user
simulators). Every request and token is counted in a :class:`RequestStats`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from toolgym.agents.constrained import response_format_for
from toolgym.agents.policy import Generation, Policy, PolicyError, Sampling

Validator = Callable[[Any], "str | None"]
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class StructuredOutputError(Exception):
    """No valid reply after every attempt: why the last one failed, and its raw text."""

    def __init__(self, reason: str, raw: str | None, attempts: int) -> None:
        super().__init__(f"no valid reply after {attempts} attempt(s): {reason}")
        self.reason, self.raw, self.attempts = reason, raw, attempts


@dataclass
class RequestStats:
    """Model requests and tokens spent, and how many replies were unusable."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    invalid_replies: int = 0
    failed_requests: int = 0

    def add_generation(self, generation: Generation) -> None:
        self.requests += 1
        self.prompt_tokens += generation.prompt_tokens
        self.completion_tokens += generation.completion_tokens

    def merge(self, other: RequestStats | dict[str, int]) -> None:
        """Add another tally (a RequestStats or its dict form) to this one."""
        values = other if isinstance(other, dict) else asdict(other)
        for key, value in values.items():
            if hasattr(self, key):
                setattr(self, key, getattr(self, key) + int(value))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def extract_json(text: str) -> Any:
    """The JSON value in a reply: the whole text, else a fenced block, else the outermost ``{...}``/``[...]``.

    Raises ValueError saying what is wrong.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("the reply is empty")
    candidates = [stripped, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = stripped.find(open_), stripped.rfind(close)
        if 0 <= start < end:
            candidates.append(stripped[start : end + 1])
    error = ""
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as exc:
            error = error or f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    raise ValueError(f"the reply is not valid JSON ({error})")


def schema_error(value: Any, schema: dict[str, Any]) -> str | None:
    """Why ``value`` does not match ``schema`` (the most relevant error, with its path), or None."""
    error = best_match(Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"at '{where}': {error.message}" if where else error.message


def _clip(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


async def ask_json(
    policy: Policy,
    messages: list[dict[str, Any]],
    schema: dict[str, Any],
    *,
    validate: Validator | None = None,
    attempts: int = 3,
    sampling: Sampling | None = None,
    structured: bool = True,
    stats: RequestStats | None = None,
    name: str = "reply",
) -> Any:
    """Ask ``policy`` for JSON matching ``schema`` (and passing ``validate``, which returns an error or None).

    With ``structured`` the request carries an OpenAI ``response_format`` (constrained decoding where the
    policy supports it). An unusable reply (a failed request, bad JSON, a schema or ``validate`` failure) is
    retried up to ``attempts`` times in all, telling the model what was wrong; each attempt's seed is
    ``sampling.seed + attempt``. Raises :class:`StructuredOutputError` with the last reason and raw text.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    base = sampling or Sampling()
    if structured:
        base = base.model_copy(update={"response_format": response_format_for(schema, name)})
    conversation = list(messages)
    reason, raw = "no attempt made", None
    for attempt in range(attempts):
        seed = None if base.seed is None else base.seed + attempt
        try:
            generation = await policy.generate(conversation, None, base.model_copy(update={"seed": seed}))
        except PolicyError as exc:
            if stats is not None:
                stats.failed_requests += 1
            reason, raw = f"request failed ({exc.kind}): {exc}", None
            continue
        if stats is not None:
            stats.add_generation(generation)
        raw = generation.message.get("content") or ""
        try:
            value = extract_json(raw)
            problem = schema_error(value, schema)
            if problem is None and validate is not None:
                problem = validate(value)
        except ValueError as exc:
            problem = str(exc)
        if problem is None:
            return value
        if stats is not None:
            stats.invalid_replies += 1
        reason = problem
        conversation = [
            *messages,
            {"role": "assistant", "content": _clip(raw)},
            {"role": "user", "content": f"That reply was invalid: {problem}. Reply again with only corrected JSON."},
        ]
    raise StructuredOutputError(reason, raw, attempts)
