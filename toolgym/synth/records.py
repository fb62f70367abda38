"""The records the pipeline stages write, one JSON object a line, each keyed by a stable ``id``.

Tasks are plain :class:`toolgym.Task` records (their metadata carries the rubric, tool specs and persona), so
``load_tasks`` and :class:`~toolgym.envs.simulated_env.SimulatedToolEnv` read the tasks file directly.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field

from toolgym.rewards.rubric import Judgment
from toolgym.types import Episode, ToolSpec


class ToolRecord(BaseModel):
    """A tool: harvested from a real server (``real``) or synthesized, with where it comes from."""

    id: str
    spec: ToolSpec
    source: str = Field(description="MCP server name for real tools, 'synthetic' otherwise")
    real: bool = False
    category: str | None = None
    domain: str | None = None
    behaviour: str = Field(default="", description="what the tool does, returns and how it fails")


class CategoryRecord(BaseModel):
    """A top-level category of applications (e.g. 'finance')."""

    id: str
    name: str
    description: str = ""


class DomainRecord(BaseModel):
    """An application domain within a category (e.g. 'personal budgeting app')."""

    id: str
    category: str
    name: str
    description: str = ""


class AgentRecord(BaseModel):
    """An agent: a system prompt and the tools it is given (its own plus distractors)."""

    id: str
    name: str
    domain: str
    system_prompt: str
    tools: list[ToolRecord] = Field(description="the tools the agent's tasks are about")
    distractors: list[ToolRecord] = Field(default_factory=list, description="tools offered but not needed")

    @property
    def all_tools(self) -> list[ToolRecord]:
        return [*self.tools, *self.distractors]


class TrajectoryRecord(BaseModel):
    """One episode of a policy working a task."""

    id: str
    task_id: str
    episode: Episode


class JudgedRecord(BaseModel):
    """A trajectory's judgment, and the reference policy's when the difficulty filter ran."""

    id: str
    task_id: str
    judgment: Judgment
    reference: Judgment | None = None


class Rejection(BaseModel):
    """A record a stage gave up on, and why (invalid model output, a failed episode, a filter's decision)."""

    id: str
    stage: str
    reason: str
    raw: Any = None
    at: float = Field(default_factory=time.time)
