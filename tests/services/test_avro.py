"""Avro records through kafka_produce / kafka_consume with the real registry, in the Confluent wire format."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import pytest

from tests.conftest import unique
from tests.helpers import assert_tool_error, structured
from tests.services.conftest import ServiceEnv, create_topic, read_all

pytestmark = pytest.mark.anyio

SCHEMA = {
    "type": "record",
    "name": "Payment",
    "namespace": "test",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}


async def test_avro_round_trip(mcp_client: Any, http: Any, admin_b: Any, service_env: ServiceEnv) -> None:
    import fastavro

    topic = unique("payments")
    create_topic(admin_b, topic, partitions=2)
    reg = structured(
        await mcp_client.call_tool("kafka_register_schema", {"subject": f"{topic}-value", "schema": SCHEMA})
    )
    values = [{"id": i, "amount": i * 1.5, "note": None if i % 2 else f"n{i}"} for i in range(4)]
    produced = structured(
        await mcp_client.call_tool(
            "kafka_produce",
            {"topic": topic, "value_format": "avro", "records": [{"key": str(v["id"]), "value": v} for v in values]},
        )
    )
    assert produced["written"] == 4 and produced["failed"] == 0

    # A plain consumer sees the Confluent wire format: magic 0, the registry's schema id, Avro binary.
    raw = read_all(service_env.b_bootstrap, topic, 4)
    writer = fastavro.parse_schema(
        json.loads(http.get(f"{service_env.registry_url}/schemas/ids/{reg['id']}").json()["schema"])
    )
    decoded = []
    for msg in raw:
        data = msg.value()
        assert data[0] == 0 and struct.unpack(">I", data[1:5])[0] == reg["id"]
        decoded.append(fastavro.schemaless_reader(io.BytesIO(data[5:]), writer, None))
    assert sorted(decoded, key=lambda v: v["id"]) == values

    consumed = structured(
        await mcp_client.call_tool(
            "kafka_consume", {"topic": topic, "start": "earliest", "value_format": "avro", "max_records": 10}
        )
    )
    assert sorted((r["value"] for r in consumed["records"]), key=lambda v: v["id"]) == values
    assert {r["value_encoding"] for r in consumed["records"]} == {"json"}


async def test_avro_bad_input(mcp_client: Any, admin_b: Any, service_env: ServiceEnv) -> None:
    topic = unique("payments")
    create_topic(admin_b, topic)
    # No schema registered for the topic yet.
    assert_tool_error(
        await mcp_client.call_tool(
            "kafka_produce", {"topic": topic, "value_format": "avro", "records": [{"value": {"id": 1}}]}
        ),
        f"{topic}-value",
        "kafka_register_schema",
    )
    structured(await mcp_client.call_tool("kafka_register_schema", {"subject": f"{topic}-value", "schema": SCHEMA}))
    # A value that does not match the schema is refused before anything is written.
    assert_tool_error(
        await mcp_client.call_tool(
            "kafka_produce",
            {
                "topic": topic,
                "value_format": "avro",
                "records": [{"value": {"id": 1, "amount": 2.0}}, {"value": {"id": "x"}}],
            },
        ),
        "record 1",
        "schema",
    )
    # A schema that is not a registered version of the subject is refused too.
    other = {**SCHEMA, "fields": SCHEMA["fields"][:2]}
    assert_tool_error(
        await mcp_client.call_tool(
            "kafka_produce",
            {
                "topic": topic,
                "value_format": "avro",
                "value_schema": other,
                "records": [{"value": {"id": 1, "amount": 1.0}}],
            },
        ),
        "not registered",
    )
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": service_env.b_bootstrap, "group.id": unique("g"), "enable.auto.commit": False})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), 10) == (0, 0)
    finally:
        c.close()
