"""Topic and cluster tools through the in-memory MCP client, checked on the cluster with a separate admin client."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ClusterHandle, unique
from tests.helpers import assert_tool_error, structured

pytestmark = pytest.mark.anyio


def _topic_meta(admin: Any, name: str) -> Any:
    return admin.list_topics(timeout=10).topics.get(name)


async def test_describe_cluster(mcp_client: Any, kafka_cluster: ClusterHandle) -> None:
    data = structured(await mcp_client.call_tool("kafka_describe_cluster", {}))
    assert data["broker_count"] >= 1
    assert data["cluster_id"]
    ports = {f"{b['host']}:{b['port']}" for b in data["brokers"]}
    assert set(kafka_cluster.bootstrap_servers.split(",")) <= ports


async def test_create_describe_list_alter_delete(mcp_client: Any, admin: Any, topic_name: str) -> None:
    created = structured(
        await mcp_client.call_tool(
            "kafka_create_topic",
            {"topic": topic_name, "partitions": 3, "replication_factor": 1, "configs": {"retention.ms": "3600000"}},
        )
    )
    assert created["created"] is True
    meta = _topic_meta(admin, topic_name)
    assert meta is not None and len(meta.partitions) == 3

    listed = structured(await mcp_client.call_tool("kafka_list_topics", {}))
    assert topic_name in {t["name"] for t in listed["topics"]}
    assert not any(t["name"].startswith("__") for t in listed["topics"])

    desc = structured(await mcp_client.call_tool("kafka_describe_topic", {"topic": topic_name}))
    assert desc["partition_count"] == 3
    retention = next(c for c in desc["configs"] if c["name"] == "retention.ms")
    assert retention["value"] == "3600000" and retention["source"] == "DYNAMIC_TOPIC_CONFIG"

    altered = structured(
        await mcp_client.call_tool(
            "kafka_alter_topic_config",
            {"topic": topic_name, "set_configs": {"cleanup.policy": "compact"}, "delete_configs": ["retention.ms"]},
        )
    )
    assert altered["applied"] is True
    from confluent_kafka.admin import ConfigResource, ResourceType

    fut = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic_name)])
    configs = next(iter(fut.values())).result(10)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["retention.ms"].is_default

    grown = structured(await mcp_client.call_tool("kafka_add_partitions", {"topic": topic_name, "total_count": 5}))
    assert grown["new_count"] == 5
    assert len(_topic_meta(admin, topic_name).partitions) == 5

    preview = structured(await mcp_client.call_tool("kafka_delete_topic", {"topic": topic_name}))
    assert preview["executed"] is False and preview["consent"]["confirmation_token"]
    assert _topic_meta(admin, topic_name) is not None, "a delete without a token must change nothing"
    token = preview["consent"]["confirmation_token"]
    done = structured(await mcp_client.call_tool("kafka_delete_topic", {"topic": topic_name, "confirm_token": token}))
    assert done["executed"] is True
    import anyio

    with anyio.move_on_after(15):
        while _topic_meta(admin, topic_name) is not None:
            await anyio.sleep(0.2)
    assert _topic_meta(admin, topic_name) is None


async def test_validate_only_creates_nothing(mcp_client: Any, admin: Any, topic_name: str) -> None:
    data = structured(
        await mcp_client.call_tool(
            "kafka_create_topic", {"topic": topic_name, "partitions": 2, "replication_factor": 1, "validate_only": True}
        )
    )
    assert data["created"] is False
    assert _topic_meta(admin, topic_name) is None


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        ({"topic": "bad name!", "partitions": 1, "replication_factor": 1}, ["`topic`", "not valid", "letters, digits"]),
        ({"topic": "x" * 250, "partitions": 1, "replication_factor": 1}, ["at most 249"]),
        ({"topic": "..", "partitions": 1, "replication_factor": 1}, ["not '.' or '..'"]),
        ({"topic": "ok-zero", "partitions": 0, "replication_factor": 1}, ["`partitions` must be >= 1, got 0"]),
        ({"topic": "ok-neg", "partitions": -3, "replication_factor": 1}, ["`partitions` must be >= 1, got -3"]),
        ({"topic": "ok-big", "partitions": 10**18, "replication_factor": 1}, ["`partitions` must be <= 10000"]),
        ({"topic": "ok-rf", "partitions": 1, "replication_factor": 7}, ["larger than the", "broker"]),
        (
            {"topic": "ok-cfg", "partitions": 1, "replication_factor": 1, "configs": {"no.such.config": "1"}},
            ["no.such.config"],
        ),
        (
            {"topic": "ok-cl", "partitions": 1, "replication_factor": 1, "cluster": "nope"},
            ["'nope' is not a configured cluster"],
        ),
    ],
)
async def test_bad_input_gives_clear_errors_and_server_keeps_serving(
    mcp_client: Any, args: dict[str, Any], fragments: list[str]
) -> None:
    assert_tool_error(await mcp_client.call_tool("kafka_create_topic", args), *fragments)
    still = structured(await mcp_client.call_tool("kafka_describe_cluster", {}))
    assert still["broker_count"] >= 1


async def test_errors_for_unknown_topic_and_existing_topic(mcp_client: Any, topic_name: str) -> None:
    assert_tool_error(
        await mcp_client.call_tool("kafka_describe_topic", {"topic": unique("missing")}), "does not exist"
    )
    assert_tool_error(
        await mcp_client.call_tool(
            "kafka_alter_topic_config", {"topic": unique("missing"), "set_configs": {"retention.ms": "1"}}
        ),
        "does not exist",
    )
    structured(
        await mcp_client.call_tool(
            "kafka_create_topic", {"topic": topic_name, "partitions": 1, "replication_factor": 1}
        )
    )
    assert_tool_error(
        await mcp_client.call_tool(
            "kafka_create_topic", {"topic": topic_name, "partitions": 1, "replication_factor": 1}
        ),
        "already exists",
    )
    assert_tool_error(
        await mcp_client.call_tool(
            "kafka_alter_topic_config", {"topic": topic_name, "set_configs": {"bogus.key": "1"}}
        ),
        "unknown topic config",
        "bogus.key",
    )
    assert_tool_error(
        await mcp_client.call_tool("kafka_add_partitions", {"topic": topic_name, "total_count": 1}),
        "already has 1 partitions",
    )


async def test_unreachable_broker_names_the_address(data_dir: Any) -> None:
    from mcp import Client

    from mcp_server.server import build_server
    from tests.conftest import make_settings

    settings = make_settings("127.0.0.1:1", data_dir, request_timeout_s=2)
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("kafka_describe_cluster", {})
        assert_tool_error(result, "127.0.0.1:1")
