"""Stream applications on the real cluster through the MCP tools: the seed's windowed count, queries, stop, delete."""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import ClusterHandle, unique
from tests.helpers import assert_tool_error, structured
from tests.streams.helpers import create_topic, produce, read_all, read_audit, read_until

pytestmark = pytest.mark.anyio

FIVE_MIN = 300_000
# event times from an hour ago (aligned to 5 minutes): in the past, yet recent enough that retention keeps them
BASE_TS = (int(time.time() * 1000) - 3_600_000) // FIVE_MIN * FIVE_MIN


def seed_spec(name: str, source: str, sink: str) -> dict[str, Any]:
    """The seed's pattern: events counted per user_id in 5-minute tumbling windows."""
    return {
        "name": name,
        "source": {"topic": source},
        "aggregate": {
            "group_by": "value.user_id",
            "key_field": "user_id",
            # events arrive out of order across the three windows: a grace period keeps every one of them
            "window": {"type": "tumbling", "size_ms": FIVE_MIN, "grace_ms": 3 * FIVE_MIN},
        },
        "sink": {"topic": sink},
        # no record cache: every input record yields exactly one update, so the output is checkable record by record
        "properties": {"statestore.cache.max.bytes": "0", "commit.interval.ms": "200"},
    }


async def test_seed_windowed_counts_record_by_record(
    streams_client: Any, stream_settings: Any, kafka_cluster: ClusterHandle, admin: Any
) -> None:
    source, sink, name = unique("events"), unique("aggregated-events"), unique("seed")
    create_topic(admin, source, partitions=3)
    rng = random.Random(7)
    users = [f"user-{i}" for i in range(6)]
    events = []
    for i in range(240):
        user = rng.choice(users)
        ts = BASE_TS + rng.randrange(0, 3 * FIVE_MIN)
        events.append((f"e{i}", {"user_id": user, "action": "click"}, ts))
    # counted independently of the application
    expected = Counter((user["user_id"], BASE_TS + (ts - BASE_TS) // FIVE_MIN * FIVE_MIN) for _, user, ts in events)

    result = await streams_client.call_tool("kafka_stream_deploy", {"spec": seed_spec(name, source, sink)})
    deployed = structured(result)
    assert deployed["application"]["status"] == "running"
    assert deployed["sink_created"] is True
    assert deployed["health"]["state"] == "RUNNING"
    assert sink in admin.list_topics(timeout=10).topics

    produce(kafka_cluster.bootstrap_servers, source, events)
    records = read_until(kafka_cluster.bootstrap_servers, sink, lambda out: len(out) >= len(events))

    # record by record: each (user, window) sees the updates 1, 2, ..., n in order, and n is the true count
    updates: dict[tuple[str, int], list[int]] = defaultdict(list)
    for key, value in records:
        assert key == value["user_id"]
        assert value["window_end"] - value["window_start"] == FIVE_MIN
        updates[(key, value["window_start"])].append(value["count"])
    assert {k: len(v) for k, v in updates.items()} == dict(expected)
    for window, counts in updates.items():
        assert counts == list(range(1, expected[window] + 1)), window

    # the interactive query returns the same counts
    rows = structured(await streams_client.call_tool("kafka_stream_query", {"name": name}))["rows"]
    assert {(r["user_id"], r["window_start"]): r["count"] for r in rows} == dict(expected)
    one = structured(
        await streams_client.call_tool(
            "kafka_stream_query",
            {
                "name": name,
                "key": "user-1",
                "time_from": datetime.fromtimestamp((BASE_TS + FIVE_MIN) / 1000, UTC).isoformat(),
                "time_to": BASE_TS + FIVE_MIN,
            },
        )
    )["rows"]
    assert [(r["window_start"], r["count"]) for r in one] == [
        (BASE_TS + FIVE_MIN, expected[("user-1", BASE_TS + FIVE_MIN)])
    ]

    status = structured(await streams_client.call_tool("kafka_stream_status", {"name": name}))
    assert status["health"]["state"] == "RUNNING"
    assert status["metrics"]["records_in"] == len(events)
    assert status["metrics"]["records_out"] == len(events)
    listed = structured(await streams_client.call_tool("kafka_stream_list", {}))
    assert [(s["application"]["name"], s["state"]) for s in listed] == [(name, "RUNNING")]

    # a second deploy of a running application is refused
    assert_tool_error(
        await streams_client.call_tool("kafka_stream_deploy", {"spec": seed_spec(name, source, sink)}),
        "already running",
    )

    # delete: consent first, then internal topics and the group go; the sink stays
    internal = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"ksa-{name}-")]
    assert any(t.endswith("-repartition") for t in internal) and any(t.endswith("-changelog") for t in internal)
    first = structured(await streams_client.call_tool("kafka_stream_delete", {"name": name}))
    assert first["executed"] is False
    token = first["consent"]["confirmation_token"]
    done = structured(await streams_client.call_tool("kafka_stream_delete", {"name": name, "confirm_token": token}))
    assert done["executed"] is True
    assert sorted(done["cleanup"]["deleted_topics"]) == sorted(internal)
    remaining = admin.list_topics(timeout=10).topics
    assert not [t for t in remaining if t.startswith(f"ksa-{name}-")]
    assert sink in remaining
    assert structured(await streams_client.call_tool("kafka_stream_list", {})) == []
    # every committed output record was read above; nothing more appeared
    assert len(read_all(kafka_cluster.bootstrap_servers, sink)) == len(events)

    # the audit log: the sink topic and the application as changes of their own, the deletion with every resource
    audit = read_audit(stream_settings)
    sink_lines = [e for e in audit if e["action"] == "topic.create" and e["resources"] == [sink]]
    assert [(e["tool"], e["decision"], e["error"]) for e in sink_lines] == [("kafka_stream_deploy", "allowed", None)]
    deploys = [e for e in audit if e["action"] == "stream.deploy" and e["resources"] == [name]]
    assert [e["decision"] for e in deploys] == ["allowed", "allowed"]  # the second one failed: already running
    assert deploys[0]["error"] is None and "already running" in deploys[1]["error"]
    deletes = [e for e in audit if e["action"] == "stream.delete"]
    assert [e["decision"] for e in deletes] == ["consent_requested", "confirmed"]
    assert deletes[1]["resources"] == [name, *sorted(internal), f"ksa-{name}"] and deletes[1]["error"] is None


async def test_dry_run_describes_without_changes(streams_client: Any, admin: Any) -> None:
    source, sink = unique("events"), unique("out")
    create_topic(admin, source)
    spec = seed_spec(unique("dry"), source, sink)
    spec["steps"] = [{"op": "filter", "expr": "value.action == 'click'"}]
    out = structured(await streams_client.call_tool("kafka_stream_deploy", {"spec": spec, "dry_run": True}))
    assert out["dry_run"] is True
    assert "KSTREAM-SOURCE" in out["topology"] and source in out["topology"]
    assert out["plan"]["sink_exists"] is False and out["plan"]["input_topics"] == {source: 1}
    assert sink not in admin.list_topics(timeout=10).topics
    assert structured(await streams_client.call_tool("kafka_stream_list", {})) == []


async def test_bad_specs_are_refused_with_the_reason(streams_client: Any, admin: Any) -> None:
    source = unique("events")
    create_topic(admin, source)
    spec = seed_spec(unique("bad"), source, unique("out"))
    spec["steps"] = [{"op": "filter", "expr": "value.tags.exists(t, t == 'x')"}]
    assert_tool_error(await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}), "exists()", "subset")
    spec = seed_spec(unique("bad"), unique("missing"), unique("out"))
    assert_tool_error(await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}), "does not exist")
    spec = seed_spec(unique("bad"), source, unique("out"))
    del spec["aggregate"]["window"]
    spec["aggregate"]["emit"] = "final"
    assert_tool_error(await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}), "needs a window")
    assert_tool_error(await streams_client.call_tool("kafka_stream_status", {"name": "nope"}), "no stream application")
    # a protected sink topic is refused before anything starts (here an existing one: no topic is created)
    spec = seed_spec(unique("bad"), source, "_schemas")
    assert_tool_error(await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}), "protected", "_schemas")
    assert structured(await streams_client.call_tool("kafka_stream_list", {})) == []
