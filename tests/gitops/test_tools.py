"""The MCP tools (kafka_plan, kafka_apply, kafka_drift) over an in-memory client, and the exporter's drift section."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import assert_tool_error, structured

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(settings: Any) -> AsyncIterator[Any]:
    from mcp import Client

    from mcp_server.server import build_server

    settings = settings.model_copy(update={"toolsets": "default,+platform"})
    async with Client(build_server(settings), raise_exceptions=False) as c:
        yield c


def doc(prefix: str, topics: dict[str, Any]) -> str:
    return yaml.safe_dump({"version": 1, "clusters": {"b": {"manage": {"prefixes": [prefix]}, "topics": topics}}})


async def test_plan_apply_and_a_deletion_confirmed_with_a_token(
    client: Any, prefix: str, admin_of: Any, settings: Any
) -> None:
    admin = admin_of("b")
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["kafka_plan"].annotations.read_only_hint is True
    assert tools["kafka_drift"].annotations.read_only_hint is True
    assert tools["kafka_apply"].annotations.destructive_hint is True

    topic = f"{prefix}t"
    planned = structured(
        await client.call_tool(
            "kafka_plan",
            {"platform": doc(prefix, {topic: {"partitions": 2, "replication_factor": 1}}), "save_as": "t.yaml"},
        )
    )
    assert (
        planned["exit_code"] == 2
        and planned["file"] == "t.yaml"
        and f"+ 1. topic.create topic {topic}" in planned["text"]
    )
    assert (settings.resolved_platform_dir() / "t.yaml").exists()
    # the first call only shows what the plan does and asks for the person's consent (dev: a token)
    preview = structured(await client.call_tool("kafka_apply", {"plan_id": planned["plan_id"]}))
    assert preview["executed"] is False and f"topic.create {topic}" in preview["consent"]["effect"]
    assert topic not in admin.list_topics(timeout=10).topics
    token = preview["consent"]["confirmation_token"]
    applied = structured(await client.call_tool("kafka_apply", {"plan_id": planned["plan_id"], "confirm_token": token}))
    assert applied["executed"] and applied["result"]["status"] == "applied"
    assert topic in admin.list_topics(timeout=10).topics
    again = structured(await client.call_tool("kafka_apply", {"plan_id": planned["plan_id"]}))
    assert again["result"]["status"] == "already_applied"
    assert structured(await client.call_tool("kafka_drift", {"file": "t.yaml"}))["in_sync"] is True

    # the file drops the topic: a deletion needs allow_delete, then the person's consent (dev: a token)
    planned = structured(await client.call_tool("kafka_plan", {"platform": doc(prefix, {}), "save_as": "t.yaml"}))
    assert planned["summary"]["delete"] == 1
    assert_tool_error(await client.call_tool("kafka_apply", {"plan_id": planned["plan_id"]}), "allow_delete")
    first = structured(await client.call_tool("kafka_apply", {"plan_id": planned["plan_id"], "allow_delete": True}))
    assert first["executed"] is False and first["consent"]["confirmation_token"]
    assert f"DELETES: topic.delete {topic}" in first["consent"]["effect"]
    assert topic in admin.list_topics(timeout=10).topics
    token = first["consent"]["confirmation_token"]
    done = structured(
        await client.call_tool(
            "kafka_apply", {"plan_id": planned["plan_id"], "allow_delete": True, "confirm_token": token}
        )
    )
    assert done["result"]["status"] == "applied" and [d["action"] for d in done["result"]["done"]] == ["topic.delete"]
    assert topic not in admin.list_topics(timeout=10).topics


async def test_the_tools_stay_in_the_platform_folder(client: Any, tmp_path: Path) -> None:
    outside = tmp_path / "secret.avsc"
    outside.write_text('"string"')
    text = yaml.safe_dump({"version": 1, "clusters": {"b": {"schemas": {"x-value": {"file": str(outside)}}}}})
    assert_tool_error(await client.call_tool("kafka_plan", {"platform": text}), "outside the platform folder")
    assert_tool_error(await client.call_tool("kafka_plan", {"file": "../etc/passwd"}), "not a platform file name")
    assert_tool_error(await client.call_tool("kafka_apply", {"plan_id": "../../x"}), "not a plan id")


def test_the_exporter_reports_drift_per_kind(settings: Any, workdir: Path, prefix: str, admin_of: Any) -> None:
    from confluent_kafka.admin import NewTopic
    from prometheus_client import CollectorRegistry, generate_latest

    from core.app import build_app_context
    from core.kafka.clients import KafkaClients
    from gitops.drift import drift_check
    from monitoring.exporter import KafkaCollector

    admin = admin_of("b")
    admin.create_topics([NewTopic(f"{prefix}stray", 1, 1)])[f"{prefix}stray"].result(15)
    path = workdir / "p.yaml"
    path.write_text(doc(prefix, {f"{prefix}wanted": {"partitions": 1, "replication_factor": 1}}))
    app = build_app_context(settings)
    clients = KafkaClients(settings)
    try:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(KafkaCollector(clients, ["b", "g"], drift=drift_check(app, path)))  # type: ignore[arg-type]
        text = generate_latest(registry).decode()
    finally:
        clients.close()
        app.close()
    # one topic to create, one to delete; g has no section in the file, so no drift lines for it
    assert 'kafka_platform_drift_resources{cluster="b",kind="topics"} 2.0' in text
    assert 'kafka_platform_drift_resources{cluster="b",kind="acls"} 0.0' in text
    assert 'kafka_platform_drift_check_success{cluster="b"} 1.0' in text
    assert 'cluster="g",kind=' not in text
