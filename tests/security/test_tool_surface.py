"""The security tools' annotations, read-only mode, and a cluster without an authorizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, make_settings
from tests.helpers import assert_tool_error

pytestmark = pytest.mark.anyio

KINDS = {
    "kafka_describe_scram_users": "read",
    "kafka_upsert_scram_user": "write",
    "kafka_delete_scram_user": "destructive",
    "kafka_list_acls": "read",
    "kafka_create_acls": "write",
    "kafka_grant_role": "write",
    "kafka_delete_acls": "destructive",
    "kafka_client_security_config": "read",
    "kafka_check_login": "read",
}


async def test_annotations_and_password_schema(sec_client: Any) -> None:
    tools = {t.name: t for t in (await sec_client.list_tools()).tools}
    for name, kind in KINDS.items():
        ann = tools[name].annotations
        assert ann.read_only_hint is (kind == "read"), name
        assert ann.destructive_hint is (kind == "destructive"), name
        assert "cluster" in tools[name].input_schema["properties"], name
    password = tools["kafka_upsert_scram_user"].input_schema["properties"]["password"]
    assert password.get("writeOnly") is True and password.get("format") == "password"


async def test_read_only_mode_hides_and_refuses_changes(sasl_cluster: ClusterHandle, data_dir: Path) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    settings = make_settings(sasl_cluster.bootstrap_servers, data_dir, read_only=True)
    async with Client(build_server(settings), raise_exceptions=False) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {n for n, k in KINDS.items() if k == "read"} <= names
        assert not names & {n for n, k in KINDS.items() if k != "read"}
        assert_tool_error(
            await client.call_tool("kafka_create_acls", {"short_forms": ["user:ro-x:read:topic:t"]}), "read-only"
        )
        assert_tool_error(
            await client.call_tool("kafka_upsert_scram_user", {"user": "ro-x", "password": "long-enough-1"}),
            "read-only",
        )


async def test_cluster_without_authorizer_says_so(mcp_client: Any) -> None:
    assert_tool_error(
        await mcp_client.call_tool("kafka_create_acls", {"short_forms": ["user:noauth-x:read:topic:t"]}),
        "no authorizer",
        "StandardAuthorizer",
    )
