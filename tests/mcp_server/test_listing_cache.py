"""The tools/list cache: a second server lists the same tools without building them, and still calls them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ClusterHandle, make_settings
from tests.helpers import structured

pytestmark = pytest.mark.anyio


async def test_second_server_lists_from_the_cache_and_registers_on_first_call(
    kafka_cluster: ClusterHandle, data_dir: Path
) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir)
    first = build_server(settings)
    async with Client(first) as client:
        built = [t.model_dump() for t in (await client.list_tools()).tools]
    assert (data_dir / "cache" / "tools-list.json").exists()

    second = build_server(settings)
    async with Client(second) as client:
        cached = [t.model_dump() for t in (await client.list_tools()).tools]
        assert cached == built
        assert second._registered is False, "the listing came from the cache"
        data = structured(await client.call_tool("kafka_describe_cluster", {}))
        assert data["broker_count"] >= 1 and second._registered is True


async def test_a_stale_cache_is_rebuilt(kafka_cluster: ClusterHandle, data_dir: Path) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir)
    cache = data_dir / "cache" / "tools-list.json"
    cache.parent.mkdir(parents=True)
    cache.write_text('{"key": "from another version of the code", "kinds": {}, "tools": []}', encoding="utf-8")
    server = build_server(settings)
    async with Client(server) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert "kafka_create_topic" in names and server._registered is True
    assert "another version" not in cache.read_text(encoding="utf-8")
