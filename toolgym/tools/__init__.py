"""Tools: the Toolset contract, typed Python functions as tools, composition and tool-call parsers."""

from toolgym.tools.base import (
    MergedToolset,
    PrefixedToolset,
    SelectedToolset,
    ToolArgumentsError,
    ToolError,
    ToolOutput,
    Toolset,
    UnknownToolError,
)
from toolgym.tools.function import FunctionToolset
from toolgym.tools.parsers import HermesParser, NoParser, ParsedCall, ParsedText, ToolCallParser, get_parser

__all__ = [
    "FunctionToolset",
    "HermesParser",
    "MergedToolset",
    "NoParser",
    "ParsedCall",
    "ParsedText",
    "PrefixedToolset",
    "SelectedToolset",
    "ToolArgumentsError",
    "ToolCallParser",
    "ToolError",
    "ToolOutput",
    "Toolset",
    "UnknownToolError",
    "get_parser",
]
