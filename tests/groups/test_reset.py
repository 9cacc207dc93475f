"""Offset resets and group deletion: dry runs change nothing, real resets move exactly the plan (checked with a
separate admin client), and groups with live members are refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings, unique
from tests.groups.conftest import audit_entries, commit, create_topic, fill
from tests.helpers import assert_tool_error, structured

pytestmark = pytest.mark.anyio


def committed(admin: Any, group: str) -> dict[tuple[str, int], int]:
    from confluent_kafka import ConsumerGroupTopicPartitions

    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(15)
    return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions}


@pytest.fixture
def seeded(admin: Any, bootstrap: str) -> tuple[str, str]:
    topic, group = unique("reset"), unique("reset-g")
    create_topic(admin, topic, 3)
    fill(bootstrap, topic, {0: 10, 1: 10, 2: 10})
    commit(bootstrap, group, {(topic, 0): 5, (topic, 1): 5, (topic, 2): 5})
    return topic, group


async def test_dry_run_then_confirmed_reset(
    mcp_client: Any, admin: Any, seeded: tuple[str, str], settings: Any
) -> None:
    topic, group = seeded
    args = {"group": group, "topic": topic, "to": "shift", "value": -2, "partitions": [0, 2]}
    dry = structured(await mcp_client.call_tool("kafka_reset_offsets", args))
    assert dry["executed"] is False
    assert [(e["partition"], e["current"], e["planned"]) for e in dry["plan"]] == [(0, 5, 3), (2, 5, 3)]
    assert committed(admin, group) == {(topic, 0): 5, (topic, 1): 5, (topic, 2): 5}, "a dry run changes nothing"
    # A dry run is pure planning: it asks for no consent and leaves no audit line.
    assert dry["consent"] is None and "dry_run=false" in dry["note"]
    assert not audit_entries(settings, "kafka_reset_offsets")

    # Applying asks for consent first (a token on this dev cluster): the plan again, nothing changed yet.
    asked = structured(await mcp_client.call_tool("kafka_reset_offsets", {**args, "dry_run": False}))
    assert asked["executed"] is False and asked["plan"] == dry["plan"]
    assert asked["consent"]["mode"] == "token"
    assert committed(admin, group) == {(topic, 0): 5, (topic, 1): 5, (topic, 2): 5}
    token = asked["consent"]["confirmation_token"]
    done = structured(
        await mcp_client.call_tool("kafka_reset_offsets", {**args, "dry_run": False, "confirm_token": token})
    )
    assert done["executed"] is True
    assert committed(admin, group) == {(topic, 0): 3, (topic, 1): 5, (topic, 2): 3}
    decisions = [(e["decision"], e["error"]) for e in audit_entries(settings, "kafka_reset_offsets")]
    assert decisions == [("consent_requested", None), ("confirmed", None)]
    last = audit_entries(settings, "kafka_reset_offsets")[-1]
    assert last["resources"] == [group] and last["action"] == "group.offsets.reset"
    assert [(e["partition"], e["planned"]) for e in last["result"]] == [(0, 3), (2, 3)]

    # The token works once (a shift is relative: replaying it would move again, so it must be refused).
    assert_tool_error(
        await mcp_client.call_tool("kafka_reset_offsets", {**args, "dry_run": False, "confirm_token": token}),
        "unknown or was already used",
    )
    # Without a token, an apply call only returns the plan and a token.
    again = structured(await mcp_client.call_tool("kafka_reset_offsets", {**args, "dry_run": False}))
    assert again["executed"] is False and again["consent"]
    assert committed(admin, group)[(topic, 0)] == 3


async def test_reset_to_earliest_latest_offset_and_timestamp(
    mcp_client: Any, admin: Any, seeded: tuple[str, str]
) -> None:
    topic, group = seeded

    async def apply(**kw: Any) -> dict[str, Any]:
        args = {"group": group, "topic": topic, "dry_run": False, **kw}
        asked = structured(await mcp_client.call_tool("kafka_reset_offsets", args))
        token = asked["consent"]["confirmation_token"]
        result: dict[str, Any] = structured(
            await mcp_client.call_tool("kafka_reset_offsets", {**args, "confirm_token": token})
        )
        return result

    await apply(to="earliest")
    assert set(committed(admin, group).values()) == {0}
    await apply(to="latest")
    assert set(committed(admin, group).values()) == {10}
    await apply(to="offset", value=7, partitions=[1])
    assert committed(admin, group)[(topic, 1)] == 7
    await apply(to="timestamp", value=int(time.time() * 1000) - 3_600_000)
    assert set(committed(admin, group).values()) == {0}, "an hour ago is before every record"


async def test_reset_bad_input(mcp_client: Any, seeded: tuple[str, str]) -> None:
    topic, group = seeded
    base = {"group": group, "topic": topic}
    assert_tool_error(
        await mcp_client.call_tool("kafka_reset_offsets", {**base, "to": "shift", "value": -6}),
        "outside the log",
        "clamp",
    )
    clamped = structured(
        await mcp_client.call_tool("kafka_reset_offsets", {**base, "to": "shift", "value": -6, "clamp": True})
    )
    assert {e["planned"] for e in clamped["plan"]} == {0} and all(e["clamped"] for e in clamped["plan"])
    assert_tool_error(
        await mcp_client.call_tool("kafka_reset_offsets", {**base, "to": "offset", "value": 11}), "outside the log"
    )
    future = int(time.time() * 1000) + 86_400_000
    assert_tool_error(
        await mcp_client.call_tool("kafka_reset_offsets", {**base, "to": "timestamp", "value": future}), "future"
    )
    assert_tool_error(await mcp_client.call_tool("kafka_reset_offsets", {**base, "to": "offset"}), "needs a value")
    assert_tool_error(
        await mcp_client.call_tool("kafka_reset_offsets", {**base, "to": "earliest", "partitions": [9]}),
        "no partition",
    )
    assert_tool_error(
        await mcp_client.call_tool("kafka_reset_offsets", {**base, "group": unique("nope"), "to": "earliest"}),
        "does not exist",
    )
    assert_tool_error(
        await mcp_client.call_tool("kafka_reset_offsets", {**base, "topic": unique("nope"), "to": "earliest"}),
        "does not exist",
    )


async def test_active_group_is_refused_and_delete_group(
    mcp_client: Any, admin: Any, bootstrap: str, settings: Any
) -> None:
    from confluent_kafka import Consumer, TopicPartition

    topic, group = unique("active"), unique("active-g")
    create_topic(admin, topic, 1)
    fill(bootstrap, topic, {0: 4})
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False, "client.id": "busy"}
    )
    try:
        consumer.subscribe([topic])
        for _ in range(60):
            consumer.poll(0.5)
            if consumer.assignment():
                break
        assert consumer.assignment()
        consumer.commit(asynchronous=False, offsets=[TopicPartition(topic, 0, 2)])
        assert_tool_error(
            await mcp_client.call_tool("kafka_reset_offsets", {"group": group, "topic": topic, "to": "earliest"}),
            "active member",
            "busy@",
        )
        assert_tool_error(await mcp_client.call_tool("kafka_delete_consumer_group", {"group": group}), "active member")
        assert committed(admin, group) == {(topic, 0): 2}
    finally:
        consumer.close()

    preview = structured(await mcp_client.call_tool("kafka_delete_consumer_group", {"group": group}))
    assert preview["executed"] is False
    listed = admin.list_consumer_groups().result(15).valid
    assert group in {g.group_id for g in listed}, "the preview deletes nothing"
    token = preview["consent"]["confirmation_token"]
    done = structured(
        await mcp_client.call_tool("kafka_delete_consumer_group", {"group": group, "confirm_token": token})
    )
    assert done["executed"] is True and done["result"]["committed_partitions"] == 1
    listed = admin.list_consumer_groups().result(15).valid
    assert group not in {g.group_id for g in listed}
    assert_tool_error(await mcp_client.call_tool("kafka_delete_consumer_group", {"group": group}), "does not exist")
    entries = audit_entries(settings, "kafka_delete_consumer_group")
    assert [e["decision"] for e in entries] == ["consent_requested", "confirmed"]
    assert entries[-1]["resources"] == [group] and entries[-1]["action"] == "group.delete"
    assert entries[-1]["result"]["deleted"] is True and entries[-1]["requester"]


async def test_production_group_delete_waits_for_a_persons_approval(admin: Any, bootstrap: str, data_dir: Path) -> None:
    """On a production cluster the model gets no token: a person approves out of band, then the same call deletes."""
    from mcp import Client

    from core.gate import Gate
    from core.gate.approvals import decide
    from mcp_server.server import build_server

    settings = make_settings(bootstrap, data_dir, profile="production")
    topic, group = unique("prod"), unique("prod-g")
    create_topic(admin, topic, 1)
    fill(bootstrap, topic, {0: 3})
    commit(bootstrap, group, {(topic, 0): 2})
    async with Client(build_server(settings), raise_exceptions=False) as client:
        first = structured(await client.call_tool("kafka_delete_consumer_group", {"group": group}))
        assert first["executed"] is False and first["consent"]["mode"] == "approval"
        assert first["consent"]["confirmation_token"] is None
        approval_id = first["consent"]["approval_id"]
        # Asking again before anyone decided changes nothing and reuses the pending approval.
        again = structured(await client.call_tool("kafka_delete_consumer_group", {"group": group}))
        assert again["executed"] is False and again["consent"]["approval_id"] == approval_id
        assert group in {g.group_id for g in admin.list_consumer_groups().result(15).valid}

        person = Gate(settings)
        try:
            decide(person, approval_id, approve=True, by="test person")
            done = structured(
                await client.call_tool("kafka_delete_consumer_group", {"group": group, "confirm_token": approval_id})
            )
            assert done["executed"] is True and done["result"]["committed_partitions"] == 1
            assert group not in {g.group_id for g in admin.list_consumer_groups().result(15).valid}
            assert approval_id in {r.id for r in person.store.list(status="used")}, "an approval works once"
        finally:
            person.close()
    entries = audit_entries(settings, "kafka_delete_consumer_group")
    decisions = [(e["decision"], e.get("decided_by")) for e in entries if e["error"] is None]
    assert ("approved", "test person") in decisions
    assert decisions[-1] == ("approved", "test person")
