"""FunctionToolset: typed Python functions (sync or async) as tools, schemas from hints and docstrings."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from toolgym.tools.base import ToolArgumentsError, ToolError, ToolOutput, Toolset, UnknownToolError
from toolgym.types import ToolSpec

_PARAM_LINE = re.compile(r"^\s*(?::param\s+)?\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google- or Sphinx-style docstring into a summary and per-parameter descriptions."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    in_args = False
    last: str | None = None
    for line in lines:
        stripped = line.strip()
        if stripped.lower() in ("args:", "arguments:", "parameters:"):
            in_args = True
            continue
        if stripped.startswith(":param"):
            in_args = True
        if in_args:
            if stripped.startswith(":") and not stripped.startswith(":param"):
                in_args, last = False, None  # :returns:, :raises:
                continue
            if stripped.endswith(":") and not stripped.startswith(":param") and " " not in stripped:
                in_args = False  # next section (Returns:, Raises:)
                continue
            match = _PARAM_LINE.match(line)
            if match:
                last = match.group(1)
                params[last] = match.group(2).strip()
            elif stripped and last:
                params[last] += " " + stripped
            continue
        if stripped.lower().startswith(("returns:", "raises:")):
            in_args = False
            continue
        summary.append(stripped)
    return " ".join(s for s in summary if s).strip(), params


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    return schema


@dataclass(slots=True)
class FunctionTool:
    """One function exposed as a tool."""

    spec: ToolSpec
    fn: Callable[..., Any]
    arguments: type[BaseModel]
    is_async: bool
    thread: bool

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        thread: bool = False,
    ) -> FunctionTool:
        """The tool for ``fn``; built once per process and shared, since building one costs ~0.5 ms."""
        return _build_tool(cls, fn, name, description, thread)

    @classmethod
    def _build(cls, fn: Callable[..., Any], name: str | None, description: str | None, thread: bool) -> FunctionTool:
        summary, param_docs = parse_docstring(fn.__doc__)
        hints = get_type_hints(fn)
        fields: dict[str, Any] = {}
        for pname, param in inspect.signature(fn).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"tool function {fn.__name__!r} cannot take *args or **kwargs")
            annotation = hints.get(pname, Any)
            default = ... if param.default is param.empty else param.default
            fields[pname] = (annotation, FieldInfo(default=default, description=param_docs.get(pname)))
        model = create_model(  # type: ignore[call-overload]
            f"{fn.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )
        spec = ToolSpec(
            name=name or fn.__name__,
            description=description if description is not None else summary,
            parameters=_schema_of(model),
        )
        return cls(spec, fn, model, inspect.iscoroutinefunction(fn), thread)

    async def __call__(self, arguments: dict[str, Any]) -> Any:
        """Validate ``arguments`` and run the function; raises ToolArgumentsError naming bad fields."""
        try:
            parsed = self.arguments.model_validate(arguments)
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolArgumentsError(self.spec.name, detail) from None
        kwargs = {key: getattr(parsed, key) for key in self.arguments.model_fields}
        if self.is_async:
            return await self.fn(**kwargs)
        if self.thread:
            return await asyncio.to_thread(self.fn, **kwargs)
        return self.fn(**kwargs)


@functools.lru_cache(maxsize=4096)
def _build_tool(
    cls: type[FunctionTool], fn: Callable[..., Any], name: str | None, description: str | None, thread: bool
) -> FunctionTool:
    return cls._build(fn, name, description, thread)


def to_output(value: Any) -> ToolOutput:
    """A function's return value as a ToolOutput: text stays text, anything else becomes JSON."""
    if isinstance(value, ToolOutput):
        return value
    if isinstance(value, str):
        return ToolOutput(value)
    if isinstance(value, BaseModel):
        return ToolOutput(value.model_dump_json(), structured=value.model_dump())
    return ToolOutput(json.dumps(value, default=str, ensure_ascii=False), structured=value)


class FunctionToolset(Toolset):
    """Typed Python functions as tools.

    Sync functions run on the event loop (fast; keep them quick) unless registered with
    ``thread=True``, which runs them in a worker thread so the call deadline applies. A raised
    exception becomes a tool-error message for the model.
    """

    def __init__(self, functions: Iterable[Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, FunctionTool] = {}
        for fn in functions:
            self.add(fn)

    def add(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        thread: bool = False,
    ) -> FunctionTool:
        """Register ``fn`` as a tool and return it."""
        tool = FunctionTool.from_function(fn, name=name, description=description, thread=thread)
        if tool.spec.name in self._tools:
            raise ValueError(f"tool {tool.spec.name!r} is already registered")
        self._tools[tool.spec.name] = tool
        return tool

    def tool(self, fn: Callable[..., Any] | None = None, *, name: str | None = None, thread: bool = False) -> Any:
        """Decorator form of :meth:`add`: ``@toolset.tool`` or ``@toolset.tool(name=..., thread=True)``."""

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            self.add(f, name=name, thread=thread)
            return f

        return register(fn) if fn is not None else register

    async def list_tools(self) -> list[ToolSpec]:
        return [tool.spec for tool in self._tools.values()]

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        tool = self._tools.get(name)
        if tool is None:
            raise UnknownToolError(name, self._tools)
        try:
            return to_output(await tool(arguments))
        except (ToolError, asyncio.CancelledError):
            raise
        except Exception as exc:  # the tool's own failure is news for the model, not a crash
            raise ToolError(f"{type(exc).__name__}: {exc}", kind="tool_exception") from exc
