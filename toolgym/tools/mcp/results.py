"""Conversions between MCP's tools and results and toolgym's ToolSpec and ToolOutput, both ways."""

from __future__ import annotations

import json
from typing import Any

import mcp_types

from toolgym.tools.base import ToolOutput
from toolgym.types import ToolSpec


def tool_spec(tool: mcp_types.Tool, name: str | None = None) -> ToolSpec:
    """An MCP tool as a ToolSpec (input and output schemas kept), optionally under another ``name``."""
    description = tool.description or tool.title or ""
    return ToolSpec(
        name=name or tool.name,
        description=description,
        parameters=dict(tool.input_schema) if tool.input_schema else {"type": "object", "properties": {}},
        output_schema=dict(tool.output_schema) if tool.output_schema else None,
    )


def _base64_size(data: str) -> int:
    return max(len(data) * 3 // 4 - data.count("=", max(len(data) - 2, 0)), 0)


def block_text(block: Any) -> str:
    """The text a model sees for one content block; binary content becomes a placeholder with its size."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return block.text
    if kind in ("image", "audio"):
        return f"[{kind}: {block.mime_type}, {_base64_size(block.data)} bytes]"
    if kind == "resource_link":
        mime = f", {block.mime_type}" if block.mime_type else ""
        return f"[resource link: {block.name} <{block.uri}>{mime}]"
    if kind == "resource":
        resource = block.resource
        text = getattr(resource, "text", None)
        if text is not None:
            return f"[resource: {resource.uri}]\n{text}"
        blob = getattr(resource, "blob", "") or ""
        mime = resource.mime_type or "application/octet-stream"
        return f"[resource: {resource.uri}, {mime}, {_base64_size(blob)} bytes]"
    return f"[{kind or type(block).__name__} content]"


def tool_output(result: mcp_types.CallToolResult) -> ToolOutput:
    """An MCP tool result as a ToolOutput: the content blocks as text (structured content as JSON when
    there is no content), ``is_error`` kept, structured content in ``structured``."""
    blocks = result.content or []
    if len(blocks) == 1 and blocks[0].type == "text":
        content = blocks[0].text
    elif blocks:
        content = "\n".join(block_text(b) for b in blocks)
    elif result.structured_content is not None:
        content = json.dumps(result.structured_content, ensure_ascii=False)
    else:
        content = ""
    return ToolOutput(content, is_error=bool(result.is_error), structured=result.structured_content)


def mcp_tool(spec: ToolSpec) -> mcp_types.Tool:
    """A ToolSpec as an MCP tool (an output schema is kept only when it describes an object)."""
    output = spec.output_schema if spec.output_schema and spec.output_schema.get("type") == "object" else None
    return mcp_types.Tool(
        name=spec.name, description=spec.description or None, input_schema=spec.parameters, output_schema=output
    )


def call_result(output: ToolOutput) -> mcp_types.CallToolResult:
    """A ToolOutput as an MCP tool result (structured data is sent when it is a JSON object)."""
    structured = output.structured if isinstance(output.structured, dict) else None
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=output.content)],
        structured_content=structured,
        is_error=output.is_error,
    )


def error_result(message: str) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text=message)], is_error=True)
