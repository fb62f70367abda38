"""Stage 1, harvest: record the real tool specs of live tool servers, tagged by source.

Works on any :class:`~toolgym.tools.base.Toolset` (``{source: toolset}``); :func:`mcp_toolsets` builds them from
an ``{"mcpServers": ...}`` config, one toolset per server. A server that cannot be reached, or a tool whose
schema is unusable, is recorded in ``harvest/rejected.jsonl`` and the rest go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolgym.synth.records import ToolRecord
from toolgym.synth.schemas import ToolSchemaError, check_tool
from toolgym.synth.stage import Reject, Stage, StageResult
from toolgym.synth.store import RecordStore
from toolgym.tools.base import Toolset

TOOLS_FILE = "tools.jsonl"


class MCPUnavailableError(RuntimeError):
    """MCP support is not installed."""


def mcp_toolsets(servers: str | Path | Mapping[str, Any]) -> dict[str, Toolset]:
    """One MCP toolset per server of an ``{"mcpServers": ...}`` config (a file path or the mapping itself)."""
    try:
        from toolgym.tools.mcp import MCPToolset, load_servers
    except ImportError as exc:
        raise MCPUnavailableError(f"MCP support not installed: pip install 'toolgym[mcp]' ({exc})") from None
    configs = load_servers(servers)
    return {name: MCPToolset({"mcpServers": {name: config}}) for name, config in configs.items()}


async def harvest_tools(
    toolsets: Mapping[str, Toolset],
    out: str | Path,
    *,
    timeout: float = 60.0,
    concurrency: int = 4,
    progress: bool = False,
) -> StageResult:
    """List every source's tools (each within ``timeout`` seconds) into ``out/harvest/tools.jsonl``.

    A source already harvested is skipped on a re-run. Returns what the stage did.
    """
    stage = Stage("harvest", out, concurrency=concurrency, progress=progress)
    store = stage.store(TOOLS_FILE, ToolRecord)
    finished = {r.source for r in store.read().values()}

    def lister(source: str, toolset: Toolset) -> Any:
        async def run() -> None:
            try:
                async with asyncio.timeout(timeout):
                    specs = await toolset.list_tools()
            except TimeoutError:
                raise Reject(f"source {source!r} did not list its tools within {timeout:g} s") from None
            except Exception as exc:
                raise Reject(f"source {source!r} failed to list its tools: {type(exc).__name__}: {exc}") from None
            if not specs:
                raise Reject(f"source {source!r} offers no tools")
            for spec in specs:
                record_id = f"{source}:{spec.name}"
                try:
                    checked = check_tool(spec.name, spec.description, spec.parameters, strict=False)
                except ToolSchemaError as exc:
                    stage.reject(record_id, f"unusable tool schema: {exc}", spec.model_dump())
                    continue
                checked.output_schema = spec.output_schema
                record = ToolRecord(id=record_id, spec=checked, source=source, real=True, domain=f"mcp:{source}")
                store.append(record)
                stage.result.written += 1

        return run

    items = [(f"source:{s}", lister(s, t)) for s, t in sorted(toolsets.items()) if s not in finished]
    try:
        await stage.run(items, None)
    finally:
        store.close()
    return stage.finish()


def read_harvested(out: str | Path) -> list[ToolRecord]:
    """The harvested tools of a run folder, in file order (none if the stage has not run)."""
    return list(RecordStore(Path(out) / "harvest" / TOOLS_FILE, ToolRecord).read().values())
