from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.synth.scripted import SynthHandler
from toolgym.agents.openai_policy import OpenAIPolicy
from toolgym.synth.config import SynthConfig
from toolgym.testing.openai_server import ScriptedOpenAIServer
from toolgym.tools import FunctionToolset


@pytest.fixture
def handler() -> SynthHandler:
    return SynthHandler()


@pytest.fixture
def server(handler: SynthHandler) -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(handler) as srv:
        yield srv


@pytest.fixture
def policy(server: ScriptedOpenAIServer) -> OpenAIPolicy:
    return OpenAIPolicy("scripted", base_url=server.base_url, max_retries=0, timeout=10)


def clock_toolset() -> FunctionToolset:
    """A small real toolset standing in for a tool server."""
    tools = FunctionToolset()

    @tools.tool
    def get_time(timezone: str) -> str:
        """Current time in a timezone.

        Args:
            timezone: an IANA timezone name, e.g. Europe/Paris
        """
        return f"12:00 in {timezone}"

    @tools.tool
    def convert_time(time: str, source: str, target: str) -> str:
        """Convert a time between timezones.

        Args:
            time: HH:MM
            source: the source timezone
            target: the target timezone
        """
        return f"{time} {source} is 13:00 {target}"

    return tools


def scripted_config(server: ScriptedOpenAIServer, out, **sections) -> SynthConfig:
    data = {
        "out": str(out),
        "seed": 7,
        "concurrency": 2,
        "progress": False,
        "model": {"model": "scripted", "base_url": server.base_url, "max_retries": 0, "timeout": 10},
        "llm": {"attempts": 2},
        "evolve": {"categories": ["Travel", "Finance"], "domains_per_category": 1, "tools_per_domain": 2},
        "agents": {"n": 2, "tools_per_agent": 2, "real_tools": 1, "distractors": 1},
        "tasks": {"per_agent": 2},
        "rollouts": {"max_turns": 4, "failure_rate": 0.0, "edge_case_rate": 0.0},
        "export": {"test_fraction": 0.5},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return SynthConfig.from_dict(data)
