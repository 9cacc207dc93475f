"""Toolsets: the default selection, the selection grammar, tools outside the selection, dynamic discovery with
notifications/tools/list_changed, and kafka_find_tools on plain operator requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.helpers import assert_tool_error, structured

pytestmark = pytest.mark.anyio

# Operator requests in plain words, each with the tool that serves it.
REQUESTS: list[tuple[str, str]] = [
    ("which consumers are behind on the orders topic", "kafka_consumer_lag"),
    ("how far behind is the billing group", "kafka_consumer_lag"),
    ("is the cluster healthy, are any brokers down", "kafka_cluster_health"),
    ("show me the brokers and the controller", "kafka_describe_cluster"),
    ("what topics exist", "kafka_list_topics"),
    ("show partitions leaders and ISR of the payments topic", "kafka_describe_topic"),
    ("make a new topic for click events with 12 partitions", "kafka_create_topic"),
    ("change the retention of a topic to 3 days", "kafka_alter_topic_config"),
    ("the topic needs more partitions", "kafka_add_partitions"),
    ("remove the old test topic", "kafka_delete_topic"),
    ("list the consumer groups", "kafka_list_consumer_groups"),
    ("who are the members of the analytics group", "kafka_describe_consumer_group"),
    ("rewind the group to the beginning of the topic", "kafka_reset_offsets"),
    ("replay the last hour of events for a consumer group", "kafka_reset_offsets"),
    ("drop an unused consumer group", "kafka_delete_consumer_group"),
    ("send a test message to a topic", "kafka_produce"),
    ("peek at the latest messages on a topic", "kafka_consume"),
    ("what are the earliest and latest offsets of a topic", "kafka_topic_offsets"),
    ("purge all records before an offset", "kafka_delete_records"),
    ("is this topic durable, what is min insync replicas", "kafka_check_durability"),
    ("set min.insync.replicas to 2", "kafka_set_durability"),
    ("leaders are unbalanced after a broker restart", "kafka_elect_leaders"),
    ("how many partitions do I need for 50000 messages per second", "kafka_partition_strategy"),
    ("are my keys spread evenly over partitions", "kafka_partition_strategy"),
    ("recommended producer settings for durability", "kafka_producer_config"),
    ("consumer configuration for manual commits", "kafka_consumer_config"),
    ("benchmark producer throughput and latency", "kafka_perf_test"),
    ("prove exactly once delivery works with transactions", "kafka_verify_exactly_once"),
    ("list the SCRAM users", "kafka_describe_scram_users"),
    ("create a user with a password", "kafka_upsert_scram_user"),
    ("revoke a user's credentials", "kafka_delete_scram_user"),
    ("who has access to the payments topic", "kafka_list_acls"),
    ("allow a user to read a topic", "kafka_create_acls"),
    ("give the orders service producer permissions", "kafka_grant_role"),
    ("remove the ACLs of an old app", "kafka_delete_acls"),
    ("client configuration for SASL SSL", "kafka_client_security_config"),
    ("can this user log in", "kafka_check_login"),
    ("would creating this topic pass the guardrails", "kafka_check_policy"),
    ("what policy rules apply in production", "kafka_list_policies"),
    ("is this cluster production ready", "kafka_audit_cluster"),
    ("list the schema registry subjects", "kafka_list_schema_subjects"),
    ("show the latest avro schema of a subject", "kafka_get_schema"),
    ("is my new avro schema compatible", "kafka_check_schema_compatibility"),
    ("register a schema for the events value", "kafka_register_schema"),
    ("delete an old schema version", "kafka_delete_schema_version"),
    ("which connector plugins are installed", "kafka_list_connector_plugins"),
    ("list the connectors", "kafka_list_connectors"),
    ("is the jdbc source connector running", "kafka_connector_status"),
    ("create an s3 sink connector", "kafka_create_or_update_connector"),
    ("write me a jdbc source connector config", "kafka_connector_config"),
    ("set up mirrormaker replication between clusters", "kafka_mirror"),
    ("is replication from the other cluster keeping up", "kafka_mirror_status"),
    ("deploy a stream processing app that aggregates by user", "kafka_stream_deploy"),
    ("which stream applications are running", "kafka_stream_list"),
    ("run a ksql query", "kafka_ksql"),
    ("remember this runbook for broker failures", "memory_store"),
    ("how did we fix NOT_ENOUGH_REPLICAS last time", "vector_search"),
    ("get the memory record with this key", "memory_retrieve"),
    ("delete a memory note", "memory_delete"),
    ("hand the whole task to the agent", "agent_run_task"),
    ("which toolsets are there", "kafka_list_toolsets"),
    ("move partitions off a broker before retiring it", "kafka_reassignment_plan"),
]


async def _client(settings: Any) -> Any:
    from mcp import Client

    from mcp_server.server import build_server

    return Client(build_server(settings), raise_exceptions=False)


async def test_the_default_selection_is_the_daily_operators(kafka_cluster: Any, data_dir: Path) -> None:
    from mcp_server.toolsets import DEFAULT_TOOLS

    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, toolsets="default")
    async with await _client(settings) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert set(names) == set(DEFAULT_TOOLS) and len(names) <= 25
        refused = await client.call_tool("kafka_create_acls", {"short_forms": ["user:x:read:topic:y"]})
        assert_tool_error(refused, "toolset 'security'", "--toolsets default,+security")
        assert structured(await client.call_tool("kafka_list_topics", {}))["topics"] is not None


@pytest.mark.parametrize(
    ("spec", "has", "lacks"),
    [
        ("all", {"kafka_create_acls", "kafka_ksql", "kafka_describe_topic"}, set()),
        ("default,+security", {"kafka_create_acls", "kafka_describe_topic"}, {"kafka_ksql"}),
        ("+security", {"kafka_create_acls", "kafka_describe_topic"}, {"kafka_ksql"}),
        ("all,-streams", {"kafka_create_acls"}, {"kafka_ksql", "kafka_stream_deploy"}),
        ("cluster,groups", {"kafka_describe_topic", "kafka_consumer_lag"}, {"kafka_create_acls", "vector_search"}),
        ("default,-memory", {"kafka_describe_topic"}, {"vector_search", "memory_store"}),
    ],
)
async def test_selection_grammar(kafka_cluster: Any, data_dir: Path, spec: str, has: set[str], lacks: set[str]) -> None:
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, toolsets=spec)
    async with await _client(settings) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert has <= names and not (lacks & names)


async def test_read_only_and_lists_compose_with_toolsets(kafka_cluster: Any, data_dir: Path) -> None:
    settings = make_settings(
        kafka_cluster.bootstrap_servers,
        data_dir,
        toolsets="default,+security",
        read_only=True,
        deny_tools=["kafka_list_acls"],
    )
    async with await _client(settings) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert "kafka_create_topic" not in names and "kafka_create_acls" not in names
    assert "kafka_list_acls" not in names and "kafka_describe_scram_users" in names


def test_an_unknown_toolset_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "cli", "serve", "--toolsets", "default,+nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "KAFKA_AGENT_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert proc.returncode == 2 and "Unknown toolset 'nonsense'" in proc.stderr


async def test_dynamic_toolsets_enable_and_notify(kafka_cluster: Any, data_dir: Path) -> None:
    """A client that refreshes its tool list when told it changed sees the new tools; another session does not."""
    from mcp import Client

    from mcp_server.server import build_server

    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, toolsets="default", dynamic_toolsets=True)
    server = build_server(settings)
    notified: list[str] = []
    seen: list[set[str]] = []

    async def on_message(message: Any) -> None:
        method = getattr(getattr(message, "root", message), "method", None)
        if method == "notifications/tools/list_changed":
            notified.append(method)

    async with Client(server, raise_exceptions=False, mode="legacy", message_handler=on_message) as client:
        before = {t.name for t in (await client.list_tools()).tools}
        assert {"kafka_list_toolsets", "kafka_enable_toolset", "kafka_find_tools"} <= before
        assert "kafka_create_acls" not in before
        listed = structured(await client.call_tool("kafka_list_toolsets", {}))
        assert listed["dynamic"] is True
        security = next(t for t in listed["toolsets"] if t["name"] == "security")
        assert not security["enabled"] and "kafka_create_acls" in security["tools"]
        assert_tool_error(
            await client.call_tool("kafka_create_acls", {"short_forms": ["user:x:read:topic:y"]}),
            "kafka_enable_toolset",
        )
        enabled = structured(await client.call_tool("kafka_enable_toolset", {"toolset": "security"}))
        assert "kafka_create_acls" in enabled["added"]
        assert notified, "no notifications/tools/list_changed"
        seen.append({t.name for t in (await client.list_tools()).tools})
        assert_tool_error(await client.call_tool("kafka_enable_toolset", {"toolset": "nope"}), "not a toolset")
    assert "kafka_create_acls" in seen[0]
    async with Client(build_server(settings), raise_exceptions=False, mode="legacy") as other:
        assert "kafka_create_acls" not in {t.name for t in (await other.list_tools()).tools}


async def test_find_tools_top3_hit_rate(settings: Any) -> None:
    """At least 60 plain requests; the tool that serves each is in kafka_find_tools' top three for >= 90 %."""
    assert len(REQUESTS) >= 60
    misses = []
    async with await _client(settings) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        for request, wanted in REQUESTS:
            assert wanted in names, f"{wanted} is not a tool"
            found = structured(await client.call_tool("kafka_find_tools", {"query": request, "limit": 3}))
            top = [t["name"] for t in found["tools"]]
            if wanted not in top:
                misses.append(f"{request!r}: wanted {wanted}, got {top}")
    rate = 1 - len(misses) / len(REQUESTS)
    print(f"\nkafka_find_tools top-3 hit rate: {rate:.3f} over {len(REQUESTS)} requests")
    assert rate >= 0.9, "\n".join(misses)


async def test_find_tools_names_the_toolset(kafka_cluster: Any, data_dir: Path) -> None:
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, toolsets="default")
    async with await _client(settings) as client:
        found = structured(await client.call_tool("kafka_find_tools", {"query": "grant a user read access"}))
    first = found["tools"][0]
    assert first["toolset"] == "security" and first["enabled"] is False
    assert json.dumps(found)  # plain data
