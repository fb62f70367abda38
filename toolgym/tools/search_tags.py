"""The Search-R1 tag protocol for models without native tool calls.

The model writes ``<search>query</search>`` to search (``<open>id</open>`` to read a result, an
extension of Search-R1) and ``<answer>...</answer>`` to answer; results come back inside
``<information>...</information>``. Registered as the parser ``search_r1``:
``ToolEnv(parser="search_r1")``.
"""

from __future__ import annotations

import json
import re

from toolgym.tools.parsers import ParsedCall, ParsedText

_ACTION = re.compile(r"<(search|open|answer)>(.*?)(?:</\1>|\Z)", re.DOTALL)
_INFORMATION = re.compile(r"<information>.*?(?:</information>|\Z)", re.DOTALL)

INVALID_ACTION_HINT = (
    "My previous action is invalid. If I want to search, I should put the query between <search> and "
    "</search>. If I want to give the final answer, I should put the answer between <answer> and </answer>. "
    "Let me try again."
)


class SearchR1Parser:
    """Reads the first action tag of a reply (Search-R1's rule: one action per turn).

    ``<search>q</search>`` becomes a call of ``search_tool`` with ``{"query": q}``, ``<open>id</open>`` a
    call of ``open_tool`` with ``{"id": id}``, and ``<answer>a</answer>`` the explicit final answer.
    A tag left open at the end (generation stopped at ``</search>``) is read to the end of the text.
    ``<information>`` blocks the model wrote itself are ignored: only the environment supplies them.
    """

    name = "search_r1"
    text_protocol = True

    def __init__(self, search_tool: str = "search", open_tool: str = "open") -> None:
        self.search_tool, self.open_tool = search_tool, open_tool

    def parse(self, text: str) -> ParsedText:
        own = _INFORMATION.sub("", text)
        match = _ACTION.search(own)
        if match is None:
            return ParsedText(text)
        tag, body = match.group(1), match.group(2).strip()
        prose = own[: match.start()].strip()
        if tag == "answer":
            return ParsedText(prose, answer=body)
        tool, key = (self.search_tool, "query") if tag == "search" else (self.open_tool, "id")
        arguments = json.dumps({key: body}, ensure_ascii=False)
        error = None if body else f"empty <{tag}></{tag}>: put the {key} between the tags"
        return ParsedText(prose, [ParsedCall(tool, arguments, error)])

    def format_result(self, content: str) -> str:
        """A tool result the way the model expects it back."""
        return f"<information>{content}</information>"


def has_action(text: str) -> bool:
    """Whether ``text`` holds a ``<search>``, ``<open>`` or ``<answer>`` tag."""
    return _ACTION.search(_INFORMATION.sub("", text)) is not None
