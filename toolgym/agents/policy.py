"""The Policy protocol: anything that turns a conversation and tools into the next assistant message."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class Sampling(BaseModel):
    """Decoding parameters passed to a policy for one generation."""

    model_config = ConfigDict(extra="allow")

    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None


class Generation(BaseModel):
    """One reply of a policy: an assistant message dict plus what it cost."""

    message: dict[str, Any]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = Field(default_factory=dict, description="e.g. token ids or logprobs")


class PolicyError(RuntimeError):
    """A generation failed for good (after bounded retries); the episode records it and the run goes on."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@runtime_checkable
class Policy(Protocol):
    """Produces the next assistant message for a conversation, given the tools on offer."""

    name: str

    async def generate(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: Sampling | None = None,
    ) -> Generation:
        """The assistant's next message; raises PolicyError when it cannot be had."""
        ...

    async def aclose(self) -> None:
        """Release connections or models."""
        ...
