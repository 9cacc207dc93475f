"""The ksqlDB-compatible REST facade (HTTP/1.1 and HTTP/2 cleartext, served by Hypercorn), exercised with curl and the
documented media types, with our ksqlDB REST client, with the two ksqlDB clients on PyPI (ksql-python-ng and
ksqldb), and through kafka_ksql on a cluster whose ksqldb_url points at the facade."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from streams.ksql_client import KsqlClient
from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import structured
from tests.streams.helpers import create_topic, produce, read_audit, read_until, topics_of, wait_gone

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_facade(settings: Any, *, allow_drop: bool = False, operator: str | None = None) -> Iterator[str]:
    """The facade on a real loopback port, served as `kafka-agent streams sql-server` serves it (Hypercorn: HTTP/1.1
    and HTTP/2 cleartext), in a thread, over ``settings``."""
    import asyncio

    import httpx

    from core.app import build_app_context
    from streams.ksql_facade import build_facade, serve

    app = build_app_context(settings, transport="ksql-facade")
    facade = build_facade(app, allow_drop=allow_drop, operator=operator)
    port = free_port()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        loop.run_until_complete(serve(facade, host="127.0.0.1", port=port, shutdown=stop.wait))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthcheck", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        app.close()


@pytest.fixture
def facade(stream_settings: Any) -> Iterator[str]:
    """The facade as `kafka-agent streams sql-server` starts it by default (no --allow-drop)."""
    with serve_facade(stream_settings) as url:
        yield url


def post_ksql(url: str, sql: str) -> tuple[int, Any]:
    import httpx

    resp = httpx.post(f"{url}/ksql", json={"ksql": sql, "streamsProperties": {}}, timeout=180)
    return resp.status_code, resp.json()


def execute(settings: Any, client: KsqlClient, sql: str) -> list[dict[str, Any]]:
    """Statements through our REST client, with a permit from a gate on ``settings`` (as kafka_ksql does)."""
    from core.gate import Change, Gate
    from streams.sql import split_statements

    gate = Gate(settings)
    change = Change(
        tool="test",
        cluster="local",
        action="ksql.execute",
        resource_type="statement",
        resources=split_statements(sql),
    )
    try:
        return gate.perform(change, lambda permit: client.execute(permit, sql))
    finally:
        gate.close()


def curl(*args: str) -> tuple[int, str]:
    proc = subprocess.run(
        ["curl", "-s", "-w", "\\n%{http_code}", *args], capture_output=True, text=True, timeout=60, check=False
    )
    body, _, code = proc.stdout.rpartition("\n")
    return int(code), body


def test_facade_with_curl_and_the_client(facade: str, kafka_cluster: ClusterHandle, stream_settings: Any) -> None:
    tag = unique("f").replace("-", "_").upper()
    topic, out_topic = unique("clicks"), unique("clicks-per-user")
    code, body = curl("-H", "Accept: application/vnd.ksql.v1+json", f"{facade}/info")
    assert code == 200 and json.loads(body)["KsqlServerInfo"]["serverStatus"] == "RUNNING"

    statement = (
        f"CREATE STREAM CLICKS_{tag} (user_id VARCHAR, n INT) "
        f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1);"
    )
    code, body = curl(
        "-X",
        "POST",
        "-H",
        "Content-Type: application/vnd.ksql.v1+json",
        "-H",
        "Accept: application/vnd.ksql.v1+json",
        "-d",
        json.dumps({"ksql": statement, "streamsProperties": {}}),
        f"{facade}/ksql",
    )
    assert code == 200, body
    entity = json.loads(body)[0]
    assert entity["@type"] == "currentStatus" and entity["commandStatus"]["status"] == "SUCCESS"
    code, body = curl(f"{facade}/status/{entity['commandId']}")
    assert code == 200 and json.loads(body)["status"] == "SUCCESS"

    client = KsqlClient(facade)
    created = execute(
        stream_settings,
        client,
        f"CREATE TABLE PER_USER_{tag} WITH (KAFKA_TOPIC='{out_topic}') AS "
        f"SELECT user_id, COUNT(*) AS clicks, SUM(n) AS total FROM CLICKS_{tag} GROUP BY user_id EMIT CHANGES;",
    )
    assert created[0]["commandStatus"]["message"].startswith("Created query with ID CTAS_PER_USER_")
    produce(kafka_cluster.bootstrap_servers, topic, [(f"k{i}", {"user_id": f"u{i % 2}", "n": i}, 0) for i in range(10)])
    read_until(kafka_cluster.bootstrap_servers, out_topic, lambda out: ("u1", 5) in [(k, v["CLICKS"]) for k, v in out])

    pull = client.query(f"SELECT * FROM PER_USER_{tag} WHERE user_id = 'u1';")
    assert pull["column_names"] == ["USER_ID", "CLICKS", "TOTAL"]
    assert pull["column_types"] == ["STRING", "BIGINT", "INTEGER"]  # SUM of an INT is an INT, as in ksqlDB
    assert pull["rows"] == [["u1", 5, 1 + 3 + 5 + 7 + 9]]

    # push query, delimited media type, with curl: header line, then one JSON array per row
    code, body = curl(
        "-X",
        "POST",
        "-H",
        "Accept: application/vnd.ksqlapi.delimited.v1",
        "-d",
        json.dumps(
            {
                "sql": f"SELECT user_id, n FROM CLICKS_{tag} WHERE n >= 7 EMIT CHANGES LIMIT 3;",
                "properties": {"auto.offset.reset": "earliest"},
            }
        ),
        f"{facade}/query-stream",
    )
    assert code == 200, body
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert lines[0]["columnNames"] == ["USER_ID", "N"] and lines[0]["queryId"]
    assert lines[1:] == [["u1", 7], ["u0", 8], ["u1", 9]]
    # the same as one JSON document
    code, body = curl(
        "-X",
        "POST",
        "-H",
        "Accept: application/json",
        "-d",
        json.dumps({"sql": f"SELECT * FROM PER_USER_{tag};"}),
        f"{facade}/query-stream",
    )
    doc = json.loads(body)
    assert doc[0]["columnNames"] == ["USER_ID", "CLICKS", "TOTAL"]
    assert sorted(doc[1:]) == [["u0", 5, 20], ["u1", 5, 25]]

    # /close-query ends a push query that has no LIMIT
    import httpx

    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", f"{facade}/query-stream", json={"sql": f"SELECT * FROM CLICKS_{tag} EMIT CHANGES;"}) as r,
    ):
        lines_iter = r.iter_lines()
        header = json.loads(next(lines_iter))
        closed = http.post(f"{facade}/close-query", json={"queryId": header["queryId"]})
        assert closed.status_code == 200
        assert [line for line in lines_iter if line.strip()] == []

    # errors: the construct named, DROP refused without --allow-drop, unknown source
    code, body = curl(
        "-X", "POST", "-d", json.dumps({"ksql": "CREATE STREAM x AS SELECT EXPLODE(a) FROM y;"}), f"{facade}/ksql"
    )
    assert code == 400 and "EXPLODE" in json.loads(body)["message"]
    code, body = curl("-X", "POST", "-d", json.dumps({"ksql": f"DROP TABLE PER_USER_{tag};"}), f"{facade}/ksql")
    assert code == 403 and "--allow-drop" in json.loads(body)["message"]
    code, body = curl("-X", "POST", "-d", json.dumps({"sql": "SELECT * FROM NOPE;"}), f"{facade}/query-stream")
    assert code == 400 and "does not exist" in json.loads(body)["message"]


async def test_kafka_ksql_uses_a_configured_ksqldb_server(
    stream_settings: Any, kafka_cluster: ClusterHandle, data_dir: Path, admin: Any
) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    clusters = data_dir / "clusters.yaml"
    with serve_facade(stream_settings, allow_drop=True, operator="test operator") as facade:
        clusters.write_text(
            f"clusters:\n  remote:\n    bootstrap_servers: {kafka_cluster.bootstrap_servers}\n"
            f"    ksqldb_url: {facade}\n"
        )
        settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, clusters_file=clusters)
        topic, name = unique("remote"), f"R_{unique('r').replace('-', '_').upper()}"
        create = f"CREATE STREAM {name} (a INT) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1);"
        drop = f"DROP STREAM {name} DELETE TOPIC;"
        async with Client(build_server(settings), raise_exceptions=False) as client:
            out = structured(await client.call_tool("kafka_ksql", {"sql": "SHOW STREAMS;"}))
            assert out["engine"] == facade
            assert out["results"][0]["@type"] == "streams"
            # a statement that adds something goes through the gate without consent
            created = structured(await client.call_tool("kafka_ksql", {"sql": create}))
            assert created["executed"] is True and topic in topics_of(admin)
            # a drop needs consent; its effect names the topic the server says DELETE TOPIC deletes
            first = structured(await client.call_tool("kafka_ksql", {"sql": drop}))
            assert first["executed"] is False and topic in first["consent"]["effect"]
            assert topic in topics_of(admin)
            token = first["consent"]["confirmation_token"]
            done = structured(await client.call_tool("kafka_ksql", {"sql": drop, "confirm_token": token}))
            assert done["executed"] is True and "was dropped" in done["results"][0]["commandStatus"]["message"]
            assert wait_gone(admin, topic)

    audit = read_audit(stream_settings)
    mine = [e for e in audit if e["tool"] == "kafka_ksql" and e["action"] == "ksql.execute"]
    assert [(e["resources"], e["decision"], e["error"]) for e in mine] == [
        ([create.rstrip(";")], "allowed", None),
        ([drop.rstrip(";"), topic], "consent_requested", None),
        ([drop.rstrip(";"), topic], "confirmed", None),
    ]
    # the facade's own lines: each change on the real topic, asked for by the facade
    facade_lines = [
        (e["action"], e["decision"]) for e in audit if e["tool"] == "ksql_facade" and topic in e["resources"]
    ]
    assert ("topic.create", "allowed") in facade_lines and ("topic.delete", "standing_consent") in facade_lines


def test_facade_with_allow_drop_on_a_dev_cluster_drops_and_audits(stream_settings: Any, admin: Any) -> None:
    topic, name = unique("facade-drop"), f"D_{unique('d').replace('-', '_').upper()}"
    with serve_facade(stream_settings, allow_drop=True, operator="test operator") as url:
        code, body = post_ksql(
            url, f"CREATE STREAM {name} (a INT) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1);"
        )
        assert code == 200, body
        assert topic in topics_of(admin)
        code, body = post_ksql(url, f"DROP STREAM {name} DELETE TOPIC;")
        assert code == 200, body
        assert "was dropped" in body[0]["commandStatus"]["message"]
        assert wait_gone(admin, topic)
        code, body = post_ksql(url, "SHOW STREAMS;")
        assert name not in {s["name"] for s in body[0]["streams"]}

    audit = [e for e in read_audit(stream_settings) if topic in e["resources"]]
    deleted = [e for e in audit if e["action"] == "topic.delete"]
    assert len(deleted) == 1
    line = deleted[0]
    assert (line["tool"], line["requester"], line["transport"]) == ("ksql_facade", "facade:local", "ksql-facade")
    assert (line["decision"], line["decided_by"], line["error"]) == ("standing_consent", "test operator", None)
    assert line["result"]["deleted"] is True
    assert [e["decision"] for e in audit if e["action"] == "ksql.batch"] == ["allowed", "standing_consent"]


def test_facade_on_an_approve_cluster_waits_for_a_person(
    kafka_cluster: ClusterHandle, data_dir: Path, admin: Any
) -> None:
    import re

    from core.gate import Gate
    from core.gate.approvals import decide

    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, profile="production")
    topic, name = unique("facade-prod"), f"P_{unique('p').replace('-', '_').upper()}"
    create_topic(admin, topic)
    drop = f"DROP STREAM {name} DELETE TOPIC;"
    with serve_facade(settings, allow_drop=True, operator="test operator") as url:
        code, body = post_ksql(url, f"CREATE STREAM {name} (a INT) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');")
        assert code == 200, body

        code, body = post_ksql(url, drop)
        assert code == 400 and body["@type"] == "statement_error", body
        found = re.search(r"kafka-agent approvals approve (apr-[0-9a-f]+)", body["message"])
        assert found, body["message"]
        approval = found.group(1)
        assert f"delete topic '{topic}'" in body["message"]
        # nothing happens until a person approves: the same statement gets the same pending approval
        code, body = post_ksql(url, drop)
        assert code == 400 and approval in body["message"]
        assert topic in topics_of(admin)
        code, body = post_ksql(url, "SHOW STREAMS;")
        assert name in {s["name"] for s in body[0]["streams"]}

        gate = Gate(settings)
        try:
            decide(gate, approval, approve=True, by="test person")
        finally:
            gate.close()
        code, body = post_ksql(url, drop)
        assert code == 200, body
        assert wait_gone(admin, topic)
        # the approval was used once: the next identical drop asks anew (and the stream is gone anyway)
        code, body = post_ksql(url, drop)
        assert code in (400, 404) and "does not exist" in body["message"]

    audit = [e for e in read_audit(settings) if topic in e["resources"]]
    assert [e["decision"] for e in audit if e["action"] == "ksql.batch"] == [
        "approval_requested",
        "approval_requested",
        "approval_granted",
        "approved",
    ]
    deleted = [e for e in audit if e["action"] == "topic.delete"]
    assert [(e["decision"], e["decided_by"], e["requester"], e["error"]) for e in deleted] == [
        ("approved", "test person", "facade:local", None)
    ]
    assert deleted[0]["result"]["deleted"] is True


def test_the_facade_speaks_http2_cleartext(facade: str) -> None:
    import httpx

    with httpx.Client(http1=False, http2=True, timeout=30) as h2:  # prior knowledge, as both PyPI clients connect
        resp = h2.get(f"{facade}/info")
        assert resp.http_version == "HTTP/2" and resp.json()["KsqlServerInfo"]["serverStatus"] == "RUNNING"
    with httpx.Client(timeout=30) as h1:
        assert h1.get(f"{facade}/info").http_version == "HTTP/1.1"


def _without_cert(fn: Any) -> Any:
    def call(*args: Any, cert: Any = None, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return call


def test_the_python_ksqldb_clients_from_pypi(
    facade: str, kafka_cluster: ClusterHandle, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ksql-python-ng (``ksql``) and ``ksqldb``, as their READMEs use them: statements over HTTP/1.1, queries over
    HTTP/2 (/query-stream) and HTTP/1.1 (/query), inserts over HTTP/2 (/inserts-stream), properties, DESCRIBE
    EXTENDED.

    ksql-python-ng 0.29.0.1 passes ``cert=`` to ``httpx.get``/``request``/``stream``, which httpx 0.28 (the version
    this project locks) no longer takes: its statement and HTTP/1.1 calls fail with a TypeError before any request
    is sent, against any server. The test drops that one argument (it is None here); everything else is the client's
    own code. Its HTTP/2 calls do not pass it."""
    import asyncio

    import ksql.api

    for name in ("get", "request", "stream"):
        monkeypatch.setattr(ksql.api.httpx, name, _without_cert(getattr(ksql.api.httpx, name)))
    from ksql import KSQLAPI
    from ksql.utils import get_dependent_queries, get_stream_info
    from ksqldb import KSQLdbClient

    tag = unique("c").replace("-", "_").upper()
    topic, totals_topic = unique("py-clients"), unique("py-totals")
    create_topic(admin, topic)
    ng = KSQLAPI(facade)  # checks the version at /info
    assert ng.get_ksql_version() == "0.29.0"
    ng.create_stream(f"ORDERS_{tag}", ["user_id VARCHAR", "amount INT"], topic)  # the builder's CREATE
    assert f"ORDERS_{tag}" in {s["name"] for s in ng.ksql("SHOW STREAMS;")[0]["streams"]}
    props = {p["name"]: p["value"] for p in ng.get_properties()}
    assert props["ksql.streams.auto.offset.reset"] == "latest"
    create_topic(admin, totals_topic)  # (the sink exists: no topic created by the next statement)

    db = KSQLdbClient(facade)
    created = db.ksql(
        f"CREATE TABLE TOTALS_{tag} WITH (KAFKA_TOPIC='{totals_topic}') AS SELECT user_id, SUM(amount) AS total, "
        f"COUNT(*) AS n FROM ORDERS_{tag} GROUP BY user_id;"
    )
    query_id = created[0]["commandStatus"]["message"].rsplit(" ", 1)[1]
    assert query_id.startswith(f"CTAS_TOTALS_{tag}_")
    read_queries, write_queries = get_dependent_queries(ng, f"TOTALS_{tag}")
    assert (read_queries, write_queries) == ([], [query_id])
    assert get_stream_info(ng, f"ORDERS_{tag}")["readQueries"][0]["id"] == query_id

    # inserts through both clients (HTTP/2 /inserts-stream); each row goes through the gate as a produce
    rows = [{"user_id": f"u{i % 2}", "amount": i} for i in range(6)]
    acks = ng.inserts_stream(f"ORDERS_{tag}", rows[:3])
    assert [a["status"] for a in acks] == ["ok"] * 3
    acks = db.inserts_stream(f"ORDERS_{tag}", rows[3:])
    assert [a["status"] for a in acks] == ["ok"] * 3
    expected = {"u0": [0 + 2 + 4, 3], "u1": [1 + 3 + 5, 3]}
    read_until(
        kafka_cluster.bootstrap_servers,
        totals_topic,
        lambda out: {k: [v["TOTAL"], v["N"]] for k, v in out if v} == expected,
    )

    # a pull query through ksqldb's query_sync (HTTP/2 /query-stream): the header, then the row
    pulled = db.query_sync(f"SELECT user_id, total FROM TOTALS_{tag} WHERE user_id = 'u1';")
    assert pulled[0]["columnNames"] == ["USER_ID", "TOTAL"] and pulled[1:] == [["u1", 9]]

    # a push query through ksqldb's query_async (HTTP/2)
    async def push() -> list[Any]:
        out = []
        async for item in db.query_async(
            f"SELECT user_id, amount FROM ORDERS_{tag} WHERE amount > 2 EMIT CHANGES LIMIT 3;",
            stream_properties={"auto.offset.reset": "earliest"},
            timeout=30,
        ):
            out.append(item)
        return out

    pushed = asyncio.run(push())
    assert pushed[0]["columnNames"] == ["USER_ID", "AMOUNT"] and pushed[1:] == [["u1", 3], ["u0", 4], ["u1", 5]]

    # the same through ksql-python-ng: HTTP/2 (/query-stream, parsed) and HTTP/1.1 (/query, streamed chunks)
    sql = f"SELECT user_id, amount FROM ORDERS_{tag} WHERE amount < 2 EMIT CHANGES LIMIT 2;"
    earliest = {"auto.offset.reset": "earliest"}
    parsed = list(ng.query(sql, use_http2=True, parse=True, stream_properties=earliest))
    assert parsed == [{"USER_ID": "u0", "AMOUNT": 0}, {"USER_ID": "u1", "AMOUNT": 1}]
    chunks = "".join(ng.query(sql, use_http2=False, stream_properties=earliest))
    old_api = json.loads(chunks)
    assert old_api[0]["header"]["schema"] == "`USER_ID` STRING, `AMOUNT` INTEGER"
    assert [item["row"]["columns"] for item in old_api[1:-1]] == [["u0", 0], ["u1", 1]]
    assert "finalMessage" in old_api[-1]
