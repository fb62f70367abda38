"""Which model plays each part (generator, tool simulator, user, agent, judge), and one shared policy per model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from toolgym.agents.policy import Policy


class ModelSpec(BaseModel):
    """A model: an OpenAI-compatible endpoint (``base_url`` + ``model``) or, without ``base_url``, the local
    model (``model`` = None for the embedded SmolLM2-135M, or a local checkpoint path)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = Field(default=120.0, gt=0, description="deadline of one request, seconds")
    max_retries: int = Field(default=3, ge=0)

    def build(self) -> Policy:
        """A new policy for this model."""
        if self.base_url:
            from toolgym.agents.openai_policy import OpenAIPolicy

            if not self.model:
                raise ValueError(f"base_url {self.base_url!r} needs a model name (the model the endpoint serves)")
            return OpenAIPolicy(
                self.model,
                base_url=self.base_url,
                api_key_env=self.api_key_env,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        from toolgym.agents.local_policy import LocalPolicy

        return LocalPolicy(self.model, timeout=self.timeout)

    @property
    def label(self) -> str:
        """How the model is named in stats and dataset cards."""
        if self.base_url:
            return f"{self.model} @ {self.base_url}"
        return f"local:{self.model or 'SmolLM2-135M-Instruct'}"


class PolicyPool:
    """One policy per distinct model, shared by every part that uses it (one local model loaded once).

    ``acquire`` counts users; ``release`` closes a policy when its last user lets go.
    """

    def __init__(self) -> None:
        self._policies: dict[ModelSpec, Policy] = {}
        self._users: dict[ModelSpec, int] = {}

    def acquire(self, spec: ModelSpec) -> Policy:
        if spec not in self._policies:
            self._policies[spec] = spec.build()
            self._users[spec] = 0
        self._users[spec] += 1
        return self._policies[spec]

    async def release(self, policy: Any) -> None:
        for spec, held in list(self._policies.items()):
            if held is policy:
                self._users[spec] -= 1
                if self._users[spec] <= 0:
                    del self._policies[spec], self._users[spec]
                    await policy.aclose()
                return

    async def aclose(self) -> None:
        """Close every policy still held."""
        policies, self._policies, self._users = list(self._policies.values()), {}, {}
        for policy in policies:
            await policy.aclose()


SHARED_POLICIES = PolicyPool()
"""The process-wide pool environments draw their simulator and judge policies from."""
