"""Tool-call parsers: read tool calls out of the raw text of models without native tool calling."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class ParsedCall:
    """A tool call found in text. ``error`` is set when the markup was found but could not be read."""

    name: str
    arguments: str
    error: str | None = None


@dataclass(slots=True)
class ParsedText:
    """The prose of a reply (markup removed), the tool calls it holds, and an explicit final answer
    when the format marks one (e.g. ``<answer>...</answer>``)."""

    content: str
    calls: list[ParsedCall] = field(default_factory=list)
    answer: str | None = None


class ToolCallParser(Protocol):
    """Turns a model's raw text into prose plus tool calls; never raises on malformed input.

    A parser may also define ``format_result(content: str) -> str`` to wrap tool results the way its
    format expects them back (e.g. ``<information>...</information>``), and set ``text_protocol = True``
    when the whole conversation stays plain text (Search-R1 tags): then no native tools are offered,
    the model's replies are recorded verbatim and results come back as user messages.
    """

    name: str

    def parse(self, text: str) -> ParsedText: ...


def read_call_json(raw: str) -> ParsedCall:
    """Read ``{"name": ..., "arguments": {...}}``; a malformed body gives a ParsedCall with an error."""
    raw = raw.strip()
    try:
        payload: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        name = re.search(r'"name"\s*:\s*"([^"]+)"', raw)
        return ParsedCall(name.group(1) if name else "", raw, f"tool call is not valid JSON ({exc.msg})")
    if not isinstance(payload, dict):
        return ParsedCall("", raw, "tool call must be a JSON object with 'name' and 'arguments'")
    name = payload.get("name")
    if not isinstance(name, str) or not name:
        return ParsedCall("", raw, "tool call has no 'name' string")
    arguments = payload.get("arguments", payload.get("parameters", {}))
    if isinstance(arguments, str):
        return ParsedCall(name, arguments)
    if not isinstance(arguments, dict):
        return ParsedCall(name, json.dumps(arguments), "tool call 'arguments' must be a JSON object")
    return ParsedCall(name, json.dumps(arguments, ensure_ascii=False))


class HermesParser:
    """``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, the format of Hermes and Qwen models.

    An opening tag with no closing tag (a reply cut off mid-call) is read to the end of the text.
    """

    name = "hermes"
    _CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)

    def parse(self, text: str) -> ParsedText:
        if "<tool_call>" not in text:
            return ParsedText(text)
        calls = [read_call_json(m.group(1)) for m in self._CALL.finditer(text)]
        return ParsedText(self._CALL.sub("", text).strip(), calls)


class NoParser:
    """Text is only text: no tool calls are read from it."""

    name = "none"

    def parse(self, text: str) -> ParsedText:
        return ParsedText(text)


def _search_r1() -> ToolCallParser:
    from toolgym.tools.search_tags import SearchR1Parser

    return SearchR1Parser()


PARSERS: dict[str, Callable[[], ToolCallParser]] = {"hermes": HermesParser, "none": NoParser, "search_r1": _search_r1}


def register_parser(name: str, factory: Callable[[], ToolCallParser]) -> None:
    """Make a parser available by name (``ToolEnv(parser=name)``)."""
    PARSERS[name] = factory


def get_parser(name: str) -> ToolCallParser:
    """A parser by name (``hermes``, ``none``)."""
    try:
        return PARSERS[name]()
    except KeyError:
        raise ValueError(f"unknown tool-call parser {name!r}; known: {', '.join(PARSERS)}") from None
