"""The records every part of toolgym speaks: messages, tools, tasks, budgets and episodes.

Messages travel as plain OpenAI chat dicts on the hot path (``env.step``); the pydantic models here
validate them at the edges (task files, policy replies) and define what an Episode records.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

Role = Literal["system", "user", "assistant", "tool"]


class ToolCallFunction(BaseModel):
    """The function part of an OpenAI tool call: a name and its arguments as a JSON string."""

    name: str
    arguments: str = "{}"


class ToolCall(BaseModel):
    """An OpenAI-format tool call made by the assistant."""

    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class Message(BaseModel):
    """An OpenAI-format chat message."""

    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class ToolSpec(BaseModel):
    """A tool as a model sees it: a name, a description and a JSON schema for its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not name or len(name) > 128 or any(c.isspace() for c in name):
            raise ValueError(f"tool name {name!r} must be 1-128 characters without whitespace")
        return name

    def to_openai(self) -> dict[str, Any]:
        """The ``{"type": "function", "function": {...}}`` form OpenAI-compatible APIs take."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


class ToolResult(BaseModel):
    """What one tool call returned (or why it failed), with its latency."""

    call_id: str
    name: str
    content: str
    is_error: bool = False
    error_kind: str | None = None
    seconds: float = 0.0


class Budget(BaseModel):
    """Limits of one episode; ``None`` means unlimited. Exceeding one truncates the episode."""

    model_config = ConfigDict(frozen=True)

    max_turns: int | None = Field(default=8, ge=1)
    max_tokens: int | None = Field(default=None, ge=1, description="completion tokens over the episode")
    max_tool_calls: int | None = Field(default=None, ge=0)
    max_seconds: float | None = Field(default=None, gt=0)
    tool_timeout: float = Field(default=30.0, gt=0, description="deadline of one tool call, seconds")

    def merged(self, override: Budget | None) -> Budget:
        """This budget with the fields ``override`` set explicitly taking precedence."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_unset=True))


class Scoring(BaseModel):
    """How a task is scored: accepted answers and optional reward parameters."""

    answers: list[str] = Field(default_factory=list)
    reward: str | None = Field(default=None, description="name of a registered reward; env default if None")
    params: dict[str, Any] = Field(default_factory=dict)


class Task(BaseModel):
    """One problem: the prompt, the tools it may use, how it is scored, its budget and metadata."""

    id: str
    prompt: list[Message]
    tools: list[str] | None = Field(default=None, description="names of the tools offered; None = all")
    scoring: Scoring = Field(default_factory=Scoring)
    budget: Budget | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_serializer("budget")
    def _only_overrides(self, budget: Budget | None) -> dict[str, Any] | None:
        """Only the fields the task sets, so a task read back from JSON overrides no more than it did."""
        return None if budget is None else budget.model_dump(exclude_unset=True)

    @field_validator("prompt")
    @classmethod
    def _non_empty(cls, prompt: list[Message]) -> list[Message]:
        if not prompt:
            raise ValueError("a task needs at least one prompt message")
        return prompt


class StopReason(StrEnum):
    """Why an episode ended."""

    ANSWER = "answer"
    FINAL_TOOL = "final_tool"
    MAX_TURNS = "max_turns"
    MAX_TOKENS = "max_tokens"
    MAX_TOOL_CALLS = "max_tool_calls"
    MAX_SECONDS = "max_seconds"
    ERROR = "error"

    @property
    def is_budget(self) -> bool:
        """A budget ran out."""
        return self.value.startswith("max_")

    @property
    def truncated(self) -> bool:
        """The episode was cut off (a budget or an error) rather than finished by the agent."""
        return self.is_budget or self is StopReason.ERROR


class Usage(BaseModel):
    """Resources an episode (or one turn) used."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    turns: int = 0
    tool_calls: int = 0
    wall_seconds: float = 0.0
    model_seconds: float = 0.0
    tool_seconds: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ErrorInfo(BaseModel):
    """A failure recorded in an episode instead of raised: its kind and message."""

    kind: str
    message: str


class Turn(BaseModel):
    """One assistant action and what the environment answered."""

    index: int
    action: dict[str, Any]
    observations: list[dict[str, Any]] = Field(default_factory=list)
    tool_results: list[ToolResult] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    tool_seconds: float = 0.0
    extra: dict[str, Any] = Field(default_factory=dict, description="e.g. token ids or logprobs")


class Episode(BaseModel):
    """The full record of one task attempt: everything downstream reads this."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    task_id: str
    env: str = ""
    model: str = ""
    seed: int | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    turns: list[Turn] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    budget: Budget = Field(default_factory=Budget)
    final_answer: str | None = None
    reward: float | None = None
    reward_components: dict[str, float] = Field(default_factory=dict)
    success: bool | None = None
    terminated: bool = False
    truncated: bool = False
    stop_reason: StopReason | None = None
    error: ErrorInfo | None = None
    started_at: float = Field(default_factory=time.time)
    finished_at: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated
