"""The Toolset contract and its composition: merge, prefix, select."""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from toolgym.types import ToolSpec


class ToolError(Exception):
    """A tool call that failed in a way the model should hear about (sent back as a tool-error message)."""

    def __init__(self, message: str, kind: str = "tool_error") -> None:
        super().__init__(message)
        self.kind = kind


class UnknownToolError(ToolError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        names = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown tool {name!r}; available tools: {names}", kind="unknown_tool")


class ToolArgumentsError(ToolError):
    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"invalid arguments for tool {name!r}: {detail}", kind="invalid_arguments")


@dataclass(slots=True)
class ToolOutput:
    """What a tool returned: text for the model, whether it is an error, optional structured data."""

    content: str
    is_error: bool = False
    structured: Any = None


class Toolset(ABC):
    """A set of tools a model may call. Subclasses list their tools and run calls asynchronously.

    ``call`` validates the arguments against the tool's schema and raises :class:`ToolError` for
    failures the model should see; the environment turns those into tool-error messages.
    """

    @abstractmethod
    async def list_tools(self) -> list[ToolSpec]:
        """The tools on offer."""

    @abstractmethod
    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        """Run one tool call."""

    async def on_episode_start(self) -> None:
        """Called by the environment as an episode begins; toolsets holding episode state reset it here."""

    async def aclose(self) -> None:
        """Release processes or connections the toolset holds."""

    def prefixed(self, prefix: str) -> Toolset:
        """This toolset with every tool name prefixed by ``prefix``."""
        return PrefixedToolset(self, prefix)

    def select(self, include: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> Toolset:
        """The tools whose names match a glob in ``include`` (all if None) and none in ``exclude``."""
        return SelectedToolset(self, include, exclude)

    def __add__(self, other: Toolset) -> Toolset:
        return MergedToolset([self, other])


class MergedToolset(Toolset):
    """Several toolsets as one; a tool name offered twice is an error (prefix one of them)."""

    def __init__(self, toolsets: Sequence[Toolset]) -> None:
        self.toolsets = list(toolsets)
        self._owner: dict[str, Toolset] | None = None

    async def list_tools(self) -> list[ToolSpec]:
        owner: dict[str, Toolset] = {}
        specs: list[ToolSpec] = []
        for toolset in self.toolsets:
            for spec in await toolset.list_tools():
                if spec.name in owner:
                    raise ValueError(f"tool name {spec.name!r} is offered by two toolsets; use .prefixed() on one")
                owner[spec.name] = toolset
                specs.append(spec)
        self._owner = owner
        return specs

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        if self._owner is None:
            await self.list_tools()
        assert self._owner is not None
        toolset = self._owner.get(name)
        if toolset is None:
            raise UnknownToolError(name, self._owner)
        return await toolset.call(name, arguments)

    async def on_episode_start(self) -> None:
        for toolset in self.toolsets:
            await toolset.on_episode_start()

    async def aclose(self) -> None:
        for toolset in self.toolsets:
            await toolset.aclose()


class PrefixedToolset(Toolset):
    """Another toolset's tools under ``prefix + name``."""

    def __init__(self, inner: Toolset, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    async def list_tools(self) -> list[ToolSpec]:
        return [s.model_copy(update={"name": self.prefix + s.name}) for s in await self.inner.list_tools()]

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        if not name.startswith(self.prefix):
            raise UnknownToolError(name, [s.name for s in await self.list_tools()])
        return await self.inner.call(name[len(self.prefix) :], arguments)

    async def on_episode_start(self) -> None:
        await self.inner.on_episode_start()

    async def aclose(self) -> None:
        await self.inner.aclose()


class SelectedToolset(Toolset):
    """A subset of another toolset's tools chosen by glob patterns."""

    def __init__(self, inner: Toolset, include: Sequence[str] | None, exclude: Sequence[str] = ()) -> None:
        self.inner = inner
        self.include = list(include) if include is not None else None
        self.exclude = list(exclude)

    def allows(self, name: str) -> bool:
        if self.include is not None and not any(fnmatch.fnmatchcase(name, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)

    async def list_tools(self) -> list[ToolSpec]:
        return [s for s in await self.inner.list_tools() if self.allows(s.name)]

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        if not self.allows(name):
            raise UnknownToolError(name, [s.name for s in await self.list_tools()])
        return await self.inner.call(name, arguments)

    async def on_episode_start(self) -> None:
        await self.inner.on_episode_start()

    async def aclose(self) -> None:
        await self.inner.aclose()
