"""The floor for bench/load.py: an MCPServer over streamable HTTP with the same tool names as ours (the ones the load
uses take the same arguments), whose tools do nothing.

    python bench/null_server.py PORT [NAMES_FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("floor")


@server.tool()
async def kafka_list_topics() -> dict[str, Any]:
    """No-op."""
    return {"topics": []}


@server.tool()
async def kafka_describe_topic(topic: str) -> dict[str, Any]:
    """No-op."""
    return {"name": topic}


@server.tool()
async def kafka_consumer_lag(groups: list[str]) -> dict[str, Any]:
    """No-op."""
    return {"groups": groups}


@server.tool()
async def kafka_produce(topic: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """No-op."""
    return {"topic": topic, "written": len(records)}


@server.tool()
async def kafka_create_topic(topic: str, partitions: int, replication_factor: int) -> dict[str, Any]:
    """No-op."""
    return {"name": topic, "created": True}


def _the_other_names(names_file: str) -> None:
    """The rest of our tool names (one per line in ``names_file``), as no-op tools without arguments, so the
    listing has the same names as ours."""
    import anyio

    have = {t.name for t in anyio.run(server.list_tools)}

    async def noop() -> dict[str, Any]:
        return {}

    for name in Path(names_file).read_text().split():
        if name not in have:
            server.add_tool(noop, name=name, description="No-op.")


if __name__ == "__main__":
    if len(sys.argv) > 2:
        _the_other_names(sys.argv[2])
    app = server.streamable_http_app(host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
