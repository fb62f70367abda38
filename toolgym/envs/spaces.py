"""Gymnasium spaces for conversations (observations) and assistant replies (actions)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

_ROLES = frozenset({"system", "user", "assistant", "tool"})


class MessagesSpace(gym.Space):
    """A conversation: a list of OpenAI chat message dicts."""

    def __init__(self) -> None:
        super().__init__(shape=None, dtype=None)

    def contains(self, x: Any) -> bool:
        return isinstance(x, list) and all(isinstance(m, dict) and m.get("role") in _ROLES for m in x)

    def sample(self, mask: Any = None, probability: Any = None) -> list[dict[str, Any]]:
        return [{"role": "user", "content": "hello"}]

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MessagesSpace()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MessagesSpace)


class ActionSpace(gym.Space):
    """An assistant reply: raw text or an assistant message dict (optionally with tool_calls)."""

    def __init__(self) -> None:
        super().__init__(shape=None, dtype=None)

    def contains(self, x: Any) -> bool:
        if isinstance(x, str):
            return True
        return isinstance(x, dict) and x.get("role", "assistant") == "assistant"

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        return {"role": "assistant", "content": "I am done."}

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ActionSpace()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActionSpace)
