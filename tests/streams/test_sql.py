"""Streaming SQL: statements compile to the expected specs, types are checked at CREATE as ksqlDB checks them,
unsupported syntax is named, and the statements produce the right output on the real cluster through kafka_ksql."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from streams import sql as q
from streams.ksql_engine import KsqlEngine
from tests.conftest import ClusterHandle, unique
from tests.helpers import assert_tool_error, structured
from tests.streams.helpers import produce, read_audit, read_until
from tests.streams.ksql_corpus import MemoryBackend, RecordingApplier

pytestmark = pytest.mark.anyio

SOURCES = (
    "CREATE STREAM PAGEVIEWS (USER_ID VARCHAR, PAGE VARCHAR, MS INT, VIEWTIME BIGINT) "
    "WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON');"
    "CREATE TABLE USERS (ID VARCHAR PRIMARY KEY, COUNTRY VARCHAR) WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON');"
)


def plan(text: str, tmp: Path) -> dict[str, Any]:
    engine = KsqlEngine(tmp / unique("catalog"), MemoryBackend())
    engine.execute(SOURCES, RecordingApplier())
    specs = [c.spec for c in engine.plan(text) if c.spec is not None]
    assert len(specs) == 1
    return specs[0].model_dump(exclude_none=True)


def test_windowed_ctas_compiles_to_a_typed_spec(tmp_path: Path) -> None:
    spec = plan(
        "CREATE TABLE COUNTS WITH (KAFKA_TOPIC='aggregated-events', PARTITIONS=3) AS "
        "SELECT user_id, COUNT(*) AS events, AVG(ms) AS mean_ms, SUM(viewtime) AS total FROM pageviews "
        "WHERE page <> 'health' WINDOW TUMBLING (SIZE 5 MINUTES, GRACE PERIOD 30 SECONDS) GROUP BY user_id EMIT FINAL;",
        tmp_path,
    )
    assert spec["name"].startswith("ksql-ctas_counts_")
    assert spec["source"]["columns"][0] == {"name": "USER_ID", "type": "STRING", "key": False}
    assert spec["steps"] == [{"op": "filter", "expr": {"sql": ["cmp", "<>", ["col", "PAGE"], ["lit", "health"]]}}]
    agg = spec["aggregate"]
    assert agg["group_by"] == {"sql": ["col", "USER_ID"]}
    assert agg["window"] == {"type": "tumbling", "size_ms": 300_000, "grace_ms": 30_000}
    assert [(a["op"], a["type"]) for a in agg["aggregations"]] == [
        ("count", "BIGINT"),
        ("avg", "DOUBLE"),
        ("sum", "BIGINT"),  # SUM of a BIGINT is a BIGINT, as in ksqlDB
    ]
    assert agg["emit"] == "final" and agg.get("key_field") is None
    assert list(agg["select"]) == ["EVENTS", "MEAN_MS", "TOTAL", "WINDOWSTART", "WINDOWEND"]
    assert spec["sink"]["topic"] == "aggregated-events" and spec["sink"]["partitions"] == 3
    assert spec["start_from"] == "latest"  # ksqlDB's default for new queries


def test_windows_without_grace_follow_ksqldbs_documented_default(tmp_path: Path) -> None:
    spec = plan(
        "CREATE TABLE H AS SELECT page, COUNT(*) FROM pageviews WINDOW HOPPING (SIZE 30 SECONDS, ADVANCE BY 10 SECONDS)"
        " GROUP BY page;",
        tmp_path,
    )
    assert spec["aggregate"]["window"] == {
        "type": "hopping",
        "size_ms": 30_000,
        "advance_ms": 10_000,
        "grace_ms": 86_400_000,  # "uses a default of 24 hours when no grace period is specified"
    }


def test_joins_with_unaliased_qualified_columns_compile(tmp_path: Path) -> None:
    spec = plan(
        "CREATE STREAM ENRICHED AS SELECT users.id AS user_id, page, country FROM pageviews "
        "LEFT JOIN users ON pageviews.user_id = users.id WHERE users.country = 'NL';",
        tmp_path,
    )
    assert spec["steps"] == [{"op": "set_key", "expr": {"sql": ["col", "USER_ID"]}}]
    assert spec["join"]["kind"] == "table" and spec["join"]["type"] == "left"
    assert spec["post_steps"][0] == {
        "op": "filter",
        "expr": {"sql": ["cmp", "=", ["col", "USERS.COUNTRY"], ["lit", "NL"]]},
    }
    assert spec["post_steps"][1]["fields"] == {
        "PAGE": {"sql": ["col", "PAGEVIEWS.PAGE"]},
        "COUNTRY": {"sql": ["col", "USERS.COUNTRY"]},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "CREATE STREAM T AS SELECT * FROM pageviews WHERE viewtime > 'abc';",
            "Cannot compare VIEWTIME (BIGINT) to 'abc' (STRING) with GREATER_THAN",
        ),
        ("CREATE STREAM T AS SELECT * FROM pageviews WHERE ms + 1;", "Should evaluate to boolean"),
        ("CREATE STREAM T AS SELECT nosuch FROM pageviews;", "Column 'NOSUCH' cannot be resolved"),
        ("CREATE STREAM T AS SELECT UCASE(ms) FROM pageviews;", "does not accept parameters (INTEGER)"),
        ("CREATE STREAM T AS SELECT page + 1 FROM pageviews;", "Unsupported arithmetic types"),
        (
            "CREATE STREAM T AS SELECT CASE WHEN ms > 1 THEN 'a' ELSE 2 END FROM pageviews;",
            "Invalid Case expression",
        ),
        ("CREATE TABLE T AS SELECT COUNT(*) FROM pageviews GROUP BY user_id;", "Key missing from projection"),
        (
            "CREATE TABLE T AS SELECT user_id, page, COUNT(*) FROM pageviews GROUP BY user_id;",
            "not part of GROUP BY: PAGE",
        ),
    ],
)
def test_types_are_checked_at_create(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(q.SqlError) as info:
        plan(text, tmp_path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("CREATE STREAM T AS SELECT * FROM pageviews p FULL OUTER JOIN users u ON p.user_id = u.id;", "FULL OUTER"),
        ("CREATE STREAM T AS SELECT EXPLODE(ARRAY[1, 2]) FROM pageviews;", "EXPLODE"),
        ("CREATE OR REPLACE STREAM T AS SELECT * FROM pageviews;", "CREATE OR REPLACE"),
        ("CREATE SINK CONNECTOR c WITH ('a'='b');", "connectors"),
        ("CREATE TABLE T AS SELECT country, COUNT(*) FROM users GROUP BY country;", "reading the TABLE"),
    ],
)
def test_unsupported_syntax_names_the_construct(text: str, construct: str, tmp_path: Path) -> None:
    with pytest.raises(q.SqlError) as info:
        plan(text, tmp_path)
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
        f"CREATE STREAM {home} WITH (KAFKA_TOPIC='{home_topic}') AS SELECT user_id, UCASE(page) AS page FROM {pv} "
        "WHERE page = 'home' PARTITION BY user_id;"
    )
    assert [r["commandStatus"]["message"].split(" ID ")[0] for r in made["results"]] == ["Created query with"] * 2

    now = int(time.time() * 1000)
    pages = ["home", "cart", "ignore", "home", "buy"]
    events = [(f"k{i}", {"user_id": f"u{i % 3}", "page": pages[i % 5]}, now + i) for i in range(60)]
    produce(kafka_cluster.bootstrap_servers, topic, events)
    expected = Counter(v["user_id"] for _, v, _ in events if v["page"] != "ignore")

    latest: dict[str, int] = {}

    def counted(out: list[tuple[str, Any]]) -> bool:
        latest.update({k: v["VIEWS"] for k, v in out})
        return latest == dict(expected)

    read_until(kafka_cluster.bootstrap_servers, counts_topic, counted)
    assert latest == dict(expected)
    homes = read_until(kafka_cluster.bootstrap_servers, home_topic, lambda out: len(out) >= 24)
    # the key is the PARTITION BY column; the value holds the other columns, named as ksqlDB names them
    assert len(homes) == 24 and all(v == {"PAGE": "HOME"} and k.startswith("u") for k, v in homes)

    pull = (await ksql(f"SELECT * FROM {counts} WHERE user_id = 'u1';"))["query"]
    assert pull["column_names"] == ["USER_ID", "VIEWS"]
    assert pull["rows"] == [["u1", expected["u1"]]]
    everything = (await ksql(f"SELECT user_id, views * 10 AS tens FROM {counts};"))["query"]
    assert sorted(map(tuple, everything["rows"])) == sorted((u, n * 10) for u, n in expected.items())

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
    assert dropped["results"][0]["warnings"] == []  # the group and the internal topics went too
    assert_tool_error(
        await streams_client.call_tool("kafka_ksql", {"sql": f"SELECT * FROM {counts};"}), "does not exist"
    )

    # every change on a real resource has its own audit line with its outcome
    audit = [e for e in read_audit(stream_settings) if e["tool"] == "kafka_ksql"]
    created_topics = [e["resources"][0] for e in audit if e["action"] == "topic.create" and e["decision"] == "allowed"]
    assert created_topics == [topic, counts_topic, home_topic]
    deployed = [(e["resources"][0].split("_")[0], e["error"]) for e in audit if e["action"] == "stream.deploy"]
    assert deployed == [("ksql-ctas", None), ("ksql-csas", None)]
    deleted = [e for e in audit if e["action"] == "stream.delete"]
    assert len(deleted) == 1 and deleted[0]["decision"] == "confirmed" and deleted[0]["error"] is None
    app = deleted[0]["resources"][0]
    assert app.startswith(f"ksql-ctas_{counts.lower()}_") and deleted[0]["resources"][-1] == f"ksa-{app}"
    internal = deleted[0]["resources"][1:-1]
    assert internal and all(t.startswith(f"ksa-{app}-") for t in internal)
    assert sorted(deleted[0]["result"]["deleted_topics"]) == sorted(internal)
    assert deleted[0]["result"]["group_deleted"] is True and deleted[0]["result"]["complete"] is True
