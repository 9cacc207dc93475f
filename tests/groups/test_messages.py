"""Produce, consume, topic offsets and delete records through the MCP client, checked with separate clients."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from tests.conftest import unique
from tests.groups.conftest import audit_entries, create_topic, fill
from tests.helpers import assert_tool_error, structured

pytestmark = pytest.mark.anyio


def reader_groups(admin: Any) -> set[str]:
    return {g.group_id for g in admin.list_consumer_groups().result(15).valid}


async def test_produce_consume_round_trip_leaves_no_group(
    mcp_client: Any, admin: Any, bootstrap: str, settings: Any
) -> None:
    topic = unique("msg")
    create_topic(admin, topic, 2)
    records = [
        {"key": "order-1", "value": {"id": 1, "total": 9.5}, "headers": {"source": "test", "trace": "a1"}},
        {"key": "order-2", "value": ["x", 2], "partition": 1},
        {"key": None, "value": None},
        {"key": "order-1", "value": "plain text"},
    ]
    produced = structured(
        await mcp_client.call_tool("kafka_produce", {"topic": topic, "records": records, "value_format": "json"})
    )
    assert produced["written"] == 4 and produced["failed"] == 0
    assert produced["records"][1]["partition"] == 1
    assert all(r["offset"] is not None and r["error"] is None for r in produced["records"])
    # Records with the same key land in the same partition.
    assert produced["records"][0]["partition"] == produced["records"][3]["partition"]
    # The write went through the gate: one audit line, allowed, naming the topic (never the record contents).
    (line,) = audit_entries(settings, "kafka_produce")
    assert line["decision"] == "allowed" and line["action"] == "topic.produce" and line["resources"] == [topic]
    assert line["result"]["written"] == 4 and line["error"] is None and line["requester"]
    assert "order-1" not in json.dumps(line["arguments"])

    before = reader_groups(admin)
    got = structured(await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "earliest"}))
    assert got["count"] == 4 and got["stopped_because"] == "end_of_partitions"
    assert "untrusted" in got["untrusted_content_note"]
    by_pos = {(r["partition"], r["offset"]): r for r in got["records"]}
    for sent, ack in zip(records, produced["records"], strict=True):
        rec = by_pos[(ack["partition"], ack["offset"])]
        assert rec["key"] == sent["key"]
        assert rec["value"] == sent["value"]
        assert rec["headers"] == (sent.get("headers") or {})
    first = by_pos[(produced["records"][0]["partition"], produced["records"][0]["offset"])]
    assert first["value_encoding"] == "json"
    assert by_pos[(produced["records"][2]["partition"], produced["records"][2]["offset"])]["value_encoding"] == "null"

    # Independent check with a plain consumer: what the tool wrote is on the topic.
    from confluent_kafka import Consumer, TopicPartition

    plain = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("check"), "enable.auto.commit": False})
    plain.assign([TopicPartition(topic, 1, produced["records"][1]["offset"])])
    msg = plain.poll(10)
    plain.close()
    assert msg is not None and msg.key() == b"order-2" and msg.value() == b'["x",2]'

    keyed = structured(
        await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "earliest", "key": "order-1"})
    )
    assert [r["value"] for r in keyed["records"]] == [{"id": 1, "total": 9.5}, "plain text"]
    one = structured(await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "earliest", "partition": 1}))
    assert "order-2" in [r["key"] for r in one["records"]]
    assert {r["partition"] for r in one["records"]} == {1}
    by_bytes = structured(
        await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "earliest", "max_bytes": 1})
    )
    assert by_bytes["count"] < 4 and by_bytes["stopped_because"] == "max_bytes"
    capped = structured(
        await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "earliest", "max_records": 2})
    )
    assert capped["count"] == 2 and capped["stopped_because"] == "max_records"

    after = reader_groups(admin)
    assert not {g for g in after - before if g.startswith("kafka-agent-reader-")}, "consume must not leave a group"


async def test_latest_offset_timestamp_and_value_formats(mcp_client: Any, admin: Any, bootstrap: str) -> None:
    topic = unique("msg-start")
    create_topic(admin, topic, 1)
    fill(bootstrap, topic, {0: 10})
    latest = structured(await mcp_client.call_tool("kafka_consume", {"topic": topic, "start_value": 3}))
    assert [r["offset"] for r in latest["records"]] == [7, 8, 9]
    assert [r["value"] for r in latest["records"]] == ["v7", "v8", "v9"]
    at = structured(await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "offset", "start_value": 8}))
    assert [r["offset"] for r in at["records"]] == [8, 9]
    hour_ago = int(time.time() * 1000) - 3_600_000
    since = structured(
        await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "timestamp", "start_value": hour_ago})
    )
    assert since["count"] == 10

    raw = bytes([0, 255, 1, 254])
    big = "é" * 6000  # 12000 bytes of UTF-8, above the 8192-byte cap
    structured(
        await mcp_client.call_tool(
            "kafka_produce",
            {"topic": topic, "records": [{"value": base64.b64encode(raw).decode()}], "value_format": "base64"},
        )
    )
    structured(await mcp_client.call_tool("kafka_produce", {"topic": topic, "records": [{"value": big}]}))
    tail = structured(await mcp_client.call_tool("kafka_consume", {"topic": topic, "start_value": 2}))
    binary, text = tail["records"]
    assert binary["value_encoding"] == "base64" and base64.b64decode(binary["value"]) == raw
    assert text["value_encoding"] == "text" and text["value_truncated"] is True and text["value_size"] == 12000
    assert len(text["value"].encode()) <= 8192 and big.startswith(text["value"])
    forced = structured(
        await mcp_client.call_tool(
            "kafka_consume",
            {"topic": topic, "start": "offset", "start_value": 0, "max_records": 1, "value_format": "base64"},
        )
    )
    assert base64.b64decode(forced["records"][0]["value"]) == b"v0"


async def test_aborted_transactions_hidden_under_read_committed(mcp_client: Any, admin: Any, bootstrap: str) -> None:
    from confluent_kafka import Producer

    topic = unique("msg-txn")
    create_topic(admin, topic, 1)
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique("txn"), "enable.idempotence": True})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"committed-1")
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"aborted")
    producer.flush(30)
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"committed-2")
    producer.commit_transaction(30)

    seen = structured(await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "earliest"}))
    assert [r["value"] for r in seen["records"]] == ["committed-1", "committed-2"] and seen["read_committed"]
    dirty = structured(
        await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "earliest", "read_committed": False})
    )
    assert [r["value"] for r in dirty["records"]] == ["committed-1", "aborted", "committed-2"]


async def test_message_bad_input(mcp_client: Any, admin: Any, settings: Any) -> None:
    topic = unique("msg-bad")
    create_topic(admin, topic, 1)
    missing = unique("no-topic")
    assert_tool_error(await mcp_client.call_tool("kafka_consume", {"topic": missing}), "does not exist")
    assert_tool_error(
        await mcp_client.call_tool("kafka_produce", {"topic": missing, "records": [{"value": "x"}]}), "does not exist"
    )
    future = int(time.time() * 1000) + 86_400_000
    assert_tool_error(
        await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "timestamp", "start_value": future}),
        "future",
    )
    assert_tool_error(
        await mcp_client.call_tool("kafka_consume", {"topic": topic, "start": "offset", "start_value": 5}),
        "past the log end",
    )
    assert_tool_error(await mcp_client.call_tool("kafka_consume", {"topic": topic, "partition": 4}), "no partition 4")
    too_many = [{"value": "x"}] * 10_001
    assert_tool_error(
        await mcp_client.call_tool("kafka_produce", {"topic": topic, "records": too_many}),
        "`records` is too long (at most 10000), got 10001 items",
    )
    assert_tool_error(
        await mcp_client.call_tool("kafka_produce", {"topic": topic, "records": [{"value": 5}]}),
        "must be a string",
    )
    huge = structured(
        await mcp_client.call_tool(
            "kafka_produce", {"topic": topic, "records": [{"value": "a"}, {"value": "b" * 1_200_000}]}
        )
    )
    assert huge["written"] == 1 and huge["failed"] == 1
    assert "MSG_SIZE_TOO_LARGE" in huge["records"][1]["error"]
    # Kafka's internal topics are protected: the gate refuses the write before anything is sent, and audits it.
    assert_tool_error(
        await mcp_client.call_tool("kafka_produce", {"topic": "__consumer_offsets", "records": [{"value": "x"}]}),
        "protected",
    )
    refused = [e for e in audit_entries(settings, "kafka_produce") if e["resources"] == ["__consumer_offsets"]]
    assert [e["decision"] for e in refused] == ["refused"]


async def test_topic_offsets_and_delete_records(mcp_client: Any, admin: Any, bootstrap: str, settings: Any) -> None:
    topic = unique("msg-del")
    create_topic(admin, topic, 2)
    fill(bootstrap, topic, {0: 8, 1: 3})
    offs = structured(
        await mcp_client.call_tool(
            "kafka_topic_offsets", {"topic": topic, "timestamp_ms": int(time.time() * 1000) - 3_600_000}
        )
    )
    assert [(p["partition"], p["low"], p["high"]) for p in offs["partitions"]] == [(0, 0, 8), (1, 0, 3)]
    assert offs["total_messages"] == 11
    assert [p["offset_for_timestamp"] for p in offs["partitions"]] == [0, 0]

    args = {"topic": topic, "before_offsets": {"0": 5, "1": -1}}
    preview = structured(await mcp_client.call_tool("kafka_delete_records", args))
    assert preview["executed"] is False and "about 8 record(s)" in preview["consent"]["effect"]
    token = preview["consent"]["confirmation_token"]
    done = structured(await mcp_client.call_tool("kafka_delete_records", {**args, "confirm_token": token}))
    assert done["executed"] and done["result"]["records_deleted"] == 8

    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    futs = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.earliest() for p in (0, 1)})
    lows = {tp.partition: f.result(15).offset for tp, f in futs.items()}
    assert lows == {0: 5, 1: 3}
    assert_tool_error(
        await mcp_client.call_tool("kafka_delete_records", {"topic": topic, "before_offsets": {"0": 99}}),
        "outside the log",
    )
    assert_tool_error(
        await mcp_client.call_tool("kafka_delete_records", {"topic": "__consumer_offsets", "before_offsets": {"0": 1}}),
        "protected",
    )
    entries = audit_entries(settings, "kafka_delete_records")
    assert [(e["decision"], e["resources"]) for e in entries] == [
        ("consent_requested", [topic]),
        ("confirmed", [topic]),
        ("refused", ["__consumer_offsets"]),
    ]
    assert entries[1]["result"]["records_deleted"] == 8
