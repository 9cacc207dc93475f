"""The server as a real client sees it: spawned over stdio, and every tool's annotations."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle
from tests.helpers import structured

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


async def test_stdio_server_lists_tools_and_describes_cluster(kafka_cluster: ClusterHandle, data_dir: Path) -> None:
    from mcp import Client, StdioServerParameters

    env = {
        **os.environ,
        "KAFKA_AGENT_BOOTSTRAP_SERVERS": kafka_cluster.bootstrap_servers,
        "KAFKA_AGENT_DATA_DIR": str(data_dir),
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "cli", "serve"], env=env, cwd=str(ROOT))
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"kafka_describe_cluster", "kafka_create_topic", "kafka_delete_topic"} <= names
        data = structured(await client.call_tool("kafka_describe_cluster", {}))
        assert data["broker_count"] >= 1


async def test_every_tool_is_annotated(mcp_client: Any) -> None:
    from mcp_server.tools._base import TOOL_KINDS

    tools = (await mcp_client.list_tools()).tools
    assert tools, "the server lists no tools"
    for tool in tools:
        ann = tool.annotations
        assert ann is not None, f"{tool.name} has no annotations"
        kind = TOOL_KINDS[tool.name]
        assert ann.read_only_hint is (kind == "read"), tool.name
        assert ann.destructive_hint is (kind == "destructive"), tool.name
        assert tool.description and len(tool.description) > 40, f"{tool.name} needs a real description"
    by_name = {t.name: t.annotations for t in tools}
    assert by_name["kafka_list_topics"].read_only_hint is True
    assert by_name["kafka_delete_topic"].destructive_hint is True
    assert by_name["kafka_create_topic"].read_only_hint is False


async def test_read_only_mode_hides_and_refuses_mutating_tools(kafka_cluster: ClusterHandle, data_dir: Path) -> None:
    from mcp import Client

    from mcp_server.server import build_server
    from mcp_server.tools._base import TOOL_KINDS
    from tests.conftest import make_settings
    from tests.helpers import assert_tool_error

    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, read_only=True)
    async with Client(build_server(settings)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names and all(TOOL_KINDS[n] == "read" for n in names)
        result = await client.call_tool(
            "kafka_create_topic", {"topic": "ro-x", "partitions": 1, "replication_factor": 1}
        )
        assert_tool_error(result, "read-only")
