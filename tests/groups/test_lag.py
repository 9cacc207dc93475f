"""Lag through the MCP client, checked against Kafka's own ConsumerGroupCommand on the same cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, make_settings, unique
from tests.groups.conftest import commit, create_topic, fill, java_describe
from tests.helpers import assert_tool_error, structured

pytestmark = pytest.mark.anyio


async def test_lag_matches_kafka_consumer_groups_tool(mcp_client: Any, admin: Any, bootstrap: str) -> None:
    t1, t2 = unique("lag-a"), unique("lag-b")
    create_topic(admin, t1, 3)
    create_topic(admin, t2, 2)
    fill(bootstrap, t1, {0: 10, 1: 7, 2: 4})
    fill(bootstrap, t2, {0: 5, 1: 9})
    g1, g2, g3 = unique("lag-g1"), unique("lag-g2"), unique("lag-g3")
    commit(bootstrap, g1, {(t1, 0): 3, (t1, 1): 7, (t1, 2): 0})  # lags 7, 0, 4
    commit(bootstrap, g2, {(t1, 0): 10, (t2, 0): 1, (t2, 1): 2})  # lags 0, 4, 7; t1[1], t1[2] never committed
    commit(bootstrap, g3, {(t2, 1): 9})  # lag 0

    report = structured(await mcp_client.call_tool("kafka_consumer_lag", {"groups": [g1, g2, g3]}))
    ours = {
        (g["group_id"], p["topic"], p["partition"]): p
        for g in report["groups"]
        for t in g["topics"]
        for p in t["partitions"]
    }
    expected = {
        (g1, t1, 0): 7,
        (g1, t1, 1): 0,
        (g1, t1, 2): 4,
        (g2, t1, 0): 0,
        (g2, t2, 0): 4,
        (g2, t2, 1): 7,
        (g3, t2, 1): 0,
    }
    assert {k: v["lag"] for k, v in ours.items()} == expected

    java = java_describe(bootstrap, [g1, g2, g3])
    assert set(java) == set(ours)
    for key, (current, log_end, lag) in java.items():
        assert str(ours[key]["committed"]) == current, key
        assert str(ours[key]["log_end"]) == log_end, key
        assert str(ours[key]["lag"]) == lag, key

    by_group = {g["group_id"]: g for g in report["groups"]}
    assert by_group[g1]["total_lag"] == 11 and by_group[g2]["total_lag"] == 11 and by_group[g3]["total_lag"] == 0
    assert report["total_lag"] == 22
    assert by_group[g1]["state"] == "EMPTY"
    g2_topics = {t["topic"]: t["total_lag"] for t in by_group[g2]["topics"]}
    assert g2_topics == {t1: 0, t2: 11}


async def test_lag_all_groups_totals_and_time_lag(mcp_client: Any, admin: Any, bootstrap: str) -> None:
    topic = unique("lag-all")
    create_topic(admin, topic, 2)
    fill(bootstrap, topic, {0: 6, 1: 2})
    group = unique("lag-all-g")
    commit(bootstrap, group, {(topic, 0): 1})
    report = structured(
        await mcp_client.call_tool(
            "kafka_consumer_lag", {"topic": topic, "include_partitions": False, "include_time_lag": True}
        )
    )
    mine = next(g for g in report["groups"] if g["group_id"] == group)
    assert mine["total_lag"] == 5
    assert mine["topics"][0]["partitions"] == []
    assert mine["topics"][0]["max_time_lag_ms"] is not None and mine["topics"][0]["max_time_lag_ms"] >= 0
    default = structured(await mcp_client.call_tool("kafka_consumer_lag", {"topic": topic}))
    totals_only = next(g for g in default["groups"] if g["group_id"] == group)
    assert totals_only["total_lag"] == 5 and totals_only["topics"][0]["partitions"] == [], "all groups: totals"
    # Groups that never touched the topic contribute nothing under the topic filter.
    assert all(t["topic"] == topic for g in report["groups"] for t in g["topics"])


async def test_live_member_without_commit_is_reported_not_invented(mcp_client: Any, admin: Any, bootstrap: str) -> None:
    from confluent_kafka import Consumer

    topic = unique("lag-live")
    create_topic(admin, topic, 1)
    fill(bootstrap, topic, {0: 3})
    group = unique("lag-live-g")
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False, "client.id": "live-one"}
    )
    try:
        consumer.subscribe([topic])
        for _ in range(60):
            consumer.poll(0.5)
            if consumer.assignment():
                break
        assert consumer.assignment()
        report = structured(await mcp_client.call_tool("kafka_consumer_lag", {"groups": [group]}))
        row = report["groups"][0]["topics"][0]["partitions"][0]
        assert row["committed"] is None and row["lag"] is None and row["note"] == "no committed offset"
        assert row["log_end"] == 3 and row["assigned_to"].startswith("live-one@")
        desc = structured(await mcp_client.call_tool("kafka_describe_consumer_group", {"group": group}))
        assert desc["state"] == "STABLE" and desc["member_count"] == 1
        assert desc["members"][0]["client_id"] == "live-one"
        assert desc["members"][0]["assignment"] == [{"topic": topic, "partitions": [0]}]
        assert desc["coordinator"]["port"] > 0
        listed = structured(await mcp_client.call_tool("kafka_list_consumer_groups", {"topic": topic}))
        assert [g["group_id"] for g in listed["groups"]] == [group]
        assert listed["groups"][0]["member_count"] == 1
        stable = structured(await mcp_client.call_tool("kafka_list_consumer_groups", {"states": ["STABLE"]}))
        assert group in {g["group_id"] for g in stable["groups"]}
    finally:
        consumer.close()


async def test_unknown_group_and_topic_errors(mcp_client: Any) -> None:
    missing = unique("nope")
    assert_tool_error(
        await mcp_client.call_tool("kafka_consumer_lag", {"groups": [missing]}), missing, "does not exist"
    )
    assert_tool_error(await mcp_client.call_tool("kafka_describe_consumer_group", {"group": missing}), "does not exist")
    assert_tool_error(await mcp_client.call_tool("kafka_consumer_lag", {"topic": unique("no-topic")}), "does not exist")
    assert_tool_error(
        await mcp_client.call_tool("kafka_list_consumer_groups", {"states": ["SLEEPY"]}), "unknown group state"
    )


async def test_per_group_errors_and_deleted_topic(mcp_client: Any, admin: Any, bootstrap: str) -> None:
    kept, gone = unique("lag-kept"), unique("lag-gone")
    create_topic(admin, kept, 1)
    create_topic(admin, gone, 1)
    fill(bootstrap, kept, {0: 4})
    fill(bootstrap, gone, {0: 4})
    group, missing = unique("lag-mixed"), unique("lag-missing")
    commit(bootstrap, group, {(kept, 0): 1, (gone, 0): 2})
    admin.delete_topics([gone])[gone].result(30)
    import anyio

    with anyio.move_on_after(15):
        while gone in admin.list_topics(timeout=10).topics:
            await anyio.sleep(0.2)

    report = structured(await mcp_client.call_tool("kafka_consumer_lag", {"groups": [group, missing]}))
    by_group = {g["group_id"]: g for g in report["groups"]}
    assert "does not exist" in by_group[missing]["error"]
    rows = {t["topic"]: t["partitions"][0] for t in by_group[group]["topics"]}
    assert rows[kept]["lag"] == 3
    # The coordinator drops offsets of deleted topics on its own schedule: until it does, the row is reported with a
    # note instead of failing the group (and a lag is never invented for it).
    if gone in rows:
        assert rows[gone]["lag"] is None and rows[gone]["committed"] == 2
        assert rows[gone]["note"] == "topic or partition no longer exists"
    assert by_group[group]["total_lag"] == 3
    assert_tool_error(await mcp_client.call_tool("kafka_consumer_lag", {"groups": []}), "empty")


async def test_lag_on_three_brokers_matches_kafka_tool(kafka3_cluster: ClusterHandle, data_dir: Path) -> None:
    """Partitions led by different brokers: the batched end-offset lookup must still agree with Kafka's tool."""
    from confluent_kafka.admin import AdminClient
    from mcp import Client

    from mcp_server.server import build_server

    bs = kafka3_cluster.bootstrap_servers
    admin3 = AdminClient({"bootstrap.servers": bs})
    topic, group = unique("lag3"), unique("lag3-g")
    create_topic(admin3, topic, 6, replication_factor=3)
    leaders = {p.leader for p in admin3.list_topics(topic=topic, timeout=10).topics[topic].partitions.values()}
    assert len(leaders) > 1, "the partitions should be spread over several leaders"
    fill(bs, topic, {p: p + 2 for p in range(6)})
    commit(bs, group, {(topic, p): 1 for p in range(6)})
    async with Client(build_server(make_settings(bs, data_dir)), raise_exceptions=False) as client:
        report = structured(await client.call_tool("kafka_consumer_lag", {"groups": [group]}))
    ours = {(group, p["topic"], p["partition"]): str(p["lag"]) for p in report["groups"][0]["topics"][0]["partitions"]}
    assert ours == {(group, topic, p): str(p + 1) for p in range(6)}
    java = java_describe(bs, [group])
    assert {k: v[2] for k, v in java.items()} == ours


async def test_end_offsets_are_cached_for_the_configured_time(
    kafka_cluster: ClusterHandle, data_dir: Path, admin: Any, bootstrap: str
) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    topic, group = unique("lag-cache"), unique("lag-cache-g")
    create_topic(admin, topic, 1)
    fill(bootstrap, topic, {0: 3})
    commit(bootstrap, group, {(topic, 0): 1})
    async with Client(
        build_server(make_settings(bootstrap, data_dir, lag_cache_ttl_s=3600)), raise_exceptions=False
    ) as c:
        first = structured(await c.call_tool("kafka_consumer_lag", {"groups": [group]}))
        fill(bootstrap, topic, {0: 4})
        cached = structured(await c.call_tool("kafka_consumer_lag", {"groups": [group]}))
    assert first["total_lag"] == 2 and first["end_offsets_age_ms"] == 0
    assert cached["total_lag"] == 2, "within the TTL the cached log end offset is used"
    assert cached["end_offsets_age_ms"] >= 0
    async with Client(build_server(make_settings(bootstrap, data_dir, lag_cache_ttl_s=0)), raise_exceptions=False) as c:
        fresh = structured(await c.call_tool("kafka_consumer_lag", {"groups": [group]}))
    assert fresh["total_lag"] == 6


async def test_unreachable_cluster_is_a_clear_error(data_dir: Path) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    settings = make_settings("127.0.0.1:1", data_dir, request_timeout_s=2)
    async with Client(build_server(settings), raise_exceptions=False) as client:
        for tool in ("kafka_list_consumer_groups", "kafka_consumer_lag"):
            assert_tool_error(await client.call_tool(tool, {}), "127.0.0.1:1")
