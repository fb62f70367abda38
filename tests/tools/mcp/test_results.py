"""MCP results and tools to toolgym's ToolOutput and ToolSpec, and back."""

import base64

import mcp_types as t

from tests.tools.mcp.helpers import npm_server
from toolgym.tools.base import ToolOutput
from toolgym.tools.mcp import MCPToolset
from toolgym.tools.mcp.results import call_result, mcp_tool, tool_output, tool_spec
from toolgym.types import ToolSpec

DATA = base64.b64encode(bytes(1234)).decode()


def test_text_structured_and_error_results():
    single = tool_output(
        t.CallToolResult(content=[t.TextContent(type="text", text="42")], structured_content={"v": 42})
    )
    assert single == ToolOutput("42", is_error=False, structured={"v": 42})
    only_structured = tool_output(t.CallToolResult(content=[], structured_content={"v": [1, "é"]}))
    assert only_structured.content == '{"v": [1, "é"]}'
    error = tool_output(t.CallToolResult(content=[t.TextContent(type="text", text="no such file")], is_error=True))
    assert error.is_error and error.content == "no such file"
    assert tool_output(t.CallToolResult(content=[])).content == ""


def test_non_text_content_becomes_a_clear_placeholder():
    result = t.CallToolResult(
        content=[
            t.TextContent(type="text", text="Here:"),
            t.ImageContent(type="image", data=DATA, mime_type="image/png"),
            t.AudioContent(type="audio", data=DATA, mime_type="audio/wav"),
            t.ResourceLink(type="resource_link", name="report", uri="file:///r.pdf", mime_type="application/pdf"),
            t.EmbeddedResource(type="resource", resource=t.TextResourceContents(uri="mem://a", text="inline text")),
            t.EmbeddedResource(
                type="resource", resource=t.BlobResourceContents(uri="mem://b", blob=DATA, mime_type="image/gif")
            ),
        ]
    )
    assert tool_output(result).content.splitlines() == [
        "Here:",
        "[image: image/png, 1234 bytes]",
        "[audio: audio/wav, 1234 bytes]",
        "[resource link: report <file:///r.pdf>, application/pdf]",
        "[resource: mem://a]",
        "inline text",
        "[resource: mem://b, image/gif, 1234 bytes]",
    ]


def test_tool_specs_both_ways():
    tool = t.Tool(
        name="search",
        title="Search",
        input_schema={"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        output_schema={"type": "object", "properties": {"hits": {"type": "array"}}},
    )
    spec = tool_spec(tool, name="docs_search")
    assert spec.name == "docs_search" and spec.description == "Search"  # the title when there is no description
    assert spec.parameters["required"] == ["q"] and spec.output_schema["properties"]["hits"]["type"] == "array"
    back = mcp_tool(ToolSpec(name="add", description="Add.", output_schema={"type": "integer"}))
    assert back.name == "add" and back.output_schema is None  # MCP output schemas describe objects only
    sent = call_result(ToolOutput("5", structured=5))
    assert sent.structured_content is None and sent.content[0].text == "5"
    assert call_result(ToolOutput("{}", is_error=True, structured={"a": 1})).structured_content == {"a": 1}


async def test_server_everything_image_and_resources_as_the_model_sees_them():
    config = {"mcpServers": {"everything": {"command": npm_server("mcp-server-everything")}}}
    async with MCPToolset(config) as tools:
        image = await tools.call("get-tiny-image", {})
        assert "[image: image/png, " in image.content and "bytes]" in image.content
        assert "base64" not in image.content and len(image.content) < 300
        links = await tools.call("get-resource-links", {"count": 2})
        assert links.content.count("[resource link: ") == 2
        assert (await tools.call("echo", {"message": "hi"})).content == "Echo: hi"
