"""SyncPolicy: the thin sync facade of a Policy, for plain (non-async) training loops."""

from __future__ import annotations

from typing import Any

from toolgym.agents.policy import Generation, Policy, Sampling
from toolgym.sync import LoopRunner


class SyncPolicy:
    """Wraps an async Policy so ``generate`` can be called without ``await``.

    All calls run on one private event loop, so the policy's connections stay valid across calls.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.name = policy.name
        self._runner = LoopRunner()

    def generate(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: Sampling | None = None,
    ) -> Generation:
        """The policy's next assistant message (raises PolicyError like the async call)."""
        return self._runner.run(self.policy.generate(messages, tools, sampling))

    def close(self) -> None:
        self._runner.run(self.policy.aclose())
        self._runner.close()

    def __enter__(self) -> SyncPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
