"""Modes as a real client sees them: read-only over stdio and streamable HTTP (spawned ``kafka-agent serve``),
the HTTP Origin check and bearer token, and the tool allow/deny lists."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import assert_tool_error, structured
from tests.safety.conftest import ROOT, client_for, http_server, read_audit, server_env, topic_exists

pytestmark = pytest.mark.anyio

MUTATING_SAMPLE = ("kafka_create_topic", {"partitions": 1, "replication_factor": 1})


async def _assert_read_only(client: Any, admin: Any, data_dir: Path) -> None:
    from mcp_server.server import build_server
    from mcp_server.tools._base import TOOL_KINDS

    build_server(make_settings("127.0.0.1:1", data_dir))  # registers every tool here too, filling TOOL_KINDS
    names = {t.name for t in (await client.list_tools()).tools}
    assert names == {n for n, kind in TOOL_KINDS.items() if kind == "read"}
    assert "kafka_create_topic" not in names and "kafka_delete_topic" not in names
    topic = unique("ro")
    tool, args = MUTATING_SAMPLE
    assert_tool_error(await client.call_tool(tool, {"topic": topic, **args}), "read-only")
    assert_tool_error(await client.call_tool("kafka_delete_topic", {"topic": "__consumer_offsets"}), "read-only")
    assert structured(await client.call_tool("kafka_describe_cluster", {}))["broker_count"] >= 1
    assert not topic_exists(admin, topic)
    refused = [e for e in read_audit(data_dir) if e["decision"] == "refused"]
    assert {e["tool"] for e in refused} >= {"kafka_create_topic", "kafka_delete_topic"}


async def test_read_only_over_stdio(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any) -> None:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli", "serve", "--read-only"],
        env=server_env(kafka_cluster, data_dir),
        cwd=str(ROOT),
    )
    async with Client(params, raise_exceptions=False) as client:
        await _assert_read_only(client, admin, data_dir)
    assert all(e["transport"] == "stdio" for e in read_audit(data_dir))


async def test_read_only_over_http(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any) -> None:
    from mcp import Client

    with http_server(server_env(kafka_cluster, data_dir), "--read-only") as url:
        async with Client(url, raise_exceptions=False) as client:
            await _assert_read_only(client, admin, data_dir)
    assert all(e["transport"] == "http" for e in read_audit(data_dir))


_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def test_http_rejects_foreign_origin_and_requires_the_token(kafka_cluster: ClusterHandle, data_dir: Path) -> None:
    import httpx
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    token = "s3cret-" + unique("tok")
    with http_server(server_env(kafka_cluster, data_dir, KAFKA_AGENT_HTTP_TOKEN=token)) as url:
        auth = {"Authorization": f"Bearer {token}"}
        raw = httpx.AsyncClient(timeout=10)
        no_token = await raw.post(url, json=_INIT, headers=_HEADERS)
        assert no_token.status_code == 401
        wrong = await raw.post(url, json=_INIT, headers={**_HEADERS, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        for scheme in ("bearer", "BEARER", "Bearer "):  # the scheme is case-insensitive (RFC 9110); spaces allowed
            other = await raw.post(url, json=_INIT, headers={**_HEADERS, "Authorization": f"{scheme} {token}"})
            assert other.status_code == 200, (scheme, other.status_code)
        for bad in (f"Basic {token}", token, f"Bearer {token.upper()}", f"Bearer{token}"):
            refused = await raw.post(url, json=_INIT, headers={**_HEADERS, "Authorization": bad})
            assert refused.status_code == 401, bad
        evil = await raw.post(url, json=_INIT, headers={**_HEADERS, **auth, "Origin": "http://evil.example"})
        assert evil.status_code == 403, evil.text
        local = await raw.post(url, json=_INIT, headers={**_HEADERS, **auth, "Origin": "http://127.0.0.1:3000"})
        assert local.status_code == 200, local.text
        await raw.aclose()

        transport = streamable_http_client(url, http_client=create_mcp_http_client(headers=auth))
        async with Client(transport, raise_exceptions=False) as client:
            data = structured(await client.call_tool("kafka_describe_cluster", {}))
            assert data["broker_count"] >= 1


async def test_allow_and_deny_lists(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any) -> None:
    deny = make_settings(kafka_cluster.bootstrap_servers, data_dir, deny_tools=["kafka_create_topic"])
    async with client_for(deny) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "kafka_create_topic" not in names and "kafka_list_topics" in names
        topic = unique("deny")
        tool, args = MUTATING_SAMPLE
        assert_tool_error(await client.call_tool(tool, {"topic": topic, **args}), "deny list")
    assert not topic_exists(admin, topic)
    allow = make_settings(
        kafka_cluster.bootstrap_servers, data_dir, allow_tools=["kafka_list_topics", "kafka_check_policy"]
    )
    async with client_for(allow) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"kafka_list_topics", "kafka_check_policy"}
        assert_tool_error(await client.call_tool("kafka_describe_cluster", {}), "allow list")


async def test_tool_descriptions_only_describe_usage(mcp_client: Any) -> None:
    """Descriptions are what the model reads: they say how to use the tool, never carry links, hidden markup or
    instructions about anything else (a guard against tool-description poisoning, for tools added later too)."""
    import re

    suspicious = re.compile(
        r"https?://|<!--|</?(script|img|iframe|system|instructions?|important)\b|"
        r"ignore (all|any|previous)|system prompt|do not (tell|show|mention)|"
        r"before (using|calling) any other tool|always call this",
        re.IGNORECASE,
    )
    for tool in (await mcp_client.list_tools()).tools:
        text = " ".join(
            [
                tool.description or "",
                *(str(p.get("description", "")) for p in tool.input_schema.get("properties", {}).values()),
            ]
        )
        assert not suspicious.search(text), f"{tool.name}: {suspicious.search(text)}"
        assert len(tool.description or "") < 1500, f"{tool.name}: description too long to be only about usage"
