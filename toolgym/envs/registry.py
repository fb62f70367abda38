"""The environment registry: toolgym names (``toolgym eval NAME``) and Gymnasium ids."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import gymnasium as gym


@dataclass(frozen=True, slots=True)
class EnvEntry:
    """A registered environment: its short name, Gymnasium id, entry point and one-line summary."""

    name: str
    gym_id: str
    entry_point: str
    description: str

    def load(self) -> type:
        module, _, attr = self.entry_point.partition(":")
        return getattr(importlib.import_module(module), attr)


ENVS: dict[str, EnvEntry] = {}


def register_env(name: str, entry_point: str, description: str, gym_id: str | None = None) -> EnvEntry:
    """Register an env under ``name`` and as ``toolgym/<Name>-v0`` for ``gymnasium.make``."""
    gym_id = gym_id or f"toolgym/{name.title().replace('_', '').replace('-', '')}-v0"
    entry = EnvEntry(name, gym_id, entry_point, description)
    ENVS[name] = entry
    if gym_id not in gym.registry:
        gym.register(id=gym_id, entry_point=entry_point, disable_env_checker=True)
    return entry


def get_env_entry(name: str) -> EnvEntry:
    """The entry for a toolgym name or a Gymnasium id; a clear error lists the known names."""
    if name in ENVS:
        return ENVS[name]
    for entry in ENVS.values():
        if entry.gym_id == name:
            return entry
    raise KeyError(f"unknown environment {name!r}; known: {', '.join(sorted(ENVS))}")


def make_env(name: str, **kwargs: Any) -> Any:
    """Build a registered env by toolgym name or Gymnasium id (the raw env, no Gymnasium wrappers)."""
    return get_env_entry(name).load()(**kwargs)
