"""SimulatedToolset: tools that exist only as specs, played by an LLM that keeps state across calls.

Within an episode the simulator sees every earlier call and result, so a created record can be read back and a
deleted one is gone. Seeded failures (a service error, a rate limit) and edge cases (empty or partial results)
are injected so agents learn to recover. Arguments are checked against each tool's JSON schema before the
model is asked, so schema errors reach the agent exactly as a real tool would report them.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from toolgym.agents.policy import Policy, PolicyError, Sampling
from toolgym.agents.structured import RequestStats, StructuredOutputError, ask_json
from toolgym.tools.base import ToolArgumentsError, ToolError, ToolOutput, Toolset, UnknownToolError
from toolgym.types import ToolSpec

FAILURES = (
    "service temporarily unavailable (HTTP 503); try again later",
    "rate limit exceeded (HTTP 429); retry after a short wait",
    "upstream request timed out after 10 s",
    "internal server error (HTTP 500)",
)
EDGE_CASES = (
    "the result is empty (nothing matches the request)",
    "the result is partial: only some of the requested items are available",
    "an unusual but valid value: a boundary, a null field, or a stale entry",
)
REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"status": {"enum": ["ok", "error"]}, "result": {}},
    "required": ["status", "result"],
    "additionalProperties": False,
}
SYSTEM = (
    "You simulate software tools for testing an AI assistant. Given a tool's specification, its stated "
    "behaviour and the calls made so far in this session, reply with what the tool returns for the new call, "
    'as JSON: {{"status": "ok" or "error", "result": <the output>}}. Stay consistent with earlier results '
    "(the tools share one state: data created earlier exists, deleted data is gone). Invent concrete, "
    "plausible values; never mention that you are a simulation.{context}"
)


@dataclass(slots=True)
class SimulatedCall:
    """One call of an episode, as the simulator remembers it."""

    name: str
    arguments: dict[str, Any]
    status: str
    result: Any


class SimulatedToolset(Toolset):
    """Tools given as specs and played by ``policy``.

    Args:
        tools: the tool specs.
        policy: the model playing the tools.
        behaviours: each tool's stated behaviour (what it does, returns and how it fails), by name.
        context: what the tools belong to (an application, a domain), told to the simulator.
        seed: seeds the failure draws and the model's sampling; the same seed gives the same episode.
        failure_rate: chance a call fails with a service error instead of being simulated.
        edge_case_rate: chance the simulator is told to return an edge case (empty, partial, unusual).
        history: earlier calls shown to the simulator (the most recent ones).
        attempts: tries at a usable reply before the call fails with ``simulator_error``.
    """

    def __init__(
        self,
        tools: Sequence[ToolSpec],
        policy: Policy,
        *,
        behaviours: Mapping[str, str] | None = None,
        context: str = "",
        seed: int = 0,
        failure_rate: float = 0.0,
        edge_case_rate: float = 0.0,
        history: int = 12,
        attempts: int = 2,
        max_tokens: int = 256,
        temperature: float = 0.3,
        structured: bool = True,
    ) -> None:
        if not 0 <= failure_rate <= 1 or not 0 <= edge_case_rate <= 1:
            raise ValueError("failure_rate and edge_case_rate must be within [0, 1]")
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ValueError(f"tool names must be unique, got {names}")
        self.specs = {t.name: t for t in tools}
        self.policy = policy
        self.behaviours = dict(behaviours or {})
        self.context = context
        self.failure_rate, self.edge_case_rate = failure_rate, edge_case_rate
        self.history_size, self.attempts = history, attempts
        self.max_tokens, self.temperature, self.structured = max_tokens, temperature, structured
        self.stats = RequestStats()
        self.calls: list[SimulatedCall] = []
        self._validators = {t.name: Draft202012Validator(t.parameters) for t in tools}
        self._lock = asyncio.Lock()
        self.seed = seed

    def reset(self, seed: int | None = None) -> None:
        """Forget the episode's calls (a new session); optionally reseed."""
        self.calls = []
        if seed is not None:
            self.seed = seed

    async def on_episode_start(self) -> None:
        self.reset()

    async def list_tools(self) -> list[ToolSpec]:
        return list(self.specs.values())

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        spec = self.specs.get(name)
        if spec is None:
            raise UnknownToolError(name, self.specs)
        error = best_match(self._validators[name].iter_errors(arguments))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(arguments)"
            raise ToolArgumentsError(name, f"{where}: {error.message}")
        async with self._lock:  # calls of one episode are simulated in order, so the state is deterministic
            index = len(self.calls)
            rng = random.Random(f"{self.seed}:{index}:{name}")
            draw = rng.random()
            if draw < self.failure_rate:
                failure = rng.choice(FAILURES)
                self.calls.append(SimulatedCall(name, arguments, "error", failure))
                raise ToolError(failure, kind="simulated_failure")
            edge = rng.choice(EDGE_CASES) if draw < self.failure_rate + self.edge_case_rate else None
            status, result = await self._simulate(spec, arguments, edge, rng.randrange(2**31))
            self.calls.append(SimulatedCall(name, arguments, status, result))
        content = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        return ToolOutput(content, is_error=status == "error", structured=None if isinstance(result, str) else result)

    def _messages(self, spec: ToolSpec, arguments: dict[str, Any], edge: str | None) -> list[dict[str, Any]]:
        context = f"\nThe tools belong to: {self.context}" if self.context else ""
        lines = [
            f"Tool: {spec.name}",
            f"Description: {spec.description}",
            f"Parameters (JSON schema): {json.dumps(spec.parameters, ensure_ascii=False)}",
        ]
        if spec.name in self.behaviours:
            lines.append(f"Stated behaviour: {self.behaviours[spec.name]}")
        if spec.output_schema:
            lines.append(f"Result schema: {json.dumps(spec.output_schema, ensure_ascii=False)}")
        recent = self.calls[-self.history_size :] if self.history_size else []
        if recent:
            lines.append("Earlier calls in this session:")
            for call in recent:
                args = json.dumps(call.arguments, ensure_ascii=False)
                lines.append(f"- {call.name}({args}) -> {call.status}: {json.dumps(call.result, ensure_ascii=False)}")
        lines.append(f"New call: {spec.name}({json.dumps(arguments, ensure_ascii=False)})")
        if edge:
            lines.append(f"For this call, return an edge case: {edge}.")
        return [
            {"role": "system", "content": SYSTEM.format(context=context)},
            {"role": "user", "content": "\n".join(lines)},
        ]

    async def _simulate(
        self, spec: ToolSpec, arguments: dict[str, Any], edge: str | None, seed: int
    ) -> tuple[str, Any]:
        schema = REPLY_SCHEMA
        if spec.output_schema:
            schema = {**REPLY_SCHEMA, "properties": {**REPLY_SCHEMA["properties"], "result": spec.output_schema}}
        sampling = Sampling(temperature=self.temperature, max_tokens=self.max_tokens, seed=seed)
        try:
            reply = await ask_json(
                self.policy,
                self._messages(spec, arguments, edge),
                schema,
                attempts=self.attempts,
                sampling=sampling,
                structured=self.structured,
                stats=self.stats,
                name="tool_result",
            )
        except (StructuredOutputError, PolicyError) as exc:
            raise ToolError(f"the tool service failed: {exc}", kind="simulator_error") from exc
        return reply["status"], reply["result"]
