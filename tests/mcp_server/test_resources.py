"""MCP resources and templates: the live cluster (overview, health, topics, a topic, groups, a group's lag), memory
records and runbooks, reference texts; checked against what a separate admin client and our own writes say."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, unique
from tests.helpers import structured
from tests.safety.conftest import create_topic_directly, drop_topics

pytestmark = pytest.mark.anyio


def _json(result: Any) -> Any:
    assert len(result.contents) == 1
    content = result.contents[0]
    assert content.mime_type == "application/json"
    return json.loads(content.text)


@pytest.fixture
def seeded_group(kafka_cluster: ClusterHandle, admin: Any) -> Iterator[tuple[str, str]]:
    """A two-partition topic with 5 records on each partition, and a group that committed offsets 3 and 1."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    topic, group = unique("res-topic"), unique("res-group")
    create_topic_directly(admin, topic, partitions=2)
    producer = Producer({"bootstrap.servers": kafka_cluster.bootstrap_servers})
    for i in range(10):
        producer.produce(topic, value=f"v{i}".encode(), partition=i % 2)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": kafka_cluster.bootstrap_servers, "group.id": group})
    consumer.commit(offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 1)], asynchronous=False)
    consumer.close()
    try:
        yield topic, group
    finally:
        admin.delete_consumer_groups([group])[group].result(timeout=20)
        drop_topics(admin, [topic])


async def test_listing_names_each_cluster_and_the_templates(mcp_client: Any) -> None:
    listed = {str(r.uri): r for r in (await mcp_client.list_resources()).resources}
    for path in ("overview", "health", "topics", "groups"):
        entry = listed[f"kafka://local/{path}"]
        assert entry.name and entry.description and entry.mime_type == "application/json"
    assert "memory://runbooks/local" in listed
    templates = {t.uri_template for t in (await mcp_client.list_resource_templates()).resource_templates}
    assert {
        "kafka://{cluster}/overview",
        "kafka://{cluster}/health",
        "kafka://{cluster}/topics/{topic}",
        "kafka://{cluster}/groups/{group}/lag",
        "memory://records/{cluster}/{type}/{name}",
        "memory://runbooks/{cluster}",
        "kafka-agent://reference/{name}",
    } <= templates


async def test_cluster_overview_health_and_topics_match_the_cluster(mcp_client: Any, admin: Any) -> None:
    overview = _json(await mcp_client.read_resource("kafka://local/overview"))
    assert overview["cluster_id"] == admin.describe_cluster().result(timeout=20).cluster_id
    assert overview["brokers"] and all(b["up"] for b in overview["brokers"])
    health = _json(await mcp_client.read_resource("kafka://local/health"))
    assert health["verdict"] in ("healthy", "degraded", "critical")
    topic = unique("res")
    create_topic_directly(admin, topic, partitions=3)
    try:
        described = _json(await mcp_client.read_resource(f"kafka://local/topics/{topic}"))
        assert described["name"] == topic and len(described["partitions"]) == 3
        listing = _json(await mcp_client.read_resource("kafka://local/topics"))
        assert {"name": topic, "partitions": 3} in [
            {"name": t["name"], "partitions": t["partitions"]} for t in listing["topics"]
        ]
    finally:
        drop_topics(admin, [topic])


async def test_group_lag_is_what_the_group_committed(mcp_client: Any, seeded_group: tuple[str, str]) -> None:
    topic, group = seeded_group
    report = _json(await mcp_client.read_resource(f"kafka://local/groups/{group}/lag"))
    rows = {(p["topic"], p["partition"]): p for g in report["groups"] for t in g["topics"] for p in t["partitions"]}
    assert rows[(topic, 0)]["committed"] == 3 and rows[(topic, 0)]["log_end"] == 5 and rows[(topic, 0)]["lag"] == 2
    assert rows[(topic, 1)]["committed"] == 1 and rows[(topic, 1)]["lag"] == 4
    assert report["groups"][0]["group_id"] == group and report["groups"][0]["total_lag"] == 6
    groups = _json(await mcp_client.read_resource("kafka://local/groups"))
    assert group in [g["group_id"] for g in groups["groups"]]


async def test_errors_say_what_is_wrong(mcp_client: Any) -> None:
    from mcp.shared.exceptions import MCPError
    from mcp_types import INVALID_PARAMS

    with pytest.raises(MCPError) as missing:
        await mcp_client.read_resource(f"kafka://local/topics/{unique('absent')}")
    assert "does not exist" in str(missing.value) and missing.value.error.code == INVALID_PARAMS
    with pytest.raises(MCPError) as unknown:
        await mcp_client.read_resource("kafka://elsewhere/overview")
    assert "elsewhere" in str(unknown.value) and "local" in str(unknown.value)
    with pytest.raises(MCPError):
        await mcp_client.read_resource("kafka://local/nothing-here")


async def test_memory_records_and_runbooks(mcp_client: Any) -> None:
    name = unique("rb")
    text = f"# Broker down\nWhen a broker dies: check kafka_cluster_health, then restart it. ({name})"
    key = f"kafka-streaming-agent/local/runbook/{name}"
    structured(await mcp_client.call_tool("memory_store", {"text": text, "metadata": {"key": key}}))
    record = _json(await mcp_client.read_resource(f"memory://records/local/runbook/{name}"))
    assert record["key"] == key and record["text"] == text
    runbooks = _json(await mcp_client.read_resource("memory://runbooks/local"))
    assert key in [r["key"] for r in runbooks["records"]]
    from mcp.shared.exceptions import MCPError

    with pytest.raises(MCPError) as missing:
        await mcp_client.read_resource("memory://records/local/runbook/never-stored")
    assert "No memory record" in str(missing.value)


async def test_reference_texts_registered_by_code_and_files(
    mcp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_server import references

    calls: list[int] = []

    def generated() -> str:
        calls.append(1)
        return "# Generated\nMade when read."

    uri = references.reference("test-grammar", "Test grammar", "A grammar.\n\nstatement := 'x'")
    generated_uri = references.reference("test-generated", "Generated text", generated)
    shipped = tmp_path / "prompts"
    (shipped / "runbooks").mkdir(parents=True)
    (shipped / "runbooks" / "broker-down.md").write_text("# Broker down\n\nRestart the broker. Then wait.\n")
    monkeypatch.setattr(references, "PROMPTS_DIR", shipped)
    try:
        assert uri == "kafka-agent://reference/test-grammar"
        listed = {str(r.uri): r for r in (await mcp_client.list_resources()).resources}
        assert listed[uri].title == "Test grammar" and listed[uri].description == "A grammar."
        assert listed["kafka-agent://runbooks/broker-down"].description == "Restart the broker."
        assert not calls, "a generated text is made when read, not when listed"
        read = await mcp_client.read_resource(uri)
        assert read.contents[0].text.endswith("statement := 'x'") and read.contents[0].mime_type == "text/markdown"
        assert (await mcp_client.read_resource(generated_uri)).contents[0].text.startswith("# Generated") and calls
        shipped_text = (await mcp_client.read_resource("kafka-agent://runbooks/broker-down")).contents[0].text
        assert shipped_text.startswith("# Broker down")
        assert references.reference_text("test-grammar").startswith("A grammar.")
        with pytest.raises(ValueError):
            references.reference("Not A Slug", "t", "x")
    finally:
        references._REFERENCES.pop("test-grammar", None)
        references._REFERENCES.pop("test-generated", None)


async def test_template_variables_complete_from_the_live_cluster(
    mcp_client: Any, seeded_group: tuple[str, str]
) -> None:
    from mcp_types import ResourceTemplateReference

    topic, group = seeded_group
    lag = ResourceTemplateReference(uri="kafka://{cluster}/groups/{group}/lag")
    got = await mcp_client.complete(lag, {"name": "group", "value": group[:-2]}, context_arguments={"cluster": "local"})
    assert got.completion.values == [group]
    one_topic = ResourceTemplateReference(uri="kafka://{cluster}/topics/{topic}")
    got = await mcp_client.complete(one_topic, {"name": "topic", "value": topic})
    assert got.completion.values == [topic]
    got = await mcp_client.complete(one_topic, {"name": "cluster", "value": "lo"})
    assert got.completion.values == ["local"]
    memory = ResourceTemplateReference(uri="memory://records/{cluster}/{type}")
    got = await mcp_client.complete(memory, {"name": "type", "value": "run"})
    assert got.completion.values == ["runbook"]


async def test_the_tool_deny_list_hides_the_resources_of_that_tool(settings: Any, data_dir: Path) -> None:
    from mcp import Client
    from mcp.shared.exceptions import MCPError

    from mcp_server.server import build_server
    from tests.conftest import make_settings

    denied = make_settings(
        settings.bootstrap_servers, data_dir, deny_tools=["kafka_consumer_lag", "kafka_cluster_health"]
    )
    async with Client(build_server(denied), raise_exceptions=False) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert "kafka://local/health" not in listed and "kafka://local/overview" in listed
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert "kafka://{cluster}/groups/{group}/lag" not in templates
        with pytest.raises(MCPError) as hidden:
            await client.read_resource("kafka://local/groups/any-group/lag")
        assert "deny list hides kafka_consumer_lag" in str(hidden.value)
        assert _json(await client.read_resource("kafka://local/topics"))["topics"] is not None
