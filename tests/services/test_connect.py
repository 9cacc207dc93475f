"""Kafka Connect tools against a real distributed worker; effects checked with a separate consumer and HTTP client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import unique
from tests.helpers import assert_tool_error, structured
from tests.services.conftest import ServiceEnv, create_topic, read_all

pytestmark = pytest.mark.anyio

FILE_SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"
FILE_SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"


async def _wait_state(mcp_client: Any, name: str, wanted: str, *, task: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {}
    with anyio.move_on_after(60):
        while True:
            result = await mcp_client.call_tool("kafka_connector_status", {"name": name})
            if not result.is_error:
                status = structured(result)
                states = [t["state"] for t in status["tasks"]] if task else [status["state"]]
                if states and all(s == wanted for s in states):
                    return status
            await anyio.sleep(0.5)
    raise AssertionError(f"connector {name} never reached {wanted}: {status}")


async def test_plugins_listed(mcp_client: Any) -> None:
    data = structured(await mcp_client.call_tool("kafka_list_connector_plugins", {}))
    classes = {p["class_name"] for p in data["plugins"]}
    assert {FILE_SOURCE, FILE_SINK, "org.apache.kafka.connect.mirror.MirrorSourceConnector"} <= classes


def _audit(settings: Any, name: str) -> list[tuple[str, str, str | None]]:
    """(tool, decision, error) of every audit line about connector ``name``."""
    lines = [json.loads(line) for line in settings.resolved_audit_log().read_text().splitlines()]
    return [(a["tool"], a["decision"], a["error"]) for a in lines if a["resources"] == [name]]


async def test_file_source_moves_lines_then_lifecycle(
    mcp_client: Any, http: Any, admin_b: Any, service_env: ServiceEnv, tmp_path: Path, settings: Any
) -> None:
    topic, name = unique("lines"), unique("file-src")
    create_topic(admin_b, topic)
    source = tmp_path / "input.txt"
    lines = [f"line {i} {unique()}" for i in range(5)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    created = structured(
        await mcp_client.call_tool(
            "kafka_create_or_update_connector",
            {"name": name, "config": {"connector.class": FILE_SOURCE, "file": str(source), "topic": topic}},
        )
    )
    assert created["created"] is True and created["validation"]["valid"] is True
    records = read_all(service_env.b_bootstrap, topic, len(lines))
    assert [json.loads(m.value()) for m in records] == lines  # JsonConverter writes each line as a JSON string

    status = await _wait_state(mcp_client, name, "RUNNING", task=True)
    assert status["healthy"] is True and status["connector_class"] == FILE_SOURCE
    listed = structured(await mcp_client.call_tool("kafka_list_connectors", {}))
    assert any(c["name"] == name and c["state"] == "RUNNING" for c in listed["connectors"])

    paused = structured(await mcp_client.call_tool("kafka_pause_connector", {"name": name}))
    assert paused["status"]["state"] == "PAUSED"
    assert http.get(f"{service_env.connect_url}/connectors/{name}/status").json()["connector"]["state"] == "PAUSED"
    structured(await mcp_client.call_tool("kafka_resume_connector", {"name": name}))
    await _wait_state(mcp_client, name, "RUNNING")

    # Updating the config of an existing connector is an update, not a creation.
    updated = structured(
        await mcp_client.call_tool(
            "kafka_create_or_update_connector",
            {
                "name": name,
                "config": {"connector.class": FILE_SOURCE, "file": str(source), "topic": topic, "batch.size": 100},
            },
        )
    )
    assert updated["created"] is False
    assert http.get(f"{service_env.connect_url}/connectors/{name}/config").json()["batch.size"] == "100"

    preview = structured(await mcp_client.call_tool("kafka_delete_connector", {"name": name}))
    assert preview["executed"] is False and name in preview["consent"]["effect"]
    assert preview["consent"]["mode"] == "token"
    assert http.get(f"{service_env.connect_url}/connectors/{name}").status_code == 200
    token = preview["consent"]["confirmation_token"]
    done = structured(await mcp_client.call_tool("kafka_delete_connector", {"name": name, "confirm_token": token}))
    assert done["executed"] is True
    assert http.get(f"{service_env.connect_url}/connectors/{name}").status_code == 404
    # Every change went through the gate and was audited once with its outcome; the delete after consent.
    assert _audit(settings, name) == [
        ("kafka_create_or_update_connector", "allowed", None),
        ("kafka_pause_connector", "allowed", None),
        ("kafka_resume_connector", "allowed", None),
        ("kafka_create_or_update_connector", "allowed", None),
        ("kafka_delete_connector", "consent_requested", None),
        ("kafka_delete_connector", "confirmed", None),
    ]


async def test_invalid_config_refused_per_field(
    mcp_client: Any, http: Any, service_env: ServiceEnv, settings: Any
) -> None:
    name = unique("bad-src")
    result = await mcp_client.call_tool(
        "kafka_create_or_update_connector",
        {"name": name, "config": {"connector.class": FILE_SOURCE, "tasks.max": "many"}},
    )
    assert_tool_error(result, "rejected", "topic", "tasks.max")
    assert http.get(f"{service_env.connect_url}/connectors/{name}").status_code == 404
    # The worker's refusal is the change's audited outcome.
    ((tool, decision, error),) = _audit(settings, name)
    assert (tool, decision) == ("kafka_create_or_update_connector", "allowed") and error and "rejected" in error
    report = structured(
        await mcp_client.call_tool(
            "kafka_validate_connector_config", {"config": {"connector.class": FILE_SOURCE, "name": name}}
        )
    )
    assert report["valid"] is False and "topic" in {e["field"] for e in report["errors"]}
    missing = structured(
        await mcp_client.call_tool(
            "kafka_validate_connector_config", {"config": {"connector.class": "com.example.NoSuchConnector"}}
        )
    )
    assert missing["plugin_installed"] is False and "not installed" in missing["note"]


async def test_failing_connector_shows_trace_and_restarts(
    mcp_client: Any, http: Any, admin_b: Any, service_env: ServiceEnv, tmp_path: Path, settings: Any
) -> None:
    topic, name = unique("sink-in"), unique("file-sink")
    create_topic(admin_b, topic)
    bad_path = tmp_path / "no-such-dir" / "out.txt"  # the sink task cannot create it and fails on start
    structured(
        await mcp_client.call_tool(
            "kafka_create_or_update_connector",
            {"name": name, "config": {"connector.class": FILE_SINK, "file": str(bad_path), "topics": topic}},
        )
    )
    status = await _wait_state(mcp_client, name, "FAILED", task=True)
    assert status["failed_tasks"] == [0] and status["healthy"] is False
    trace = status["tasks"][0]["trace"]
    assert trace and "no-such-dir" in trace
    restarted = structured(await mcp_client.call_tool("kafka_restart_connector", {"name": name}))
    assert restarted["accepted"] is True
    lines = [json.loads(line) for line in settings.resolved_audit_log().read_text().splitlines()]
    (audited,) = [a for a in lines if a["tool"] == "kafka_restart_connector"]
    assert audited["action"] == "connector.restart" and audited["resources"] == [name]
    assert audited["arguments"] == {"name": name, "include_tasks": True, "only_failed": True}
    await _wait_state(mcp_client, name, "FAILED", task=True)  # the cause is still there
    http.delete(f"{service_env.connect_url}/connectors/{name}")


async def test_connector_config_drafts(mcp_client: Any, tmp_path: Path) -> None:
    jdbc = structured(
        await mcp_client.call_tool(
            "kafka_connector_config",
            {
                "kind": "jdbc-source",
                "name": "orders-db",
                "connection": "jdbc:postgresql://db:5432/shop",
                "tables": ["orders"],
                "topic_prefix": "shop-",
            },
        )
    )
    conf = jdbc["generated"]["config"]
    assert conf["mode"] == "incrementing" and conf["incrementing.column.name"] == "id"
    assert (
        conf["connection.password"].startswith("${file:") and "jdbc.password" in jdbc["generated"]["secret_references"]
    )
    assert conf["transforms.createKey.type"] == "org.apache.kafka.connect.transforms.ValueToKey"
    assert conf["transforms.extractKey.type"].endswith("ExtractField$Key")
    assert jdbc["validation"]["plugin_installed"] is False and "not installed" in jdbc["note"]

    s3 = structured(
        await mcp_client.call_tool(
            "kafka_connector_config", {"kind": "s3-sink", "name": "lake", "topics": ["orders"], "bucket": "b"}
        )
    )
    s3conf = s3["generated"]["config"]
    assert s3conf["format.class"].endswith("ParquetFormat") and s3conf["partitioner.class"].endswith(
        "TimeBasedPartitioner"
    )
    assert s3conf["value.converter.schema.registry.url"].endswith("/apis/ccompat/v7")

    for kind, extra in [
        ("elasticsearch-sink", {"topics": ["t"], "connection": "http://es:9200"}),
        ("mongodb-sink", {"topics": ["t"], "database": "d", "tables": ["c"]}),
        ("debezium-postgres", {"connection": "pg:5432", "database": "shop", "tables": ["public.orders"]}),
    ]:
        data = structured(await mcp_client.call_tool("kafka_connector_config", {"kind": kind, "name": "x", **extra}))
        assert data["validation"]["plugin_installed"] is False

    # An installed plugin is validated by the worker for real.
    ok = structured(
        await mcp_client.call_tool(
            "kafka_connector_config",
            {"kind": "file-source", "name": "f", "file": str(tmp_path / "in.txt"), "topics": ["t"]},
        )
    )
    assert ok["validation"]["plugin_installed"] is True and ok["validation"]["valid"] is True
    assert_tool_error(
        await mcp_client.call_tool("kafka_connector_config", {"kind": "s3-sink", "name": "x", "topics": ["t"]}),
        "bucket",
    )


async def test_a_source_writing_to_a_missing_topic_is_not_healthy_until_data_moves(
    mcp_client: Any, admin_b: Any, service_env: ServiceEnv, tmp_path: Path, http: Any
) -> None:
    """The reproduction: a connector whose target topic does not exist reported RUNNING and healthy while the
    worker logged UNKNOWN_TOPIC_OR_PARTITION (the brokers do not create topics on demand)."""
    topic, name = unique("not-yet"), unique("lost-src")
    source = tmp_path / "input.txt"
    source.write_text("".join(f"line {i}\n" for i in range(20)), encoding="utf-8")
    config = {"connector.class": FILE_SOURCE, "file": str(source), "topic": topic}
    structured(await mcp_client.call_tool("kafka_create_or_update_connector", {"name": name, "config": config}))
    try:
        await _wait_state(mcp_client, name, "RUNNING", task=True)
        status = structured(await mcp_client.call_tool("kafka_connector_status", {"name": name, "probe_s": 1}))
        assert status["state"] == "RUNNING" and status["tasks"][0]["state"] == "RUNNING"
        assert status["healthy"] is False and status["data_moving"] is False
        assert any(topic in p and "UNKNOWN_TOPIC_OR_PARTITION" in p for p in status["problems"])
        listed = structured(await mcp_client.call_tool("kafka_list_connectors", {}))
        assert [c["healthy"] for c in listed["connectors"] if c["name"] == name] == [False]

        create_topic(admin_b, topic)  # now the records can go
        assert len(read_all(service_env.b_bootstrap, topic, 20)) == 20
        status = {}
        with anyio.move_on_after(60):
            while not status.get("healthy"):
                status = structured(await mcp_client.call_tool("kafka_connector_status", {"name": name, "probe_s": 1}))
        assert status["healthy"] is True and status["data_moving"] is True and status["problems"] == []
        assert topic in status["activity"]["active_topics"] and status["activity"]["records_in_targets"] == 20
    finally:
        http.delete(f"{service_env.connect_url}/connectors/{name}")


async def test_a_draft_is_validated_as_it_is_returned(
    mcp_client: Any, http: Any, service_env: ServiceEnv, tmp_path: Path, admin_b: Any
) -> None:
    """The reproduction: the draft said valid, and the worker then said "Missing required configuration name"
    about the very config the draft returned. Now the returned config is the validated one, name included: the
    worker accepts it as it is."""
    topic, name = unique("drafted"), unique("draft-src")
    create_topic(admin_b, topic)
    draft = structured(
        await mcp_client.call_tool(
            "kafka_connector_config",
            {"kind": "file-source", "name": name, "file": str(tmp_path / "in.txt"), "topics": [topic]},
        )
    )
    config = draft["generated"]["config"]
    assert config["name"] == name and draft["validation"]["valid"] is True
    validated = http.put(
        f"{service_env.connect_url}/connector-plugins/{FILE_SOURCE}/config/validate", json=config
    ).json()
    assert validated["error_count"] == 0, [c["value"] for c in validated["configs"] if c["value"]["errors"]]
    created = http.put(f"{service_env.connect_url}/connectors/{name}/config", json=config)
    assert created.status_code in (200, 201), created.text
    http.delete(f"{service_env.connect_url}/connectors/{name}")
