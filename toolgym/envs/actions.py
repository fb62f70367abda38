"""Reading an action (assistant message or raw text) into tool calls, and running those calls."""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from toolgym.agents.policy import Generation
from toolgym.tools.base import ToolError, ToolOutput, Toolset
from toolgym.tools.function import to_output
from toolgym.tools.parsers import ToolCallParser
from toolgym.types import ToolResult


class ActionError(TypeError):
    """An action of the wrong shape (a programming error of the caller, not of the model)."""


@dataclass(slots=True)
class PendingCall:
    """A tool call as read from the action, with its parsed arguments or why they could not be read."""

    id: str
    name: str
    raw_arguments: str
    arguments: dict[str, Any] | None = None
    error: str | None = None
    error_kind: str | None = None


@dataclass(slots=True)
class Action:
    """A normalised action: the assistant message to record, its tool calls and what it cost."""

    message: dict[str, Any]
    calls: list[PendingCall] = field(default_factory=list)
    answer: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False
    finish_reason: str | None = None
    model_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _read_arguments(call: PendingCall) -> PendingCall:
    if call.error is not None:
        return call
    try:
        value = json.loads(call.raw_arguments) if call.raw_arguments.strip() else {}
    except json.JSONDecodeError as exc:
        call.error, call.error_kind = f"arguments are not valid JSON ({exc.msg})", "invalid_json"
        return call
    if not isinstance(value, dict):
        call.error, call.error_kind = "arguments must be a JSON object", "invalid_arguments"
    else:
        call.arguments = value
    return call


def _calls_from_message(tool_calls: list[Any], turn: int) -> list[PendingCall]:
    calls = []
    for i, tc in enumerate(tool_calls):
        fn = tc.get("function") if isinstance(tc, dict) else None
        call_id = (tc.get("id") if isinstance(tc, dict) else None) or f"call_{turn}_{i}"
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            calls.append(
                PendingCall(
                    call_id, "", json.dumps(tc, default=str), None, "tool call has no function name", "malformed_call"
                )
            )
            continue
        args = fn.get("arguments", "{}")
        raw = args if isinstance(args, str) else json.dumps(args)
        calls.append(_read_arguments(PendingCall(call_id, fn["name"], raw)))
    return calls


def read_action(action: Any, parser: ToolCallParser, turn: int) -> Action:
    """Normalise ``action``: a str, an assistant message dict, or a policy Generation.

    A dict may carry ``usage`` ({prompt_tokens, completion_tokens}) and ``finish_reason``; these are
    taken off the recorded message. Text is read by ``parser``; token counts missing from the action
    are estimated (4 characters a token) and flagged as estimates.
    """
    prompt_tokens = completion_tokens = 0
    finish_reason = None
    seconds = 0.0
    extra: dict[str, Any] = {}
    has_usage = False
    if isinstance(action, Generation):
        message = action.message
        prompt_tokens, completion_tokens = action.prompt_tokens, action.completion_tokens
        finish_reason, seconds, extra = action.finish_reason, action.seconds, action.extra
        has_usage = bool(action.completion_tokens or action.prompt_tokens)  # a server may send no usage
    elif isinstance(action, str):
        message = {"role": "assistant", "content": action}
    elif isinstance(action, dict):
        message = action
        if "usage" in message or "finish_reason" in message:
            message = dict(action)
            usage = message.pop("usage", None) or {}
            prompt_tokens = int(usage.get("prompt_tokens", 0))
            completion_tokens = int(usage.get("completion_tokens", 0))
            has_usage = "completion_tokens" in usage
            finish_reason = message.pop("finish_reason", None)
    else:
        raise ActionError(
            f"an action must be a str, an assistant message dict or a Generation, not {type(action).__name__}"
        )
    role = message.get("role", "assistant")
    if role != "assistant":
        raise ActionError(f"an action must be an assistant message, got role {role!r}")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise ActionError("an action's content must be a string or None")

    tool_calls = message.get("tool_calls")
    answer = None
    if tool_calls:
        calls = _calls_from_message(tool_calls, turn)
        record = {"role": "assistant", "content": content, "tool_calls": tool_calls}
    else:
        parsed = parser.parse(content or "")
        answer = parsed.answer
        calls = [
            _read_arguments(
                PendingCall(f"call_{turn}_{i}", c.name, c.arguments, None, c.error, "invalid_json" if c.error else None)
            )
            for i, c in enumerate(parsed.calls)
        ]
        text_protocol = getattr(parser, "text_protocol", False)  # the conversation stays plain text
        record = {"role": "assistant", "content": content if not calls or text_protocol else (parsed.content or None)}
        if calls and not text_protocol:
            record["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.raw_arguments}}
                for c in calls
            ]
            extra = {**extra, "raw_text": content}
    estimated = not has_usage
    if estimated:
        completion_tokens = math.ceil((len(content or "") + sum(len(c.raw_arguments) for c in calls)) / 4)
        completion_tokens += 8 * len(calls)
    return Action(record, calls, answer, prompt_tokens, completion_tokens, estimated, finish_reason, seconds, extra)


def _error(call: PendingCall, message: str, kind: str, seconds: float = 0.0) -> ToolResult:
    return ToolResult(
        call_id=call.id,
        name=call.name,
        content=f"Error: {message}",
        is_error=True,
        error_kind=kind,
        seconds=seconds,
    )


async def _run_one(call: PendingCall, toolset: Toolset, allowed: set[str], timeout: float) -> ToolResult:
    if call.error is not None:
        return _error(call, call.error, call.error_kind or "malformed_call")
    if call.name not in allowed:
        known = ", ".join(sorted(allowed)) or "none"
        return _error(call, f"unknown tool {call.name!r}; available tools: {known}", "unknown_tool")
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            out = await toolset.call(call.name, call.arguments or {})
        if not isinstance(out, ToolOutput) or not isinstance(out.content, str):  # a toolset off its contract
            out = to_output(out.content if isinstance(out, ToolOutput) else out)
    except TimeoutError:
        return _error(call, f"tool {call.name!r} timed out after {timeout:g}s", "timeout", time.perf_counter() - start)
    except ToolError as exc:
        return _error(call, str(exc), exc.kind, time.perf_counter() - start)
    except Exception as exc:  # a crashing tool is recorded and survived
        return _error(
            call, f"tool {call.name!r} crashed: {type(exc).__name__}: {exc}", "tool_crash", time.perf_counter() - start
        )
    return ToolResult(
        call_id=call.id,
        name=call.name,
        content=out.content,
        is_error=out.is_error,
        error_kind="tool_reported" if out.is_error else None,
        seconds=time.perf_counter() - start,
    )


async def run_calls(calls: list[PendingCall], toolset: Toolset, allowed: set[str], timeout: float) -> list[ToolResult]:
    """Run tool calls concurrently, each under ``timeout``; failures become error results."""
    if len(calls) == 1:
        return [await _run_one(calls[0], toolset, allowed, timeout)]
    return list(await asyncio.gather(*(_run_one(c, toolset, allowed, timeout) for c in calls)))


def budget_exhausted(call: PendingCall) -> ToolResult:
    """The result of a call that was not run because the tool-call budget is spent."""
    return _error(call, "tool-call budget exhausted; this call was not run", "budget")
