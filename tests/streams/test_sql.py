"""Streaming SQL: statements compile to the expected specs, unsupported syntax is named, and the statements produce
the right output on the real cluster through kafka_ksql."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from streams import sql as q
from streams.ksql_engine import Catalog, Column, Source, compile_create_as
from tests.conftest import ClusterHandle, unique
from tests.helpers import assert_tool_error, structured
from tests.streams.helpers import produce, read_audit, read_until

pytestmark = pytest.mark.anyio


def catalog() -> Catalog:
    cols = [Column(name="user_id", type="VARCHAR"), Column(name="page", type="VARCHAR"), Column(name="ms", type="INT")]
    users = [Column(name="id", type="VARCHAR", key=True), Column(name="country", type="VARCHAR")]
    return Catalog(
        sources={
            "PAGEVIEWS": Source(name="PAGEVIEWS", kind="STREAM", topic="pv", columns=cols),
            "USERS": Source(name="USERS", kind="TABLE", topic="users", columns=users),
        }
    )


def compile_sql(text: str) -> dict[str, Any]:
    stmt = q.parse(text)
    assert isinstance(stmt, q.CreateAs)
    return compile_create_as(stmt, catalog()).spec.model_dump(exclude_none=True)


def test_windowed_ctas_compiles_to_the_seed_spec() -> None:
    spec = compile_sql(
        "CREATE TABLE counts WITH (KAFKA_TOPIC='aggregated-events', PARTITIONS=3) AS "
        "SELECT user_id, COUNT(*) AS events, AVG(ms) AS mean_ms FROM pageviews WHERE page <> 'health' "
        "WINDOW TUMBLING (SIZE 5 MINUTES, GRACE PERIOD 30 SECONDS) GROUP BY user_id EMIT FINAL;"
    )
    assert spec["name"] == "ksql-counts"
    assert spec["source"] == {"topic": "pv", "value_format": "json"}
    assert spec["steps"] == [{"op": "filter", "expr": '(value.page != "health")'}]
    assert spec["aggregate"] == {
        "group_by": "value.user_id",
        "key_field": "user_id",
        "window": {"type": "tumbling", "size_ms": 300_000, "grace_ms": 30_000},
        "aggregations": [
            {"name": "events", "op": "count"},
            {"name": "mean_ms", "op": "avg", "expr": "value.ms"},
        ],
        "emit": "final",
    }
    assert spec["sink"] == {"topic": "aggregated-events", "value_format": "json", "partitions": 3}
    assert spec["processing_guarantee"] == "exactly_once_v2"


def test_hopping_session_csas_and_join_compile() -> None:
    hop = compile_sql(
        "CREATE TABLE h AS SELECT page, SUM(ms) AS total FROM pageviews "
        "WINDOW HOPPING (SIZE 10 MINUTES, ADVANCE BY 5 MINUTES) GROUP BY page;"
    )
    assert hop["aggregate"]["window"] == {"type": "hopping", "size_ms": 600_000, "advance_ms": 300_000}
    assert hop["aggregate"]["emit"] == "changes"
    session = compile_sql(
        "CREATE TABLE s AS SELECT user_id, MAX(ms) FROM pageviews WINDOW SESSION (30 SECONDS) GROUP BY user_id;"
    )
    assert session["aggregate"]["window"] == {"type": "session", "gap_ms": 30_000}
    assert session["aggregate"]["aggregations"] == [{"name": "KSQL_COL_1", "op": "max", "expr": "value.ms"}]
    csas = compile_sql(
        "CREATE STREAM slow AS SELECT user_id AS who, ms * 2 AS doubled FROM pageviews "
        "WHERE ms > 100 AND page IN ('a', 'b');"
    )
    assert csas["steps"] == [
        {"op": "filter", "expr": '((value.ms > 100) && (value.page in ["a", "b"]))'},
        {"op": "select", "fields": {"who": "value.user_id", "doubled": "(value.ms * 2)"}},
    ]
    join = compile_sql(
        "CREATE STREAM enriched AS SELECT p.user_id, p.page, u.country FROM pageviews p "
        "LEFT JOIN users u ON p.user_id = u.id EMIT CHANGES;"
    )
    assert join["steps"] == [{"op": "set_key", "expr": "value.user_id"}]
    assert join["join"] == {
        "kind": "table",
        "topic": "users",
        "type": "left",
        "value_format": "json",
        "select": {"user_id": "left.user_id", "page": "left.page", "country": "right.country"},
    }


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("CREATE TABLE t AS SELECT user_id, COUNT(*) FROM pageviews GROUP BY user_id HAVING COUNT(*) > 2;", "HAVING"),
        ("CREATE STREAM t AS SELECT * FROM pageviews PARTITION BY page;", "PARTITION BY"),
        ("CREATE STREAM t AS SELECT * FROM pageviews WHERE page LIKE 'a%';", "LIKE"),
        ("INSERT INTO pageviews SELECT * FROM other;", "INSERT"),
        ("CREATE STREAM t AS SELECT UCASE(page) FROM pageviews;", "function UCASE()"),
        ("CREATE STREAM t AS SELECT * FROM pageviews p FULL OUTER JOIN users u ON p.user_id = u.id;", "FULL OUTER"),
        ("CREATE TABLE t AS SELECT user_id, page, COUNT(*) FROM pageviews GROUP BY user_id, page;", "GROUP BY on more"),
        ("CREATE STREAM t AS SELECT CASE WHEN ms > 1 THEN 1 END FROM pageviews;", "CASE"),
        (
            "CREATE TABLE t AS SELECT a, COUNT(*) FROM pv WINDOW TUMBLING (SIZE 1 HOUR, RETENTION 2 DAYS) GROUP BY a;",
            "RETENTION",
        ),
    ],
)
def test_unsupported_syntax_names_the_construct(text: str, construct: str) -> None:
    with pytest.raises(q.SqlError) as info:
        stmt = q.parse(text)
        assert isinstance(stmt, q.CreateAs)
        compile_create_as(stmt, catalog())
    assert construct.lower() in str(info.value).lower()


async def test_sql_statements_on_the_real_cluster(
    streams_client: Any, stream_settings: Any, kafka_cluster: ClusterHandle, admin: Any
) -> None:
    tag = unique("s").replace("-", "_").upper()
    topic, counts_topic, home_topic = unique("pageviews"), unique("counts"), unique("home")
    pv, counts, home = f"PV_{tag}", f"COUNTS_{tag}", f"HOME_{tag}"

    async def ksql(text: str, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = structured(await streams_client.call_tool("kafka_ksql", {"sql": text, **extra}))
        return out

    created = await ksql(
        f"CREATE STREAM {pv} (user_id VARCHAR, page VARCHAR) "
        f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1);"
    )
    assert created["results"][0]["commandStatus"]["message"] == "Stream created"
    assert topic in admin.list_topics(timeout=10).topics
    made = await ksql(
        f"CREATE TABLE {counts} WITH (KAFKA_TOPIC='{counts_topic}') AS SELECT user_id, COUNT(*) AS views "
        f"FROM {pv} WHERE page <> 'ignore' GROUP BY user_id EMIT CHANGES; "
        f"CREATE STREAM {home} WITH (KAFKA_TOPIC='{home_topic}') AS SELECT user_id, page FROM {pv} "
        "WHERE page = 'home';"
    )
    assert [r["commandStatus"]["message"].split(" ID ")[0] for r in made["results"]] == ["Created query with"] * 2

    now = int(time.time() * 1000)
    pages = ["home", "cart", "ignore", "home", "buy"]
    events = [(f"k{i}", {"user_id": f"u{i % 3}", "page": pages[i % 5]}, now + i) for i in range(60)]
    produce(kafka_cluster.bootstrap_servers, topic, events)
    expected = Counter(v["user_id"] for _, v, _ in events if v["page"] != "ignore")

    latest: dict[str, int] = {}

    def counted(out: list[tuple[str, Any]]) -> bool:
        latest.update({k: v["views"] for k, v in out})
        return latest == dict(expected)

    read_until(kafka_cluster.bootstrap_servers, counts_topic, counted)
    assert latest == dict(expected)
    homes = read_until(kafka_cluster.bootstrap_servers, home_topic, lambda out: len(out) >= 24)
    assert len(homes) == 24 and all(v == {"user_id": v["user_id"], "page": "home"} for _, v in homes)

    pull = (await ksql(f"SELECT * FROM {counts} WHERE user_id = 'u1';"))["query"]
    assert pull["column_names"] == ["USER_ID", "VIEWS"]
    assert pull["rows"] == [["u1", expected["u1"]]]
    everything = (await ksql(f"SELECT user_id, views FROM {counts};"))["query"]
    assert sorted(map(tuple, everything["rows"])) == sorted(expected.items())

    push = await ksql(f"SELECT page, user_id FROM {pv} WHERE page = 'buy' EMIT CHANGES LIMIT 3;", from_beginning=True)
    assert push["query"]["rows"] == [["buy", "u1"], ["buy", "u0"], ["buy", "u2"]]

    shown = (await ksql("SHOW QUERIES;"))["results"][0]
    mine = {qq["sinks"][0]: qq["state"] for qq in shown["queries"]}
    assert mine == {counts: "RUNNING", home: "RUNNING"}
    streams = (await ksql("SHOW STREAMS;"))["results"][0]["streams"]
    assert {s["name"] for s in streams} == {pv, home}

    assert_tool_error(await streams_client.call_tool("kafka_ksql", {"sql": f"DROP STREAM {pv};"}), "read from it")
    first = await ksql(f"DROP TABLE {counts};")
    assert first["executed"] is False
    token = first["consent"]["confirmation_token"]
    dropped = await ksql(f"DROP TABLE {counts};", confirm_token=token)
    assert "was dropped" in dropped["results"][0]["commandStatus"]["message"]
    assert not [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"ksa-ksql-{counts.lower()}-")]
    assert_tool_error(
        await streams_client.call_tool("kafka_ksql", {"sql": f"SELECT * FROM {counts};"}), "does not exist"
    )

    # every change on a real resource has its own audit line with its outcome
    audit = [e for e in read_audit(stream_settings) if e["tool"] == "kafka_ksql"]
    created_topics = [e["resources"][0] for e in audit if e["action"] == "topic.create" and e["decision"] == "allowed"]
    assert created_topics == [topic, counts_topic, home_topic]
    deployed = [(e["resources"], e["error"]) for e in audit if e["action"] == "stream.deploy"]
    assert deployed == [([f"ksql-{counts.lower()}"], None), ([f"ksql-{home.lower()}"], None)]
    deleted = [e for e in audit if e["action"] == "stream.delete"]
    assert len(deleted) == 1 and deleted[0]["decision"] == "confirmed" and deleted[0]["error"] is None
    app_id = f"ksa-ksql-{counts.lower()}"
    assert deleted[0]["resources"][0] == f"ksql-{counts.lower()}" and deleted[0]["resources"][-1] == app_id
    internal = deleted[0]["resources"][1:-1]
    assert internal and all(t.startswith(f"{app_id}-") for t in internal)
    assert sorted(deleted[0]["result"]["deleted_topics"]) == sorted(internal)
    # the group is deleted, or the result says why not (a just-stopped Kafka Streams member stays until its session
    # times out)
    assert deleted[0]["result"]["group_deleted"] or deleted[0]["result"]["group_error"]
