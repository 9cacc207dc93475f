"""Tool discovery: which toolsets exist, enabling one for this session (``--dynamic-toolsets``), and finding the tool
for a request in plain words."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from core.errors import InvalidArgument, Refused
from mcp_server.consent import requester_of
from mcp_server.tools._base import Ctx, kafka_tool


class ToolsetInfo(BaseModel):
    name: str
    title: str
    description: str
    tools: list[str]
    enabled: bool = Field(description="Its tools are offered to this session now.")


class ToolsetList(BaseModel):
    toolsets: list[ToolsetInfo]
    dynamic: bool = Field(description="True when toolsets can be enabled during the session (kafka_enable_toolset).")


class EnableResult(BaseModel):
    toolset: str
    added: list[str] = Field(description="Tools now offered (the client was told the tool list changed).")
    enabled: list[str] = Field(description="Every toolset this session has enabled.")


class FoundTool(BaseModel):
    name: str
    toolset: str
    enabled: bool = Field(description="Offered to this session now; else enable its toolset first.")
    summary: str


class FoundTools(BaseModel):
    query: str
    tools: list[FoundTool]


def _server(ctx: Ctx) -> Any:
    return ctx.mcp_server


async def _members(ctx: Ctx) -> dict[str, tuple[str, str]]:
    """Every registered tool: name -> (toolset, description)."""
    from mcp_server.tools._base import TOOL_TOOLSETS

    tools = await _server(ctx).all_tools()
    return {t.name: (TOOL_TOOLSETS.get(t.name, "?"), t.description or "") for t in tools}


async def _tell_tools_changed(ctx: Ctx) -> None:
    """notifications/tools/list_changed: on the session (protocol 2025-11-25 and older), and to
    subscriptions/listen streams (2026-07-28)."""
    with contextlib.suppress(Exception):  # a client that cannot receive it refreshes its list on its own
        await ctx.request_context.session.send_tool_list_changed()
    with contextlib.suppress(Exception):
        await ctx.notify_tools_changed()


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", open_world=False, title="List toolsets")
    async def kafka_list_toolsets(ctx: Ctx) -> ToolsetList:
        """The toolsets (groups of tools by area) with their tools, and which are enabled for this session
        (kafka_enable_toolset enables one)."""
        from mcp_server.toolsets import TOOLSETS

        members = await _members(ctx)
        offered = _server(ctx).selected(requester_of(ctx).id)
        rows = []
        for name, meta in TOOLSETS.items():
            tools = sorted(t for t, (s, _) in members.items() if s == name)
            if tools:
                rows.append(
                    ToolsetInfo(
                        name=name,
                        title=meta.title,
                        description=meta.description,
                        tools=tools,
                        enabled=all(t in offered for t in tools),
                    )
                )
        return ToolsetList(toolsets=rows, dynamic=_server(ctx).agent_settings.dynamic_toolsets)

    @kafka_tool(server, kind="read", open_world=False, title="Enable a toolset")
    async def kafka_enable_toolset(
        ctx: Ctx,
        toolset: Annotated[str, Field(description="From kafka_list_toolsets.", max_length=40)],
    ) -> EnableResult:
        """Offer a toolset's tools to this session (dynamic toolsets only); the client is told the tool list changed."""
        from mcp_server.toolsets import TOOLSETS

        srv = _server(ctx)
        if not srv.agent_settings.dynamic_toolsets:
            raise Refused(
                "This server offers a fixed toolset selection.",
                hint="Restart it with --dynamic-toolsets, or with --toolsets default,+NAME.",
            )
        if toolset not in TOOLSETS:
            raise InvalidArgument(
                f"`toolset`: {toolset[:40]!r} is not a toolset.", hint=f"Use one of: {', '.join(sorted(TOOLSETS))}."
            )
        session = requester_of(ctx).id
        before = srv.selected(session)
        enabled = srv.enable_toolset(session, toolset)
        added = sorted(srv.selected(session) - before)
        if added:
            await _tell_tools_changed(ctx)
        return EnableResult(toolset=toolset, added=added, enabled=sorted(enabled))

    @kafka_tool(server, kind="read", open_world=False, title="Find tools")
    async def kafka_find_tools(
        ctx: Ctx,
        query: Annotated[str, Field(description="In plain words.", min_length=1, max_length=500)],
        limit: Annotated[int, Field(ge=1, le=20)] = 5,
    ) -> FoundTools:
        """Find the tools that serve a request in plain words (e.g. 'which consumers are behind') across every toolset,
        with each one's toolset and whether this session has it."""
        from mcp_server.toolsearch import ToolIndex

        members = await _members(ctx)
        index = ToolIndex([(name, desc, toolset) for name, (toolset, desc) in sorted(members.items())])
        offered = _server(ctx).selected(requester_of(ctx).id)
        hits = index.search(query, limit)
        return FoundTools(
            query=query,
            tools=[
                FoundTool(name=h.name, toolset=h.toolset, enabled=h.name in offered, summary=h.summary) for h in hits
            ],
        )
