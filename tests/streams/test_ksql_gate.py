"""kafka_ksql through the gate on the real cluster: a batch is planned whole before anything runs, every change it
makes is a change on the real resource (protected topics refused, policies applied, one audit line each), and the
destructive ones need one consent for the batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import assert_tool_error, structured
from tests.streams.helpers import create_topic, produce, read_audit, topics_of, wait_gone

pytestmark = pytest.mark.anyio


@pytest.fixture
def guarded_settings(kafka_cluster: ClusterHandle, data_dir: Path) -> Any:
    """A dev cluster whose topics starting with 'prot-' are protected."""
    return make_settings(kafka_cluster.bootstrap_servers, data_dir, protected_topics_pattern=r"^prot-")


@pytest.fixture
async def client(guarded_settings: Any) -> AsyncIterator[Any]:
    from mcp import Client

    from mcp_server.server import build_server

    async with Client(build_server(guarded_settings), raise_exceptions=False) as c:
        yield c


async def ksql(client: Any, text: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = structured(await client.call_tool("kafka_ksql", {"sql": text, **extra}))
    return out


async def stream_names(client: Any) -> set[str]:
    shown = (await ksql(client, "SHOW STREAMS;"))["results"][0]["streams"]
    return {s["name"] for s in shown}


async def test_drop_delete_topic_of_a_protected_topic_is_refused(
    client: Any, guarded_settings: Any, admin: Any
) -> None:
    topic = unique("prot-pageviews")
    name = f"PROT_{unique('s').replace('-', '_').upper()}"
    create_topic(admin, topic)
    # declaring a stream over an existing topic changes no real resource: no consent, no gate
    await ksql(client, f"CREATE STREAM {name} (user_id VARCHAR) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');")

    text = assert_tool_error(
        await client.call_tool("kafka_ksql", {"sql": f"DROP STREAM {name} DELETE TOPIC;"}), "protected", topic
    )
    assert "confirm" not in text.lower()  # refused before any consent was asked
    assert topic in topics_of(admin)
    assert name in await stream_names(client)  # nothing was dropped, not even the catalog entry
    audit = read_audit(guarded_settings)
    refused = [e for e in audit if e["action"] == "topic.delete" and e["resources"] == [topic]]
    assert [e["decision"] for e in refused] == ["refused"]
    assert refused[0]["tool"] == "kafka_ksql" and "protected" in refused[0]["error"]
    assert not [e for e in audit if e["decision"] in ("consent_requested", "confirmed")]

    # a CREATE ... WITH (PARTITIONS=n) of a missing protected topic is refused like any topic creation
    other = unique("prot-new")
    assert_tool_error(
        await client.call_tool(
            "kafka_ksql",
            {"sql": f"CREATE STREAM X_{name} (a INT) WITH (KAFKA_TOPIC='{other}', PARTITIONS=1);"},
        ),
        "protected",
    )
    assert other not in topics_of(admin)
    assert f"X_{name}" not in await stream_names(client)


async def test_drop_delete_topic_with_consent_deletes_the_real_topic_and_audits_it(
    client: Any, guarded_settings: Any, kafka_cluster: ClusterHandle, admin: Any
) -> None:
    topic = unique("pageviews")
    name = f"PV_{unique('s').replace('-', '_').upper()}"
    created = await ksql(
        client,
        f"CREATE STREAM {name} (user_id VARCHAR) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=2);",
    )
    assert created["executed"] is True
    assert topic in topics_of(admin)
    produce(kafka_cluster.bootstrap_servers, topic, [(f"k{i}", {"user_id": f"u{i}"}, 0) for i in range(7)])

    drop = f"DROP STREAM {name} DELETE TOPIC;"
    first = await ksql(client, drop)
    assert first["executed"] is False
    consent = first["consent"]
    assert consent["mode"] == "token" and consent["confirmation_token"]
    assert f"delete topic '{topic}' (2 partition(s), ~7 record(s))" in consent["effect"]
    assert topic in topics_of(admin) and name in await stream_names(client)

    # the token is bound to the exact SQL: another batch with the same drop cannot use it (and spends it)
    other = {"sql": f"DROP STREAM {name} DELETE TOPIC; SHOW STREAMS;", "confirm_token": consent["confirmation_token"]}
    assert_tool_error(await client.call_tool("kafka_ksql", other), "different arguments")
    assert topic in topics_of(admin)
    token = (await ksql(client, drop))["consent"]["confirmation_token"]
    done = await ksql(client, drop, confirm_token=token)
    assert done["executed"] is True
    assert "was dropped" in done["results"][0]["commandStatus"]["message"]
    assert wait_gone(admin, topic)
    assert name not in await stream_names(client)

    audit = read_audit(guarded_settings)
    created_lines = [e for e in audit if e["action"] == "topic.create" and e["resources"] == [topic]]
    assert [(e["decision"], e["error"]) for e in created_lines] == [("allowed", None)]
    assert created_lines[0]["result"]["partitions"] == 2
    deleted = [e for e in audit if e["action"] == "topic.delete" and e["resources"] == [topic]]
    assert len(deleted) == 1
    line = deleted[0]
    assert line["tool"] == "kafka_ksql" and line["decision"] == "confirmed" and line["error"] is None
    assert line["result"] == {"topic": topic, "partitions": 2, "messages": 7, "deleted": True}
    assert line["arguments"] == {"statement": drop.rstrip(";")}
    batch = [e for e in audit if e["action"] == "ksql.batch" and e["arguments"] == {"sql": drop}]
    assert [e["decision"] for e in batch] == ["consent_requested", "consent_requested", "confirmed"]
    assert batch[0]["resources"] == [topic] and batch[-1]["error"] is None
    assert batch[-1]["requester"] == line["requester"]


async def test_a_batch_with_a_bad_statement_runs_nothing(client: Any, guarded_settings: Any, admin: Any) -> None:
    tag = unique("b").replace("-", "_").upper()
    for bad, message in (
        (f"CREATE STREAM B_{tag} AS SELECT * FROM NOPE_{tag};", "does not exist"),
        ("CREATE STREAM y AS SELECT EXPLODE(ARRAY[1]) FROM z;", "EXPLODE"),
    ):
        topic = unique("batch")
        text = (
            f"CREATE STREAM A_{tag} (user_id VARCHAR) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1); "
            + bad
        )
        assert_tool_error(await client.call_tool("kafka_ksql", {"sql": text}), message)
        assert topic not in topics_of(admin)
        assert f"A_{tag}" not in await stream_names(client)
        assert not [e for e in read_audit(guarded_settings) if topic in e["resources"]]


async def test_a_batch_whose_second_query_does_not_check_starts_nothing(
    client: Any, guarded_settings: Any, admin: Any
) -> None:
    """The reproduction: CREATE STREAM a AS ...; CREATE STREAM b AS SELECT nosuch ...; ran the first statement (its
    topic, its runner, its catalog entry) and returned only the second's error."""
    tag = unique("h").replace("-", "_").upper()
    topic = unique("half")
    create_topic(admin, topic)
    await ksql(client, f"CREATE STREAM SRC_{tag} (user_id VARCHAR, n INT) WITH (KAFKA_TOPIC='{topic}');")
    batch = (
        f"CREATE STREAM A_{tag} AS SELECT user_id, n FROM SRC_{tag}; "
        f"CREATE STREAM B_{tag} AS SELECT nosuch, n FROM SRC_{tag};"
    )
    assert_tool_error(await client.call_tool("kafka_ksql", {"sql": batch}), "'NOSUCH' cannot be resolved")
    assert f"A_{tag}" not in topics_of(admin)  # no sink topic
    assert {f"A_{tag}", f"B_{tag}"}.isdisjoint(await stream_names(client))  # no catalog entry
    queries = (await ksql(client, "SHOW QUERIES;"))["results"][0]["queries"]
    assert not [q for q in queries if tag in q["id"]]  # no runner
    apps = structured(await client.call_tool("kafka_stream_list", {}))
    assert not [a for a in apps if tag.lower() in a["application"]["name"]]
    assert not [e for e in read_audit(guarded_settings) if e["action"] in ("stream.deploy", "topic.create")]
