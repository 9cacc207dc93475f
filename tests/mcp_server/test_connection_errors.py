"""Connection trouble names the cluster and address, and a rejected login says so (not 'unreachable')."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ClusterHandle
from tests.helpers import assert_tool_error

pytestmark = pytest.mark.anyio


async def test_wrong_server_password_is_reported_as_a_login_failure(
    sasl_cluster: ClusterHandle, data_dir: Path
) -> None:
    from mcp import Client

    from core.settings import Settings
    from mcp_server.server import build_server

    clusters = data_dir / "clusters.yaml"
    clusters.write_text(
        "clusters:\n  secure:\n"
        f"    bootstrap_servers: {sasl_cluster.sasl_bootstrap_servers}\n"
        "    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: SCRAM-SHA-512\n"
        "    sasl_username: admin\n    sasl_password: definitely-wrong\n",
        encoding="utf-8",
    )
    settings = Settings(clusters_file=clusters, data_dir=data_dir, request_timeout_s=5)
    async with Client(build_server(settings)) as client:
        text = assert_tool_error(
            await client.call_tool("kafka_list_topics", {}), "rejected this server's login", "sasl_password"
        )
        assert "definitely-wrong" not in text
