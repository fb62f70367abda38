"""A policy wrapper that sets ``tool_choice`` on the first reply of each episode."""

from __future__ import annotations

from typing import Any

from toolgym.agents.policy import Generation, Policy, Sampling


class FirstTurnToolChoice:
    """``policy`` with ``tool_choice`` set on its first reply of an episode (later replies are free), so even a
    small model starts by calling a tool; endpoints and LocalPolicy both honour ``tool_choice``."""

    def __init__(self, policy: Policy, tool_choice: str = "required") -> None:
        self.policy, self.tool_choice, self.name = policy, tool_choice, policy.name

    async def generate(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: Sampling | None = None,
    ) -> Generation:
        if tools and not any(m.get("role") == "assistant" for m in messages):
            sampling = (sampling or Sampling()).model_copy(update={"tool_choice": self.tool_choice})
        return await self.policy.generate(messages, tools, sampling)

    async def aclose(self) -> None:
        """The wrapped policy belongs to the caller."""
