"""The agent as an MCP host: client sessions to our server (in process or over stdio) and to extra servers.

Extra servers come from a JSON file in Claude Desktop's format::

    {"mcpServers": {"github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                               "env": {"GITHUB_TOKEN": "..."}},
                    "docs": {"url": "http://127.0.0.1:9000/mcp"}}}

Their tools are offered to the model as ``<server>__<tool>``; ours keep their plain names.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from agent.phases import ToolSpec
from core.errors import ConfigError, NotFound
from core.gate.change import RUN_META_KEY
from core.settings import Settings

log = logging.getLogger("kafka_agent.host")

MAX_RESULT_CHARS = 16_000
# Tools of our server the agent must not see: running the agent from inside a run would recurse.
HIDDEN_TOOLS = {"agent_run_task"}


class ToolOutcome(BaseModel):
    is_error: bool
    text: str
    structured: Any = None


def load_servers_file(path: Path) -> dict[str, dict[str, Any]]:
    """The ``mcpServers`` mapping of a Claude Desktop style file, checked."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read the MCP servers file {path}: {exc.strerror}.") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"The MCP servers file {path} is not valid JSON: {exc}.") from exc
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise ConfigError(f"The MCP servers file {path} has no 'mcpServers' object.", hint='Use {"mcpServers": {}}.')
    for name, body in servers.items():
        if not isinstance(body, dict) or not ("command" in body or "url" in body):
            raise ConfigError(f"MCP server {name!r} in {path} needs a 'command' (stdio) or a 'url' (HTTP).")
    return servers


def settings_env(settings: Settings) -> dict[str, str]:
    """The explicitly set settings as ``KAFKA_AGENT_*`` variables, so a spawned server sees the same ones."""
    env: dict[str, str] = {}
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"KAFKA_AGENT_{name.upper()}"] = text
    return env


def _spec_from_tool(tool: Any, server: str, prefix: str) -> ToolSpec:
    ann = tool.annotations
    read_only = bool(ann and ann.read_only_hint)
    # MCP's defaults: a tool that does not say it is read-only may write, and may be destructive.
    destructive = not read_only and (ann is None or ann.destructive_hint is None or bool(ann.destructive_hint))
    return ToolSpec(
        name=f"{prefix}{tool.name}",
        description=tool.description or "",
        input_schema=dict(tool.input_schema or {"type": "object", "properties": {}}),
        read_only=read_only,
        destructive=destructive,
        server=server,
        remote_name=tool.name,
    )


class ToolHub:
    """Open sessions to every MCP server the agent uses; list their tools and route calls."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: Literal["inprocess", "stdio"] = "inprocess",
        extra_servers: bool = True,
        server: Callable[[], Any] | None = None,
    ) -> None:
        """``server`` builds our MCP server in process (``transport="inprocess"``); the agent does not import the
        server package itself (see ARCHITECTURE.md), the command or tool that starts a run hands it over."""
        self.settings = settings
        self.server = server
        self.transport = transport
        self.extra_servers = extra_servers
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self.tools: dict[str, ToolSpec] = {}

    async def __aenter__(self) -> ToolHub:
        from mcp import Client, StdioServerParameters

        try:
            if self.transport == "inprocess":
                if self.server is None:
                    raise ConfigError("An in-process tool hub needs the server to talk to (server=...).")
                target: Any = self.server()
            else:
                target = StdioServerParameters(
                    command=sys.executable,
                    # --agent-hub: this server is ours alone, so it may believe the run id in _meta
                    args=["-m", "cli", "serve", "--agent-hub"],
                    env={**os.environ, **settings_env(self.settings)},
                )
            await self._add("kafka", Client(target, raise_exceptions=False), prefix="")
            if self.extra_servers and self.settings.mcp_servers_file is not None:
                for name, body in load_servers_file(self.settings.mcp_servers_file).items():
                    if "url" in body:
                        client = Client(str(body["url"]), raise_exceptions=False)
                    else:
                        params = StdioServerParameters(
                            command=str(body["command"]),
                            args=[str(a) for a in body.get("args", [])],
                            env={**os.environ, **{str(k): str(v) for k, v in (body.get("env") or {}).items()}},
                        )
                        client = Client(params, raise_exceptions=False)
                    await self._add(name, client, prefix=f"{name}__")
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _add(self, name: str, client: Any, *, prefix: str) -> None:
        await self._stack.enter_async_context(client)
        self._clients[name] = client
        listed = await client.list_tools()
        for tool in listed.tools:
            if tool.name in HIDDEN_TOOLS:
                continue
            spec = _spec_from_tool(tool, name, prefix)
            self.tools[spec.name] = spec

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def call(self, name: str, arguments: dict[str, Any], *, run: str | None = None) -> ToolOutcome:
        """Call a tool; ``run`` names the agent run in the request's ``_meta`` (our in-process server binds consent
        tokens and approvals to it; other servers ignore it)."""
        spec = self.tools.get(name)
        if spec is None:
            raise NotFound(f"No tool named {name!r}.")
        meta: Any = {RUN_META_KEY: run} if run is not None and spec.server == "kafka" else None
        try:
            result = await self._clients[spec.server].call_tool(spec.remote_name, arguments, meta=meta)
        except Exception as exc:  # a protocol fault or a server that went away: the model reads it, the run goes on
            log.warning("tool %s on server %s failed: %r", spec.remote_name, spec.server, exc)
            return ToolOutcome(is_error=True, text=f"{name} could not be called: {type(exc).__name__}: {exc}")
        text = "".join(getattr(c, "text", "") for c in result.content)
        structured = result.structured_content
        if isinstance(structured, dict) and set(structured) == {"result"}:
            structured = structured["result"]
        if not result.is_error and structured is not None:
            # Compact JSON for the model; blocks after the first (the JSON of the result) are notes, e.g. our
            # policy warnings: they go with it.
            notes = [str(c.text) for c in result.content[1:] if getattr(c, "text", None)]
            text = "\n\n".join([json.dumps(structured, default=str), *notes])
        if len(text) > MAX_RESULT_CHARS:
            text = text[:MAX_RESULT_CHARS] + f"... [truncated, {len(text)} chars in all]"
        return ToolOutcome(is_error=bool(result.is_error), text=text, structured=structured)
