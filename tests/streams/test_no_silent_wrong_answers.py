"""The reproductions of issue 21 on the real cluster, as tests:

- a HOPPING window without GRACE PERIOD over records that reach the window out of order (after the repartition by
  the GROUP BY column) counts every record: ksqlDB's documented 24-hour default, not 0; with GRACE PERIOD 0 the late
  records are counted as late and every result says so;
- a type error (BIGINT vs STRING) is refused at CREATE; a spec filter that is not a boolean is refused at deploy, and
  one that is not a boolean for some records counts them as failed and warns;
- DROP deletes the query's group and internal topics, and re-creating the same name starts clean (every record
  counted again, not 0 rows from the old offsets); a deletion that cannot delete the group says exactly what is left,
  and a new application refuses to start on that old state.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import pytest

from tests.conftest import ClusterHandle, unique
from tests.helpers import assert_tool_error, structured
from tests.streams.helpers import create_topic, produce, read_until

pytestmark = pytest.mark.anyio

SIZE, ADVANCE = 30_000, 10_000
BASE = (int(time.time() * 1000) - 3_600_000) // SIZE * SIZE


def hopping_windows(ts: int) -> list[int]:
    """The window starts of a 30 s window advancing by 10 s that hold ``ts`` (start inclusive, end exclusive)."""
    first = (ts - SIZE) // ADVANCE * ADVANCE + ADVANCE
    return [s for s in range(max(0, first), ts + 1, ADVANCE) if s <= ts < s + SIZE]


async def ksql(client: Any, text: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = structured(await client.call_tool("kafka_ksql", {"sql": text, **extra}))
    return out


async def wait_rows(client: Any, sql: str, expected: dict[Any, int], key: Any, *, wait_s: float = 120) -> Any:
    """Pull-query until the rows equal ``expected`` (or the time is up); the last answer."""
    deadline = time.monotonic() + wait_s
    answer: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = (await ksql(client, sql))["query"]
        if {key(r): r[-1] for r in answer["rows"]} == expected:
            return answer
        await asyncio.sleep(1)
    return answer


async def test_windows_count_every_out_of_order_record_and_re_creating_starts_clean(
    streams_client: Any, stream_settings: Any, kafka_cluster: ClusterHandle, admin: Any
) -> None:
    tag = unique("w").replace("-", "_").upper()
    topic = unique("clicks")
    create_topic(admin, topic, partitions=3)
    rng = random.Random(21)
    events = []
    for i in range(900):
        # keyed by event (spread over 3 partitions), grouped by user: the repartition interleaves the partitions, so
        # each user's records reach its window out of order, up to ~40 s late
        ts = BASE + rng.randrange(0, 240_000)
        events.append((f"e{i}", {"user": f"user-{i % 7}", "ts": ts}, ts))
    events.sort(key=lambda e: (int(e[0][1:]) % 3, e[2]))  # in time order within each partition, not across them
    expected: Counter[tuple[str, int]] = Counter()
    for _, value, ts in events:
        for start in hopping_windows(ts):
            expected[(value["user"], start)] += 1

    await ksql(
        streams_client,
        f"CREATE STREAM CLICKS_{tag} (user VARCHAR, ts BIGINT) WITH (KAFKA_TOPIC='{topic}', TIMESTAMP='ts');",
    )
    create = (
        f"CREATE TABLE HOPS_{tag} AS SELECT user, COUNT(*) AS n FROM CLICKS_{tag} "
        "WINDOW HOPPING (SIZE 30 SECONDS, ADVANCE BY 10 SECONDS) GROUP BY user;"
    )
    made = await ksql(streams_client, create, properties={"auto.offset.reset": "earliest"})
    notes = [w["message"] for w in made["results"][0]["warnings"]]
    assert any("24 hours" in n for n in notes), notes  # the default is said, not silent
    strict = await ksql(
        streams_client,
        f"CREATE TABLE STRICT_{tag} AS SELECT user, COUNT(*) AS n FROM CLICKS_{tag} "
        "WINDOW HOPPING (SIZE 30 SECONDS, ADVANCE BY 10 SECONDS, GRACE PERIOD 0 SECONDS) GROUP BY user;",
        properties={"auto.offset.reset": "earliest"},
    )
    assert strict["results"][0]["warnings"] == []
    produce(kafka_cluster.bootstrap_servers, topic, events)

    pull = f"SELECT user, WINDOWSTART, n FROM HOPS_{tag};"
    answer = await wait_rows(streams_client, pull, dict(expected), lambda r: (r[0], r[1]))
    got = {(r[0], r[1]): r[2] for r in answer["rows"]}
    assert got == dict(expected), f"{sum(got.get(k) != v for k, v in expected.items())} windows differ"
    assert answer["warnings"] == []
    status = structured(await streams_client.call_tool("kafka_stream_status", {"name": _app(made)}))
    assert status["metrics"]["late_records"] == 0 and status["metrics"]["failed_records"] == 0
    assert status["warnings"] == []

    # with GRACE PERIOD 0 the same records are late: counted as such, and every answer warns
    strict_status: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        strict_status = structured(await streams_client.call_tool("kafka_stream_status", {"name": _app(strict)}))
        if (strict_status["metrics"] or {}).get("records_in") == len(events):
            break
        await asyncio.sleep(1)
    late = strict_status["metrics"]["late_records"]
    assert late > 0 and any("grace period" in w for w in strict_status["warnings"])
    strict_rows = (await ksql(streams_client, f"SELECT user, n FROM STRICT_{tag};"))["query"]
    assert any(f"{late} record(s) came after" in w for w in strict_rows["warnings"])

    # DROP removes the group and the internal topics; the same name again starts clean and counts everything
    app = _app(made)
    token = (await ksql(streams_client, f"DROP TABLE HOPS_{tag};"))["consent"]["confirmation_token"]
    dropped = await ksql(streams_client, f"DROP TABLE HOPS_{tag};", confirm_token=token)
    assert dropped["results"][0]["warnings"] == []
    groups = {g.group_id for g in admin.list_consumer_groups().result(timeout=10).valid}
    assert f"ksa-{app}" not in groups
    assert not [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"ksa-{app}-")]
    again = await ksql(streams_client, create, properties={"auto.offset.reset": "earliest"})
    assert _app(again) != app  # a new query id: a new application, nothing carried over
    answer = await wait_rows(streams_client, pull, dict(expected), lambda r: (r[0], r[1]))
    assert {(r[0], r[1]): r[2] for r in answer["rows"]} == dict(expected)
    again_status = structured(await streams_client.call_tool("kafka_stream_status", {"name": _app(again)}))
    assert again_status["metrics"]["records_in"] == len(events)

    # types are checked at CREATE, as ksqlDB checks them
    assert_tool_error(
        await streams_client.call_tool(
            "kafka_ksql", {"sql": f"CREATE STREAM BAD_{tag} AS SELECT * FROM CLICKS_{tag} WHERE ts > 'abc';"}
        ),
        "Cannot compare TS (BIGINT) to 'abc' (STRING) with GREATER_THAN",
    )


def _app(created: dict[str, Any]) -> str:
    query_id = created["results"][0]["commandStatus"]["message"].rsplit(" ", 1)[1]
    return f"ksql-{query_id.lower()}"


async def test_filters_must_be_conditions_and_leftovers_are_named(
    streams_client: Any, stream_settings: Any, kafka_cluster: ClusterHandle, admin: Any
) -> None:
    from confluent_kafka import Consumer

    source, sink, name = unique("amounts"), unique("big"), unique("flt")
    create_topic(admin, source)
    spec: dict[str, Any] = {
        "name": name,
        "source": {"topic": source},
        "steps": [{"op": "filter", "expr": "value.amount + 1"}],
        "sink": {"topic": sink},
    }
    assert_tool_error(
        await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}), "not a condition (true or false)"
    )
    # a field that may be anything is checked per record: the records where it is not a boolean are failures
    spec["steps"] = [{"op": "filter", "expr": "value.flag"}]
    structured(await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}))
    records = [(f"k{i}", {"flag": i % 3 == 0 if i % 2 else i}, 0) for i in range(40)]
    produce(kafka_cluster.bootstrap_servers, source, records)
    kept = [r for r in records if r[1]["flag"] is True]
    read_until(kafka_cluster.bootstrap_servers, sink, lambda out: len(out) >= len(kept))
    status: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = structured(await streams_client.call_tool("kafka_stream_status", {"name": name}))
        if status["metrics"]["failed_records"] == 20:
            break
        await asyncio.sleep(0.5)
    assert status["metrics"]["failed_records"] == 20  # the even ones hold a number
    assert "not a boolean" in status["metrics"]["recent_failures"][-1]
    assert any("20 record(s) failed" in w for w in status["warnings"])

    # a member of the application's group that is not ours keeps the group from being deleted: the deletion says so
    structured(await streams_client.call_tool("kafka_stream_stop", {"name": name}))  # the runner leaves the group
    app_id = f"ksa-{name}"
    stranger = Consumer(
        {"bootstrap.servers": kafka_cluster.bootstrap_servers, "group.id": app_id, "session.timeout.ms": 60_000}
    )
    stranger.subscribe([source])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stranger.poll(0.2)
        desc = admin.describe_consumer_groups([app_id])[app_id].result(timeout=10)
        if [m.client_id for m in desc.members] == ["rdkafka"]:
            break
    try:
        token = structured(await streams_client.call_tool("kafka_stream_delete", {"name": name}))["consent"]
        done = structured(
            await streams_client.call_tool(
                "kafka_stream_delete", {"name": name, "confirm_token": token["confirmation_token"]}
            )
        )
        assert done["executed"] is True and done["complete"] is False
        [left] = done["remaining"]
        assert left.startswith(f"consumer group {app_id}") and "NON_EMPTY_GROUP" in left and "rdkafka" in left
        # a new application of that name would resume from the old offsets: refused, naming them
        assert_tool_error(
            await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}),
            "not instances of this application",
            "rdkafka",
        )
    finally:
        stranger.close()
    # once the stranger left, the old offsets are the only leftover: still refused unless resume=true
    assert_tool_error(await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}), "committed offsets")
    admin.delete_consumer_groups([app_id])[app_id].result(timeout=30)
    redeployed = structured(await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}))
    assert redeployed["note"] is None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = structured(await streams_client.call_tool("kafka_stream_status", {"name": name}))
        if status["metrics"]["records_in"] == len(records):
            break
        await asyncio.sleep(0.5)
    assert status["metrics"]["records_in"] == len(records)  # read from the start again: a clean start
